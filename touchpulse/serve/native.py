"""Native blocks the way a client that sends `client_protocol_version` reads them.

Over HTTP, ClickHouse writes Native for the protocol revision the client names: from revision 1 each
block starts with a block-info header (8 bytes), and from 54454 each column carries a "custom
serialization" flag after its type. clickhouse-go (so the Grafana plugin) always names its revision
and parses blocks that way; clickhouse-connect probes for it. chDB writes revision-0 Native (neither),
so the blocks are re-framed here: the column data bytes are copied untouched, which needs only
their length, found by walking each column's type.
"""

from __future__ import annotations

import struct

from touchpulse.serve.protocol import NOT_IMPLEMENTED, ClickHouseError

WITH_BLOCK_INFO = 1
WITH_CUSTOM_SERIALIZATION = 54454
BLOCK_INFO = b"\x01\x00\x02\xff\xff\xff\xff\x00"  # is_overflows = false, bucket_num = -1, end

_FIXED = {
    "UInt8": 1, "Int8": 1, "Bool": 1, "Enum8": 1, "Nothing": 1,
    "UInt16": 2, "Int16": 2, "Enum16": 2, "Date": 2, "BFloat16": 2,
    "UInt32": 4, "Int32": 4, "Float32": 4, "Date32": 4, "DateTime": 4, "IPv4": 4, "Decimal32": 4, "Time": 4,
    "UInt64": 8, "Int64": 8, "Float64": 8, "DateTime64": 8, "Decimal64": 8, "Time64": 8,
    "UInt128": 16, "Int128": 16, "UUID": 16, "IPv6": 16, "Decimal128": 16,
    "UInt256": 32, "Int256": 32, "Decimal256": 32,
}
_ALIASES = {"Point": "Tuple(Float64, Float64)", "Ring": "Array(Point)", "LineString": "Array(Point)",
            "Polygon": "Array(Ring)", "MultiLineString": "Array(Ring)", "MultiPolygon": "Array(Polygon)"}


class Unsupported(ClickHouseError):
    def __init__(self, type_name: str):
        super().__init__(NOT_IMPLEMENTED, "NOT_IMPLEMENTED",
                         f"A column of type {type_name} cannot be sent as Native for client_protocol_version by "
                         "touchpulse's read endpoint: CAST it, or use another format")


def reframe(data: bytes, revision: int) -> bytes:
    """Revision-0 Native blocks, re-framed for `revision`."""
    if revision < WITH_BLOCK_INFO:
        return data
    out = bytearray()
    view = memoryview(data)
    pos = 0
    while pos < len(data):
        out += BLOCK_INFO
        start = pos
        columns, pos = _varuint(view, pos)
        rows, pos = _varuint(view, pos)
        out += view[start:pos]
        for _ in range(columns):
            start = pos
            length, pos = _varuint(view, pos)
            pos += length  # name
            length, pos = _varuint(view, pos)
            type_name = bytes(view[pos:pos + length]).decode()
            pos += length
            out += view[start:pos]
            if revision >= WITH_CUSTOM_SERIALIZATION:
                out += b"\x00"
            start = pos
            if rows:
                pos = skip(view, pos, parse_type(type_name), rows)
            out += view[start:pos]
    if pos != len(data):
        raise ValueError("Native data ended inside a block")
    return bytes(out)


def _varuint(view, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = view[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


Type = tuple  # (name, args): args are Types, or strings for parameters that are not types


def parse_type(text: str) -> Type:
    text = text.strip()
    if text in _ALIASES:
        return parse_type(_ALIASES[text])
    if "(" not in text:
        return (text, ())
    name, inner = text.split("(", 1)
    if not inner.endswith(")"):
        raise ValueError(f"cannot read type {text!r}")
    return (name.strip(), tuple(_split_args(inner[:-1])))


def _split_args(text: str) -> list[str]:
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'`\"":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
        i += 1
    parts.append(text[start:].strip())
    return parts


def _element(arg: str) -> Type:
    """A Tuple element: `Type` or `name Type` (the name may be quoted)."""
    arg = arg.strip()
    if arg[:1] in "`\"":
        end = arg.index(arg[0], 1)
        return parse_type(arg[end + 1:])
    head = arg.split("(", 1)[0]
    if " " in head.strip():
        return parse_type(arg.split(None, 1)[1])
    return parse_type(arg)


def skip(view, pos: int, t: Type, rows: int) -> int:
    """Position after `rows` values of type `t` in Native (revision 0) bulk serialization."""
    name, args = t
    if name in _FIXED:
        return pos + rows * _FIXED[name]
    if name.startswith("Interval"):
        return pos + rows * 8
    if name == "Decimal":
        precision = int(args[0])
        return pos + rows * (4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32)
    if name == "FixedString":
        return pos + rows * int(args[0])
    if name == "String":
        for _ in range(rows):
            length, pos = _varuint(view, pos)
            pos += length
        return pos
    if name == "Nullable":
        return skip(view, pos + rows, parse_type(args[0]), rows)
    if name in ("Array", "Map", "Nested"):
        total = struct.unpack_from("<Q", view, pos + 8 * (rows - 1))[0] if rows else 0
        pos += 8 * rows
        if name == "Array":
            return skip(view, pos, parse_type(args[0]), total)
        elements = args if name == "Nested" else [args[0], args[1]]
        return _tuple(view, pos, [_element(a) for a in elements], total)
    if name == "Tuple":
        return _tuple(view, pos, [_element(a) for a in args], rows)
    if name == "SimpleAggregateFunction":
        return skip(view, pos, parse_type(args[-1]), rows)
    if name == "LowCardinality":
        return _low_cardinality(view, pos, parse_type(args[0]), rows)
    raise Unsupported(_render(t))


def _tuple(view, pos: int, elements: list[Type], rows: int) -> int:
    for element in elements:
        pos = skip(view, pos, element, rows)
    return pos


def _low_cardinality(view, pos: int, inner: Type, rows: int) -> int:
    dictionary_type = parse_type(inner[1][0]) if inner[0] == "Nullable" else inner
    pos += 8  # key serialization version
    done = 0
    while done < rows:
        flags = struct.unpack_from("<Q", view, pos)[0]
        pos += 8
        if flags & (1 << 8):  # a shared global dictionary: never written in Native over HTTP
            raise Unsupported("LowCardinality with a global dictionary")
        if flags & (1 << 9):  # the granule brings its own keys
            keys = struct.unpack_from("<Q", view, pos)[0]
            pos = skip(view, pos + 8, dictionary_type, keys)
        count = struct.unpack_from("<Q", view, pos)[0]
        pos += 8 + count * (1, 2, 4, 8)[flags & 0xFF]
        done += count
    return pos


def _render(t: Type) -> str:
    name, args = t
    return name if not args else f"{name}({', '.join(str(a) for a in args)})"
