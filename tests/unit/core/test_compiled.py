"""The compiled validator (touchpulse/core/compiled.py) against the reference one: whatever the
compiled path accepts, the reference accepts with the same values (same types, same Decimal
digits, UTC datetimes), and every contract-valid event of the usual shapes takes the compiled
path. Documents are valid events with a few fields pushed to, past and around their limits,
serialised the ways producers do (orjson, Python's json with \\u escapes), plus byte-level
tricks where the two JSON parsers could disagree (duplicate keys, broken UTF-8, huge numbers
and deep nesting in ignored fields, escaped characters inside timestamps)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from touchpulse.core import compiled
from touchpulse.core.events import Event, Rejected, parse_event, parse_event_detailed

UTC = timezone.utc
TYPES = ("call", "purchase", "review", "survey", "followup_update")
SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def reference(raw: bytes, expected: str | None) -> Event | Rejected:
    try:
        return parse_event_detailed(raw, expected)
    except Rejected as exc:
        return exc


def assert_same_event(fast: Event, ref: Event) -> None:
    assert fast.type == ref.type
    assert list(fast.values) == list(ref.values)
    for name, want in ref.values.items():
        got = fast.values[name]
        assert type(got) is type(want), (name, got, want)
        assert got == want, (name, got, want)
        if isinstance(want, Decimal):
            assert str(got) == str(want), (name, got, want)  # same digits, not only the same value
        if isinstance(want, datetime):
            assert got.tzinfo is want.tzinfo is UTC, name


def check(raw: bytes, expected: str | None) -> Event | None:
    """The property: compiled accepts => reference accepts the same; parse_event == reference."""
    ref = reference(raw, expected)
    fast = compiled.decode(raw, expected)
    if fast is not None:
        assert isinstance(ref, Event), (raw[:300], ref)
        assert_same_event(fast, ref)
    try:
        public = parse_event(raw, expected)
    except Rejected as exc:
        assert isinstance(ref, Rejected) and exc.reason == ref.reason and exc.field == ref.field
    else:
        assert isinstance(ref, Event), ref
        assert_same_event(public, ref)
    return fast


# --- documents ------------------------------------------------------------------------------------------

digits = "0123456789"
moments = st.datetimes(min_value=datetime(1899, 12, 29), max_value=datetime(2300, 1, 3))


@st.composite
def timestamps(draw) -> str:
    """Every spelling the reference or msgspec might read: separators, 0-12 fraction digits,
    Z/z, +hh:mm, +hhmm, +hh, none; dates at the ends of the range and impossible ones."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([
            "2024-02-30T10:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T10:60:00Z", "2024-05-01T10:00:60Z",
            "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
            "2024-05-01T10:00:00+24:00", "2024-05-01T10:00:00+05:60", "2024-05-01T10:00Z", "2024-05-01",
            "2024-05-01T10:00:00.Z", "20240501T100000Z", "2024-05-01T10:00:00,5Z", "2024-W18-3T10:00:00Z",
            "2024-05-01T10:00:00\uff3a", "\u0662\u0660\u0662\u0664-05-01T10:00:00Z", "2024-05-01T10:00:00Z\n",
            "2024-05-01T10:00:00.1+02Z", "2024-05-01T10:00:00.9999995Z", "2299-12-31T23:59:59.9999999Z",
        ]))
    moment = draw(moments)
    text = moment.strftime("%Y-%m-%d") + draw(st.sampled_from("TTTt _")) + moment.strftime("%H:%M:%S")
    ndigits = draw(st.sampled_from([0, 0, 3, 6]) | st.integers(0, 12))
    if ndigits:
        text += "." + draw(st.text(digits, min_size=ndigits, max_size=ndigits))
    minutes = draw(st.sampled_from([0, 0, 0, 180, -330, 14 * 60, -12 * 60]) | st.integers(-1439, 1439))
    sign = "+" if minutes >= 0 and not draw(st.integers(0, 5)) == 0 else "-"
    hh, mm = abs(minutes) // 60, abs(minutes) % 60
    offset = draw(st.sampled_from(["Z", "Z", "z", f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}:{mm:02d}",
                                   f"{sign}{hh:02d}{mm:02d}", f"{sign}{hh:02d}", ""]))
    return text + offset


texts = st.text(max_size=12) | st.sampled_from(["", "x", "\x00", "a\x00b", "ü" * 128, "😀" * 64, "x" * 129,
                                                   "x" * 257, "s" * 64, "s" * 65])
