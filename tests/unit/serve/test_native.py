"""Native re-framed for a client's protocol revision, checked by decoding it with clickhouse-connect's own
column readers (an implementation independent of ours): a column length computed wrong would put the block
info or the serialization flag in the middle of some column and break the decode."""

from __future__ import annotations

import pytest

from tests.support.native import decode
from touchpulse.serve.native import Unsupported, parse_type, reframe

WIDE = """
SELECT number AS n, toUInt8(number) AS u8, toInt16(-number) AS i16, toUInt128(number) AS u128,
    toInt256(number) AS i256, number / 3 AS f64, toFloat32(number) AS f32, number % 2 = 0 AS b,
    toDate('2026-01-01') + number AS d, toDate32('1960-01-01') + number AS d32,
    toDateTime(1700000000 + number, 'UTC') AS dt, toDateTime64(1700000000.123 + number, 3, 'Europe/Moscow') AS dt64,
    toDecimal32(number, 2) AS dec9, toDecimal64(number, 4) AS dec18, toDecimal128(number, 10) AS dec38,
    toDecimal256(number, 20) AS dec76, generateUUIDv4(number) AS uuid, toIPv4(number) AS ip4,
    toIPv6('::1') AS ip6, CAST(number % 2 + 1 AS Enum8('a' = 1, 'b' = 2)) AS e8,
    CAST(1 AS Enum16('x' = 1)) AS e16, toFixedString('abc', 3) AS fs, toString(number) AS s,
    if(number % 3 = 0, NULL, toString(number)) AS ns, NULL AS nothing,
    [number, NULL] AS arr, [['a'], [], ['b', 'c']] AS arr2, map('k', [toUInt8(number)]) AS m,
    CAST((number, 'x'), 'Tuple(a UInt64, b String)') AS named, (1, (2.5, 'z')) AS nested,
    toLowCardinality(toString(number % 7)) AS lc, toLowCardinality(if(number % 2 = 0, NULL, 'odd')) AS lcn,
    [toLowCardinality('p'), toLowCardinality('q')] AS lca, (1.5, 2.5)::Point AS point,
    [(0., 0.), (1., 1.)]::Ring AS ring
FROM numbers({rows:UInt64})
SETTINGS max_block_size = 700
"""


@pytest.fixture(scope="module")
def conn(chdb_path, chdb_client):
    from chdb import _chdb
    c = _chdb.connect(str(chdb_path))
    yield c
    c.close()


@pytest.mark.parametrize("rows", [1, 2500])
@pytest.mark.parametrize("revision", [54405, 54460])
def test_every_type_the_views_use_survives_reframing(conn, rows, revision):
    raw = conn.query(WIDE, "Native", params={"rows": str(rows)}).bytes()
    expected = decode(raw, 0)
    assert len(expected) == rows
    framed = reframe(raw, revision)
    assert decode(framed, revision) == expected
    blocks = (rows + 699) // 700
    columns = len(expected[0])
    assert len(framed) == len(raw) + blocks * 8 + (blocks * columns if revision >= 54454 else 0)


def test_no_revision_leaves_the_bytes_alone(conn):
    raw = conn.query("SELECT 1 AS x", "Native").bytes()
    assert reframe(raw, 0) == raw
    assert reframe(b"", 54460) == b""


def test_the_probe_clickhouse_connect_sends_is_answered_as_a_server_would(conn):
    """It enables the protocol only if bytes 8..16 of `SELECT 1 AS check` are these."""
    framed = reframe(conn.query("SELECT 1 AS check", "Native").bytes(), 54405)
    assert framed[8:16] == b"\x01\x01\x05check"


def test_types_without_a_known_layout_are_refused_not_garbled(conn):
    raw = conn.query("SELECT '{\"a\": 1}'::JSON AS j", "Native").bytes()
    with pytest.raises(Unsupported) as info:
        reframe(raw, 54460)
    assert info.value.code == 48 and "JSON" in info.value.message


def test_type_names_parse_with_nesting_quotes_and_names():
    assert parse_type("Map(String, Array(Nullable(UInt8)))") == ("Map", ("String", "Array(Nullable(UInt8))"))
    assert parse_type("DateTime64(3, 'Europe/Moscow')") == ("DateTime64", ("3", "'Europe/Moscow'"))
    assert parse_type("Enum8('a,b' = 1, 'c)' = 2)")[1] == ("'a,b' = 1", "'c)' = 2")
    assert parse_type("Point") == ("Tuple", ("Float64", "Float64"))
