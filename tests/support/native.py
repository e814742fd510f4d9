"""Decode Native blocks of any protocol revision with clickhouse-connect's own column readers (an
implementation independent of touchpulse.serve.native), for tests of what the read endpoint sends."""

from __future__ import annotations

from touchpulse.serve.native import BLOCK_INFO


class _Source:
    last_message = None
    exception_tag = None

    def __init__(self, data: bytes):
        self.data = data

    @property
    def gen(self):
        yield self.data

    def close(self):
        pass


def decode(data: bytes, revision: int) -> list[tuple]:
    from clickhouse_connect.datatypes.registry import get_from_name
    from clickhouse_connect.driver.ctypes import RespBuffCls
    from clickhouse_connect.driver.exceptions import StreamCompleteException
    from clickhouse_connect.driver.query import QueryContext

    source, ctx, out = RespBuffCls(_Source(data)), QueryContext(), []
    while True:
        try:
            if revision:
                assert bytes(source.read_bytes(8)) == BLOCK_INFO
            columns = source.read_leb128()
        except StreamCompleteException:
            return out
        rows = source.read_leb128()
        values = []
        for _ in range(columns):
            source.read_leb128_str()
            type_name = source.read_leb128_str()
            if revision >= 54454:
                assert source.read_byte() == 0, type_name
            values.append(list(get_from_name(type_name).read_column(source, rows, ctx)) if rows else [])
        out += list(zip(*values))
