"""Hostile input against the validation path (issue "Nothing lost, nothing doubled", item 5).

Properties, whatever the bytes:
- `parse_event` returns an `Event` or raises `Rejected` with a non-empty, UTF-8-encodable reason
  naming the field it is about; never any other exception, never a hang;
- anything it accepts satisfies every rule of the event contract (an oracle written from the
  contract, not from the validator), and every contract-valid event is accepted unchanged;
- `process_batch` never raises and puts each message in exactly one of accepted / dead letters.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from touchpulse.core.events import MAX_MESSAGE_BYTES, Event, Rejected, parse_event
from touchpulse.core.touchpoints import load_registry
from touchpulse.streams.batch import Message, process_batch

pytestmark = pytest.mark.timeout(120)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.data_too_large])
UTC = timezone.utc
TYPES = ("call", "purchase", "review", "survey", "followup_update")
TOPICS = {f"touchpulse.{t}s": t for t in TYPES}
REGISTRY = load_registry()
SLUG = re.compile(r"[a-z][a-z0-9_]{0,63}")
ENVELOPE_FIELDS = ("event_id", "type", "version", "occurred_at", "touchpoint", "customer_id", "attributes", "source")
TYPE_FIELDS = {
    "call": ("call_id", "direction", "queued_at", "answered_at", "ended_at", "hold_seconds", "wrap_seconds",
             "agent_id"),
    "purchase": ("order_id", "amount", "currency", "item_count", "status"),
    "review": ("review_id", "platform", "rating", "posted_at", "replied_at", "text"),
    "survey": ("response_id", "score", "kind", "brand", "interaction_id", "comment"),
    "followup_update": ("followup_id", "status", "resolution", "owner", "note"),
}
# A broken value in one field may surface as a time-order error on its partner field.
ALSO_BLAMED = {"queued_at": {"ended_at"}, "answered_at": {"ended_at"}, "posted_at": {"replied_at"},
               "status": {"resolution"}}


# --- the two outcomes -----------------------------------------------------------------------------------

def outcome(raw: bytes, expected_type: str | None = None) -> Event | Rejected:
    """Run the validator; anything but an Event or a well-formed Rejected fails the test."""
    try:
        return parse_event(raw, expected_type)
    except Rejected as exc:
        assert isinstance(exc.reason, str) and exc.reason.strip(), repr(exc)
        exc.reason.encode("utf-8")  # it is written to the dead-letter topic
        if exc.field is not None:
            assert exc.field and exc.reason.startswith(f"field '{exc.field}': "), exc.reason
        return exc


def check_contract(ev: Event, doc: object, expected_type: str | None) -> None:
    """The contract's rules, restated independently of the validator, on an accepted event."""
    assert isinstance(doc, dict)
    v = ev.values
    assert ev.type in TYPES and doc["type"] == ev.type
    assert expected_type in (None, ev.type)
    assert type(doc["version"]) is int and doc["version"] == 1

    def text(name, low, high, required=False):
        assert isinstance(v[name], str)
        if required or doc.get(name) is not None:
            assert v[name] == doc[name] and low <= len(v[name]) <= high, (name, v[name])
        else:
            assert v[name] == ""

    def ts(name, optional=False):
        if optional and doc.get(name) is None:
            assert v[name] is None
            return
        assert isinstance(doc[name], str) and re.search(r"([Zz]|[+-]\d\d:\d\d)$", doc[name]), doc[name]
        assert isinstance(v[name], datetime) and v[name].utcoffset() == timedelta(0)

    def slug(name):
        assert SLUG.fullmatch(v[name]) and v[name] == doc[name]

    def integer(name, low, high, default=None):
        if doc.get(name) is None:
            assert v[name] == default
        else:
            assert type(doc[name]) is int and low <= doc[name] <= high and v[name] == doc[name]

    def choice(name, allowed, default):
        assert v[name] == (default if doc.get(name) is None else doc[name]) and v[name] in allowed

    text("event_id", 1, 128, required=True)
    ts("occurred_at")
    slug("touchpoint")
    text("customer_id", 1, 128)
    text("source", 1, 64)
    attrs = doc.get("attributes")
    if attrs is None:
        assert v["attributes"] == {}
    else:
        assert isinstance(attrs, dict) and len(attrs) <= 32 and v["attributes"] == attrs
        assert all(isinstance(k, str) and isinstance(x, str) for k, x in attrs.items())
    if ev.type == "call":
        text("call_id", 1, 10**9, required=True)
        choice("direction", ("inbound", "outbound"), "inbound")
        ts("queued_at"), ts("answered_at", optional=True), ts("ended_at")
        assert v["ended_at"] >= v["queued_at"]
        assert v["answered_at"] is None or v["ended_at"] >= v["answered_at"]
        for name in ("hold_seconds", "wrap_seconds"):
            raw = doc.get(name)
            assert v[name] == (0 if raw is None else raw)
            assert raw is None or (type(raw) in (int, float) and math.isfinite(raw) and raw >= 0)
        text("agent_id", 1, 10**9)
    elif ev.type == "purchase":
        text("order_id", 1, 10**9, required=True)
        raw = doc["amount"]
        assert type(raw) in (int, float, str)
        assert isinstance(v["amount"], Decimal) and v["amount"] >= 0 and v["amount"] == Decimal(str(raw))
        assert isinstance(doc["currency"], str) and re.fullmatch(r"[A-Z]{3}", doc["currency"])
        integer("item_count", 1, 2**63, default=1)
        choice("status", ("completed", "refunded"), "completed")
    elif ev.type == "review":
        text("review_id", 1, 10**9, required=True)
        slug("platform")
        integer("rating", 1, 5)
        ts("posted_at"), ts("replied_at", optional=True)
        assert v["replied_at"] is None or v["replied_at"] >= v["posted_at"]
        text("text", 0, 10_000)
    elif ev.type == "followup_update":
        text("followup_id", 1, 256, required=True)
        assert v["status"] == doc["status"] and v["status"] in ("assigned", "contacted", "closed")
        if v["status"] == "closed":
            choice("resolution", ("resolved", "unresolved", "unreachable"), "resolved")
        else:
            assert doc.get("resolution") is None and v["resolution"] == ""
        text("owner", 1, 128)
        text("note", 0, 10_000)
    else:
        text("response_id", 1, 10**9, required=True)
        integer("score", 0, 10)
        choice("kind", ("transactional", "relationship"), "transactional")
        if doc.get("brand") is None:
            assert v["brand"] == "own"
        else:
            slug("brand")
        text("interaction_id", 1, 10**9)
        text("comment", 0, 10_000)