slugs = st.from_regex(r"\A[a-z][a-z0-9_]{0,63}\Z") | st.sampled_from(["", "A", "a" * 65, "a-b", "_a", "a\n"])
big_ints = st.sampled_from([2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 10**20 - 1, 10**20,
                            -(2**63), -(2**63) - 1, 10**30])
numbers = (st.integers(-10, 20) | big_ints | st.floats(allow_nan=False, allow_infinity=False)
           | st.sampled_from([0.0, -0.0, 7.0, 1e-7, 1.5e-5, 0.1, 28.63, 1e16, 1e20, 9.999999999999998e19, 1e9,
                              1e9 + 1, 0.1234567, 19.99]))
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
amount_texts = (st.from_regex(r"\A-?[0-9]{0,22}(\.[0-9]{0,8})?\Z")
                | st.sampled_from(["19.99", "0", "1e3", " 1", "1.", ".5", "\u0661", "+1", "00012.5"]))
number_tokens = st.from_regex(r"\A-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,9})?([eE][+-]?[0-9]{1,3})?\Z")

FIELD_VALUES = {
    "event_id": texts, "customer_id": texts, "source": texts, "call_id": texts, "order_id": texts,
    "review_id": texts, "response_id": texts, "agent_id": texts, "interaction_id": texts,
    "text": texts | st.sampled_from(["x" * 10_000, "x" * 10_001]), "comment": texts,
    "type": st.sampled_from([*TYPES, "CALL", "followup", 1]), "version": st.sampled_from([1, 1.0, True, "1", 2, 0]),
    "touchpoint": slugs, "platform": slugs, "brand": slugs,
    "occurred_at": timestamps(), "queued_at": timestamps(), "answered_at": timestamps(), "ended_at": timestamps(),
    "posted_at": timestamps(), "replied_at": timestamps(),
    "direction": st.sampled_from(["inbound", "outbound", "INBOUND", ""]),
    "status": st.sampled_from(["completed", "refunded", "cancelled"]),
    "kind": st.sampled_from(["transactional", "relationship", "nps"]),
    "hold_seconds": numbers, "wrap_seconds": numbers, "item_count": numbers, "rating": numbers, "score": numbers,
    "amount": numbers | amount_texts, "currency": st.sampled_from(["EUR", "USD", "eur", "EU", "EURO", "ЕВР", "E1R"]),
    "attributes": st.dictionaries(texts, texts, max_size=34) | json_values,
    "followup_id": texts, "owner": texts, "note": texts | st.sampled_from(["x" * 10_000, "x" * 10_001]),
    "status": st.sampled_from(["assigned", "contacted", "closed", "closed", "CLOSED", "", 1]),
    "resolution": st.sampled_from(["resolved", "unresolved", "unreachable", "fixed", ""]),
}
TYPE_FIELDS = {
    "call": ("call_id", "direction", "queued_at", "answered_at", "ended_at", "hold_seconds", "wrap_seconds",
             "agent_id"),
    "purchase": ("order_id", "amount", "currency", "item_count", "status"),
    "review": ("review_id", "platform", "rating", "posted_at", "replied_at", "text"),
    "survey": ("response_id", "score", "kind", "brand", "interaction_id", "comment"),
    "followup_update": ("followup_id", "status", "resolution", "owner", "note"),
}
ENVELOPE = ("event_id", "type", "version", "occurred_at", "touchpoint", "customer_id", "attributes", "source")


def base(etype: str, t0: datetime) -> dict:
    """A valid event of `etype` at t0 (UTC, whole milliseconds, as most producers send)."""
    ts = lambda dt: dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # noqa: E731
    doc = {"event_id": "evt-1", "type": etype, "version": 1, "occurred_at": ts(t0), "touchpoint": "call_centre",
           "customer_id": "cus-1", "attributes": {"region": "north"}, "source": "test"}
    if etype == "call":
        doc.update(call_id="call-1", direction="inbound", queued_at=ts(t0 - timedelta(minutes=3)),
                   answered_at=ts(t0 - timedelta(minutes=2)), ended_at=ts(t0), hold_seconds=1.5, wrap_seconds=3,
                   agent_id="agent-1")
    elif etype == "purchase":
        doc.update(order_id="ord-1", amount=28.63, currency="EUR", item_count=2, status="completed")
    elif etype == "review":
        doc.update(review_id="rev-1", platform="google_maps", rating=4, posted_at=ts(t0 - timedelta(hours=1)),
                   replied_at=ts(t0), text="fine")
    elif etype == "survey":
        doc.update(response_id="srv-1", score=6, kind="transactional", brand="own", interaction_id="call-1",
                   comment="slow")
    else:
        doc.update(followup_id="fu-1", status="closed", resolution="unreachable", owner="anna",
                   note="no answer three times")
    return doc