def judged(raw: bytes, expected_type: str | None = None) -> Event | Rejected:
    result = outcome(raw, expected_type)
    if isinstance(result, Event):
        assert len(raw) <= MAX_MESSAGE_BYTES
        check_contract(result, orjson.loads(raw), expected_type)
    return result


# --- strategies -----------------------------------------------------------------------------------------

@st.composite
def timestamp_like(draw) -> str:
    """Mostly well-formed RFC 3339 text with every part pushed to and past its limits."""
    if draw(st.booleans()):
        return draw(boundary_timestamp())
    def part(valid_low, valid_high, hostile_high):
        return draw(st.sampled_from([valid_low, valid_high]) | st.integers(valid_low, valid_high)
                    | st.integers(0, hostile_high))
    year = draw(st.sampled_from([0, 1, 1899, 1900, 1970, 2024, 2299, 2300, 9999]) | st.integers(0, 9999))
    sep = draw(st.sampled_from("TTTt _"))
    frac = draw(st.sampled_from(["", "", "."]) | st.text("0123456789", min_size=1, max_size=12).map(lambda d: "." + d))
    offset = draw(st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+14:00", "-12:00", "+23:59", "-23:59"])
                  | st.builds(lambda sign, hh, mm: f"{sign}{hh:02d}:{mm:02d}", st.sampled_from("+-"),
                              st.integers(0, 29), st.integers(0, 69)))
    return (f"{year:04d}-{part(1, 12, 19):02d}-{part(1, 31, 39):02d}{sep}"
            f"{part(0, 23, 29):02d}:{part(0, 59, 69):02d}:{part(0, 59, 69):02d}{frac}{offset}")


# Instants at the edges of what datetime and ClickHouse DateTime64 can hold.
ANCHORS = [datetime(1, 1, 1), datetime(1899, 12, 31, 23, 59, 59, 999999), datetime(1900, 1, 1),
           datetime(2299, 12, 31, 23, 59, 59, 999999), datetime(2300, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)]


@st.composite
def boundary_timestamp(draw) -> str:
    """Local wall time within 3 days of an edge, with any offset up to +-23:59."""
    local = draw(st.sampled_from(ANCHORS))
    try:
        local += draw(st.timedeltas(-timedelta(days=3), timedelta(days=3)))
    except OverflowError:
        pass
    minutes = draw(st.sampled_from([0, 60, -60, 14 * 60, -12 * 60]) | st.integers(-1439, 1439))
    sign = "+" if minutes >= 0 else "-"
    return local.isoformat(timespec="microseconds") + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


json_scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
                | st.sampled_from(["", "0", "1", "7", "-1", "1e3", "2024-05-01T10:00:00", "2024-05-01T10:00:00Z",
                                   "2024-05-01T10:00:00+03:00", "USD", "inbound", "survey", "call_centre", "\x00",
                                   "x" * 129, "x" * 10_001, "0001-01-01T00:00:00+01:00"]) | timestamp_like())
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=6)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=6), max_leaves=30)
# NUL is refused by the validator although the contract does not say so (reported as an ambiguity).
chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
safe_text = st.text(alphabet=chars, min_size=1, max_size=128)
slugs = st.from_regex(r"\A[a-z][a-z0-9_]{0,63}\Z")
offsets = st.sampled_from([timedelta(0), timedelta(hours=3), timedelta(hours=-5, minutes=-30),
                           timedelta(hours=14), timedelta(hours=-12)])


@st.composite
def rfc3339(draw, moment: datetime) -> str:
    """Any accepted spelling of one instant: zone, separator, 0-9 fraction digits, Z or offset."""
    off = draw(offsets)
    local = moment.astimezone(timezone(off))
    sep = draw(st.sampled_from("Tt "))
    digits = draw(st.integers(0 if moment.microsecond == 0 else 6, 9))
    frac = f"{local.microsecond:06d}" + "0" * 3
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + ("." + frac[:digits] if digits else "")
    if off == timedelta(0) and draw(st.booleans()):
        return text + draw(st.sampled_from("Zz"))
    total = int(off.total_seconds()) // 60
    return text + f"{'+' if total >= 0 else '-'}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


TIMESTAMP_FIELDS = ("occurred_at", "queued_at", "answered_at", "ended_at", "posted_at", "replied_at")
moments = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30),
                       timezones=st.just(UTC))
gaps = st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=3))