@st.composite
def documents(draw) -> tuple[bytes, str | None]:
    """(raw message, topic type): a valid event with 0-4 fields changed, dropped or nulled, maybe
    unknown fields, serialised with orjson or Python's json (which escapes non-ASCII)."""
    etype = draw(st.sampled_from(TYPES))
    doc = base(etype, draw(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30),
                                        timezones=st.just(UTC))).replace(microsecond=0))
    names = ENVELOPE + TYPE_FIELDS[etype]
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(names))
        action = draw(st.integers(0, 9))
        if action == 0:
            doc.pop(name, None)
        elif action == 1:
            doc[name] = None
        else:
            doc[name] = draw(FIELD_VALUES[name])
    if draw(st.integers(0, 3)) == 0:
        doc[draw(st.text(max_size=8).filter(lambda k: k not in names))] = draw(json_values)
    number = draw(number_tokens) if draw(st.integers(0, 4)) == 0 else None
    if number is not None:  # a number token as written, into amount or a seconds field
        doc[draw(st.sampled_from(["amount", "hold_seconds", "score", "version", "zz_extra"]))] = "__NUMBER__"
    raw = orjson.dumps(doc) if draw(st.booleans()) and _fits_orjson(doc) else None
    if raw is None:
        raw = json.dumps(doc, ensure_ascii=draw(st.booleans()), allow_nan=False).encode("utf-8", "surrogatepass")
    if number is not None:
        raw = raw.replace(b'"__NUMBER__"', number.encode())
    expected = draw(st.sampled_from([etype, etype, None, *TYPES]))
    return raw, expected


def _fits_orjson(doc: dict) -> bool:
    try:
        orjson.dumps(doc)
        return True
    except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
        return False


@st.composite
def byte_tricks(draw) -> tuple[bytes, str | None]:
    """Where orjson and msgspec could part ways on the same bytes."""
    raw, expected = draw(documents())
    trick = draw(st.sampled_from(["dup_first", "dup_last", "bad_utf8_extra", "huge_extra", "deep_extra",
                                  "escape_ts", "nul_escape", "bom", "space"]))
    if trick in ("dup_first", "dup_last"):
        name = draw(st.sampled_from(ENVELOPE + tuple(f for v in TYPE_FIELDS.values() for f in v)))
        value = json.dumps(draw(FIELD_VALUES[name]), allow_nan=False).encode("utf-8", "surrogatepass")
        pair = f'"{name}":'.encode() + value
        raw = (b"{" + pair + b"," + raw[1:]) if trick == "dup_first" else (raw[:-1] + b"," + pair + b"}")
    elif trick == "bad_utf8_extra":
        raw = raw[:-1] + b',"zz":"' + draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80",
                                                               b"\xf4\x90\x80\x80"])) + b'"}'
    elif trick == "huge_extra":
        raw = raw[:-1] + b',"zz":' + draw(st.sampled_from([b"1e999", b"-1e999", b"18446744073709551616",
                                                          b"1" * 400])) + b"}"
    elif trick == "deep_extra":
        depth = draw(st.sampled_from([500, 1000, 1023, 1024, 1025, 3000]))
        raw = raw[:-1] + b',"zz":' + b"[" * depth + b"]" * depth + b"}"
    elif trick == "escape_ts":
        # Spell one character of a timestamp as \u00XX: the same text to both parsers.
        at = raw.find(b'T', raw.find(b'_at":"'))
        if at > 0:
            ch = draw(st.sampled_from([b"T", b":", b"0", b"Z"]))
            pos = raw.find(ch, at)
            if pos > 0:
                raw = raw[:pos] + b"\\u%04x" % raw[pos] + raw[pos + 1:]
    elif trick == "nul_escape":
        raw = raw.replace(b'"evt-1"', b'"evt\\u0000-1"')
    elif trick == "bom":
        raw = b"\xef\xbb\xbf" + raw
    else:
        raw = b" \n\t" + raw + b"\r\n "
    return raw, expected


# --- properties -----------------------------------------------------------------------------------------