@st.composite
def valid_docs(draw, etype: str | None = None) -> tuple[dict, dict]:
    """A contract-valid event and the values it must normalise to."""
    etype = etype or draw(st.sampled_from(TYPES))
    occurred = draw(moments)
    doc = {"event_id": draw(safe_text), "type": etype, "version": 1, "occurred_at": draw(rfc3339(occurred)),
           "touchpoint": draw(slugs)}
    want = {"occurred_at": occurred}
    for name, strat in (("customer_id", safe_text), ("source", safe_text.filter(lambda s: len(s) <= 64)),
                        ("attributes", st.dictionaries(st.text(chars, max_size=20), st.text(chars, max_size=40),
                                                       max_size=32))):
        if draw(st.booleans()):
            doc[name] = draw(strat)
    if etype == "call":
        queued = draw(moments.filter(lambda m: m.year < 2299))
        answered = queued + draw(gaps) if draw(st.booleans()) else None
        ended = (answered or queued) + draw(gaps)
        doc.update(call_id=draw(safe_text), queued_at=draw(rfc3339(queued)), ended_at=draw(rfc3339(ended)))
        doc["answered_at"] = draw(rfc3339(answered)) if answered else None
        want.update(queued_at=queued, answered_at=answered, ended_at=ended)
        for name in ("hold_seconds", "wrap_seconds"):
            if draw(st.booleans()):
                doc[name] = draw(st.integers(0, 10**6) | st.floats(0, 1e6))
        if draw(st.booleans()):
            doc["direction"] = draw(st.sampled_from(["inbound", "outbound"]))
    elif etype == "purchase":
        cents = draw(st.integers(0, 10**12))
        form = draw(st.sampled_from(["int", "float", "str", "str6"]))
        if form == "int":
            doc["amount"], want["amount"] = cents, Decimal(cents)
        elif form == "float":
            doc["amount"], want["amount"] = cents / 100, Decimal(cents) / 100
        elif form == "str":
            doc["amount"], want["amount"] = f"{cents // 100}.{cents % 100:02d}", Decimal(cents) / 100
        else:
            micros = draw(st.integers(0, 10**20 - 1))
            doc["amount"], want["amount"] = f"{micros // 10**6}.{micros % 10**6:06d}", Decimal(micros) / 10**6
        doc["order_id"] = draw(safe_text)
        doc["currency"] = draw(st.from_regex(r"\A[A-Z]{3}\Z"))
        if draw(st.booleans()):
            doc["item_count"] = draw(st.integers(1, 10**6))
        if draw(st.booleans()):
            doc["status"] = draw(st.sampled_from(["completed", "refunded"]))
    elif etype == "review":
        posted = draw(moments.filter(lambda m: m.year < 2299))
        replied = posted + draw(gaps) if draw(st.booleans()) else None
        doc.update(review_id=draw(safe_text), platform=draw(slugs), rating=draw(st.integers(1, 5)),
                   posted_at=draw(rfc3339(posted)), replied_at=draw(rfc3339(replied)) if replied else None)
        want.update(posted_at=posted, replied_at=replied)
        if draw(st.booleans()):
            doc["text"] = draw(st.text(alphabet=chars, max_size=300))
    elif etype == "followup_update":
        doc.update(followup_id=draw(safe_text), status=draw(st.sampled_from(["assigned", "contacted", "closed"])))
        if doc["status"] == "closed" and draw(st.booleans()):
            doc["resolution"] = draw(st.sampled_from(["resolved", "unresolved", "unreachable"]))
        for name, strat in (("owner", safe_text), ("note", st.text(alphabet=chars, max_size=300))):
            if draw(st.booleans()):
                doc[name] = draw(strat)
    else:
        doc.update(response_id=draw(safe_text), score=draw(st.integers(0, 10)))
        for name, strat in (("kind", st.sampled_from(["transactional", "relationship"])), ("brand", slugs),
                            ("interaction_id", safe_text),
                            ("comment", st.text(alphabet=chars, max_size=300))):
            if draw(st.booleans()):
                doc[name] = draw(strat)
    if draw(st.booleans()):
        doc[draw(st.text(max_size=10).filter(lambda k: k not in TYPE_FIELDS[etype] + ENVELOPE_FIELDS))] = \
            draw(json_values)
    return doc, want


# --- properties -----------------------------------------------------------------------------------------

@FUZZ
@given(valid_docs(), st.booleans())
def test_every_contract_valid_event_is_accepted_as_sent(pair, on_its_topic):
    doc, want = pair
    raw = orjson.dumps(doc)
    assume(len(raw) <= MAX_MESSAGE_BYTES)
    result = judged(raw, doc["type"] if on_its_topic else None)
    assert isinstance(result, Event), result
    for name, value in want.items():
        assert result.values[name] == value, name


@FUZZ
@given(st.binary(max_size=3000), st.sampled_from([None, *TYPES]))
def test_arbitrary_bytes(raw, expected):
    judged(raw, expected)


@FUZZ
@given(json_values, st.sampled_from([None, *TYPES]))
def test_arbitrary_json_documents(value, expected):
    result = judged(orjson.dumps(value), expected)
    if not isinstance(value, dict):
        assert isinstance(result, Rejected) and result.field is None


@FUZZ
@given(valid_docs(), st.data())
def test_any_json_value_in_any_field_of_a_valid_event(pair, data):
    doc, _ = pair
    name = data.draw(st.sampled_from(ENVELOPE_FIELDS + TYPE_FIELDS[doc["type"]]))
    if data.draw(st.integers(0, 9)) == 0:
        doc.pop(name, None)
    else:
        doc[name] = data.draw(json_values)
    raw = orjson.dumps(doc)
    assume(len(raw) <= MAX_MESSAGE_BYTES)
    result = judged(raw, data.draw(st.sampled_from([None, doc["type"]])) if doc.get("type") in TYPES else None)
    if isinstance(result, Rejected) and name != "type":
        # Only the changed field (or its time-order partner) may be blamed.
        blamed = result.field or ""
        assert blamed == name or blamed in ALSO_BLAMED.get(name, ()) or blamed.startswith(f"{name}."), \
            (name, result.reason)