@SETTINGS
@given(documents())
def test_compiled_path_agrees_with_the_reference(doc):
    check(*doc)


@SETTINGS
@given(byte_tricks())
def test_compiled_path_agrees_where_the_json_parsers_could_differ(doc):
    check(*doc)


@SETTINGS
@given(numbers | amount_texts | number_tokens.map(lambda token: ("__token__", token)), st.booleans())
def test_amounts(amount, on_topic):
    doc = base("purchase", datetime(2024, 5, 1, tzinfo=UTC))
    if isinstance(amount, tuple):  # a number token exactly as written
        doc["amount"] = "__NUMBER__"
        raw = orjson.dumps(doc).replace(b'"__NUMBER__"', amount[1].encode())
    else:
        doc["amount"] = amount
        raw = json.dumps(doc).encode()
    check(raw, "purchase" if on_topic else None)


TIMESTAMP_FIELDS = {"call": ("occurred_at", "queued_at", "answered_at", "ended_at"), "purchase": ("occurred_at",),
                    "review": ("occurred_at", "posted_at", "replied_at"), "survey": ("occurred_at",),
                    "followup_update": ("occurred_at",)}


@SETTINGS
@given(st.sampled_from([(t, f) for t, fields in TIMESTAMP_FIELDS.items() for f in fields]), timestamps(),
       st.booleans())
def test_timestamps(field, text, escaped):
    etype, name = field
    doc = base(etype, datetime(2024, 5, 1, tzinfo=UTC))
    doc[name] = text
    check(json.dumps(doc, ensure_ascii=escaped).encode(), etype)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TYPES), st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30),
                                            timezones=st.just(UTC)),
       st.sampled_from(["Z", "+00:00", "-00:00", "+03:00", "-05:30"]), st.sampled_from([0, 3, 6]),
       st.booleans(), st.booleans())
def test_valid_events_of_the_usual_shapes_take_the_compiled_path(etype, t0, zone, ndigits, unknown, on_topic):
    """Not a correctness property but the point of the module: no valid event of the shapes
    producers send (offsets, 0-6 fraction digits, nulls, extra fields) is left to the reference."""
    doc = base(etype, t0)
    offset = timedelta(0) if zone in ("Z", "+00:00", "-00:00") else \
        (1 if zone[0] == "+" else -1) * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:]))
    for name in ("occurred_at", "queued_at", "answered_at", "ended_at", "posted_at", "replied_at"):
        if name in doc:
            local = datetime.fromisoformat(doc[name].replace("Z", "+00:00")).astimezone(timezone(offset))
            text = local.strftime("%Y-%m-%dT%H:%M:%S") + (f".{local.microsecond:06d}"[:ndigits + 1] if ndigits else "")
            doc[name] = text + ("Z" if zone == "Z" else zone)
    if unknown:
        doc["future_field"] = {"nested": [1, 2.5, None, "ü"]}
    raw = orjson.dumps(doc)
    fast = check(raw, etype if on_topic else None)
    assert fast is not None, raw


@pytest.mark.parametrize("raw", [
    b'{"type":"survey","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00Z","touchpoint":"web",'
    b'"response_id":"r","score":3,"zz":"\xff"}',
    b'{"type":"survey","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00Z","touchpoint":"web",'
    b'"response_id":"r","score":3,"zz":1e999}',
    b'{"type":"survey","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00.9999999Z","touchpoint":"web",'
    b'"response_id":"r","score":3}',
    b'{"type":"survey","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00.1234567890Z",'
    b'"touchpoint":"web","response_id":"r","score":3}',
    b'{"type":"survey","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00+0300","touchpoint":"web",'
    b'"response_id":"r","score":3}',
    b'{"type":"purchase","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00Z","touchpoint":"web",'
    b'"order_id":"o","amount":18446744073709551617,"currency":"EUR"}',
    b'{"type":"survey","event_id":"e\\u0000","version":1,"occurred_at":"2024-05-01T10:00:00Z","touchpoint":"web",'
    b'"response_id":"r","score":3}',
    b'{"type":"survey","event_id":"e","version":1,"occurred_at":"2024-05-01T10:00:00Z","touchpoint":"web",'
    b'"response_id":"r","score":3,"type":"call"}',
])
def test_where_msgspec_alone_would_differ_the_reference_decides(raw):
    """Each of these reads differently in msgspec and orjson/the reference (see the module
    docstring); the compiled path must not vouch for any of them."""
    assert compiled.decode(raw, None) is None
    check(raw, None)