@pytest.mark.parametrize("etype", TYPES)
@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_hostile_timestamps_in_every_timestamp_field(etype, data):
    doc, _ = data.draw(valid_docs(etype))
    name = data.draw(st.sampled_from([f for f in TIMESTAMP_FIELDS if f in ENVELOPE_FIELDS + TYPE_FIELDS[doc["type"]]]))
    doc[name] = data.draw(timestamp_like())
    raw = orjson.dumps(doc)
    result = judged(raw, doc["type"])
    if isinstance(result, Rejected):
        assert result.field == name or result.field in ALSO_BLAMED.get(name, ()), result.reason
    # Accepted surveys all need a follow-up here, so due-time arithmetic runs on every extreme time.
    msg = Message(f"touchpulse.{doc['type']}s", 0, 0, None, raw, datetime(2024, 5, 1, tzinfo=UTC))
    out = process_batch([msg], TOPICS, REGISTRY, 11)
    assert out.accepted_count + len(out.dead_letters) == 1
    assert len(out.followups) == (doc["type"] == "survey" and isinstance(result, Event))


@st.composite
def byte_mutations(draw) -> bytes:
    doc, _ = draw(valid_docs())
    raw = bytearray(orjson.dumps(doc))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "invalid_utf8"]))
        at = draw(st.integers(0, len(raw)))
        if op == "flip" and at < len(raw):
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(
                [b'"', b"\\", b"{", b"}", b"[", b",", b":", b"null", b"\\u0000", b"\\ud800", b"1e999", b"-"]))
        elif op == "delete":
            del raw[at:at + draw(st.integers(1, 16))]
        elif op == "duplicate":
            raw[at:at] = raw[at:at + draw(st.integers(1, 64))]
        else:
            raw[at:at] = draw(st.sampled_from([b"\xff", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80",
                                               b"\x80", b"\xf0\x9f\x98"]))
    return bytes(raw)


@FUZZ
@given(byte_mutations(), st.sampled_from([None, *TYPES]))
def test_random_mutations_of_valid_events(raw, expected):
    judged(raw, expected)


@FUZZ
@given(valid_docs(), st.integers(-40, 40), st.text(max_size=10))
def test_sizes_around_the_64_kib_limit(pair, delta, multibyte):
    doc, _ = pair
    target = MAX_MESSAGE_BYTES + delta
    doc["zz_pad"] = multibyte
    base = len(orjson.dumps(doc))
    assume(base <= target)
    doc["zz_pad"] = multibyte + "x" * (target - base)
    raw = orjson.dumps(doc)
    assert len(raw) == target
    result = judged(raw, doc["type"])
    assert isinstance(result, Event) == (target <= MAX_MESSAGE_BYTES), result


@FUZZ
@given(valid_docs(), st.sampled_from([b"\xff", b"\xfe", b"\xc3\x28", b"\xa0\xa1", b"\xe2\x28\xa1", b"\xed\xa0\x80",
                                      b"\xed\xbf\xbf", b"\xf8\x88\x80\x80\x80", b"\xc1\xbf", b"\xf4\x90\x80\x80"]),
       st.data())
def test_invalid_utf8_inside_strings_is_rejected(pair, bad, data):
    doc, _ = pair
    raw = orjson.dumps(doc)
    quotes = [i for i, b in enumerate(raw) if b == ord('"')]
    at = data.draw(st.sampled_from(quotes)) + 1
    result = judged(raw[:at] + bad + raw[at:], doc["type"])
    assert isinstance(result, Rejected) and result.field is None and "UTF-8" in result.reason


DEPTH = 5000


@pytest.mark.parametrize("raw", [
    b"[" * DEPTH + b"]" * DEPTH,
    b'{"a":' * DEPTH + b"1" + b"}" * DEPTH,
    b'{"type": "survey", "x": ' + b"[" * DEPTH + b"]" * DEPTH + b"}",
    b'{"type": "survey", "attributes": ' + b'{"a":' * DEPTH + b'"v"' + b"}" * DEPTH + b"}",
    b"[" * (MAX_MESSAGE_BYTES // 2) + b"]" * (MAX_MESSAGE_BYTES // 2),
    b"[" * (MAX_MESSAGE_BYTES + 1),
    b"[" + b"0," * 2_000_000 + b"0]",
    b'{"a": "' + b"\\u00e9" * 2_000_000 + b'"}',
    b"\xff" * (10 * 1024 * 1024),
], ids=["array5000", "object5000", "deep-extra-field", "deep-attributes", "max-depth-in-limit", "open-brackets",
        "huge-array", "huge-escapes", "10MiB-garbage"])
def test_deep_and_huge_json(raw):
    started = time.perf_counter()
    result = judged(raw, "survey")
    assert isinstance(result, Rejected)
    assert time.perf_counter() - started < 5


def test_wide_but_valid_json_under_the_limit_is_accepted():
    doc = {"event_id": "e", "type": "survey", "version": 1, "occurred_at": "2024-05-01T10:00:00Z",
           "touchpoint": "web", "response_id": "r", "score": 3, "ignored": [[0] * 10] * 2600,
           "attributes": {f"k{i}": "v" * 100 for i in range(32)}}
    raw = orjson.dumps(doc)
    assert 60_000 < len(raw) <= MAX_MESSAGE_BYTES
    assert isinstance(judged(raw, "survey"), Event)


@pytest.mark.parametrize("value", [
    "9" * 60_000, "2024-05-01T10:00:00" + "0" * 60_000 + "Z", "2024-05-01T10:00:00." + "1" * 60_000 + "Z",
    "1" * 20 + "." + "0" * 60_000, "a" * 60_000, "a_" * 30_000,
])
def test_pathological_field_values_are_fast(value):
    """Regular expressions and number parsing must stay linear on the longest values that fit."""
    for etype, names in TYPE_FIELDS.items():
        for name in ENVELOPE_FIELDS[3:] + names:
            doc = {"event_id": "e", "type": etype, "version": 1, "occurred_at": "2024-05-01T10:00:00Z",
                   "touchpoint": "web", name: value}
            started = time.perf_counter()
            judged(orjson.dumps(doc), etype)
            assert time.perf_counter() - started < 2, (etype, name)


# --- the batch ------------------------------------------------------------------------------------------

message_values = st.one_of(
    st.none(), st.binary(max_size=300), json_values.map(orjson.dumps), byte_mutations(),
    valid_docs().map(lambda p: orjson.dumps(p[0])),
)


@settings(FUZZ, max_examples=150)
@given(st.lists(st.tuples(st.sampled_from([*TOPICS, "elsewhere"]), message_values), max_size=25),
       st.integers(0, 11))
def test_process_batch_conserves_every_message(items, below):
    now = datetime(2024, 5, 1, tzinfo=UTC)
    msgs = [Message(topic, i % 3, i, None, value, now) for i, (topic, value) in enumerate(items)]
    out = process_batch(msgs, TOPICS, REGISTRY, below, now)
    placed = [a.message.offset for lst in out.accepted.values() for a in lst] + \
        [d.message.offset for d in out.dead_letters]
    assert sorted(placed) == list(range(len(msgs)))
    for etype, accepted in out.accepted.items():
        for a in accepted:
            assert a.event.type == etype and TOPICS.get(a.message.topic, etype) == etype
            check_contract(a.event, orjson.loads(a.message.value), TOPICS.get(a.message.topic))
    for d in out.dead_letters:
        assert d.reason.strip() and d.type == TOPICS.get(d.message.topic, "")
        assert not d.reason.startswith("unexpected"), d.reason  # every reject is a contract reject
        if d.message.value is None:
            assert "tombstone" in d.reason
    low = [a for a in out.accepted["survey"] if a.event.values["score"] < below]
    assert [f.message for f in out.followups] == [a.message for a in low]


# --- atheris (coverage-guided) ------------------------------------------------------------------------

ATHERIS_SCRIPT = Path(__file__).with_name("fuzz_atheris.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (pip install atheris; needs a manylinux wheel or clang)")
def test_atheris_fuzz_target_runs_clean(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ATHERIS_SCRIPT), "-runs=5000", "-max_len=2048", "-seed=1", str(tmp_path)],
        capture_output=True, text=True, timeout=110, cwd=tmp_path, env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Done 5000 runs" in proc.stderr, proc.stderr[-3000:]
