"""Event contract v1, rule by rule: what is accepted, how it is normalised, and that every
rejection names the field it is about (the dead-letter reason is the producer's only clue)."""

from __future__ import annotations

import copy
import re
from datetime import datetime, timezone
from decimal import Decimal

import orjson
import pytest

from touchpulse.core.events import (COMMON_COLUMNS, MAX_MESSAGE_BYTES, TYPE_COLUMNS, Event, Rejected,
                                    parse_event, validate_document)

ENVELOPE = {"event_id": "ev-1", "version": 1, "occurred_at": "2024-05-01T10:00:00Z", "touchpoint": "call_centre"}
VALID = {
    "call": {**ENVELOPE, "type": "call", "call_id": "c-1", "queued_at": "2024-05-01T09:58:00Z",
             "answered_at": "2024-05-01T09:58:15Z", "ended_at": "2024-05-01T10:00:00Z"},
    "purchase": {**ENVELOPE, "type": "purchase", "order_id": "o-1", "amount": "19.99", "currency": "EUR"},
    "review": {**ENVELOPE, "type": "review", "review_id": "r-1", "platform": "google_maps", "rating": 4,
               "posted_at": "2024-05-01T08:00:00Z"},
    "survey": {**ENVELOPE, "type": "survey", "response_id": "s-1", "score": 9},
    "followup_update": {**ENVELOPE, "type": "followup_update", "followup_id": "f-1", "status": "contacted"},
}
REQUIRED = {
    "call": ("call_id", "queued_at", "ended_at"),
    "purchase": ("order_id", "amount", "currency"),
    "review": ("review_id", "platform", "rating", "posted_at"),
    "survey": ("response_id", "score"),
    "followup_update": ("followup_id", "status"),
}
ENVELOPE_REQUIRED = ("event_id", "type", "version", "occurred_at", "touchpoint")
TIMESTAMP_FIELDS = {"call": ("occurred_at", "queued_at", "answered_at", "ended_at"),
                    "purchase": ("occurred_at",), "review": ("occurred_at", "posted_at", "replied_at"),
                    "survey": ("occurred_at",), "followup_update": ("occurred_at",)}
REASON = re.compile(r"^field '([a-z_]+(?:\..*)?)': \S.*", re.S)


def event(etype: str, **changes) -> dict:
    doc = copy.deepcopy(VALID[etype])
    doc.update(changes)
    return doc


def without(etype: str, name: str) -> dict:
    doc = event(etype)
    doc.pop(name, None)
    return doc


def parse(doc: dict, expected_type: str | None = None) -> Event:
    return parse_event(orjson.dumps(doc), expected_type)


def rejected(doc: dict | bytes, expected_type: str | None = None) -> Rejected:
    raw = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    with pytest.raises(Rejected) as info:
        parse_event(raw, expected_type)
    return info.value


def assert_rejected_field(doc: dict, name: str, expected_type: str | None = None) -> Rejected:
    exc = rejected(doc, expected_type)
    assert exc.field == name, exc.reason
    m = REASON.match(exc.reason)
    assert m and m.group(1) == name, exc.reason
    return exc


# --- accepted events and normalisation -----------------------------------------------------------

@pytest.mark.parametrize("etype", sorted(VALID))
def test_valid_event_of_each_type_is_accepted_with_columns_in_table_order(etype):
    ev = parse(VALID[etype], etype)
    assert ev.type == etype
    assert ev.event_id == "ev-1"
    assert list(ev.values) == [*COMMON_COLUMNS, *TYPE_COLUMNS[etype]]
    assert ev.entity_id == VALID[etype][{"call": "call_id", "purchase": "order_id", "review": "review_id",
                                         "survey": "response_id", "followup_update": "followup_id"}[etype]]


def test_validate_document_accepts_a_decoded_object():
    ev = validate_document(event("survey"), "survey")
    assert ev.values["score"] == 9


@pytest.mark.parametrize("etype,name,default", [
    ("call", "direction", "inbound"), ("call", "hold_seconds", 0), ("call", "wrap_seconds", 0),
    ("call", "answered_at", None), ("purchase", "item_count", 1), ("purchase", "status", "completed"),
    ("survey", "kind", "transactional"), ("survey", "brand", "own"), ("review", "replied_at", None),
    ("followup_update", "resolution", ""), ("followup_update", "owner", ""), ("followup_update", "note", ""),
])
def test_defaults_are_filled_in(etype, name, default):
    doc = without(etype, name)
    assert parse(doc).values[name] == default
    # An explicit null means the same as absent.
    assert parse({**doc, name: None}).values[name] == default


def test_absent_optional_envelope_fields_are_empty():
    v = parse(VALID["survey"]).values
    assert v["customer_id"] == "" and v["source"] == "" and v["attributes"] == {}
    assert v["interaction_id"] == "" and v["comment"] == ""


def test_all_optional_fields_are_kept():
    doc = event("call", customer_id="cust-9", source="cdr-export", attributes={"region": "north", "team": "a"},
                direction="outbound", hold_seconds=12.5, wrap_seconds=30, agent_id="agent-7")
    v = parse(doc).values
    assert (v["customer_id"], v["source"]) == ("cust-9", "cdr-export")
    assert v["attributes"] == {"region": "north", "team": "a"}
    assert (v["direction"], v["hold_seconds"], v["wrap_seconds"], v["agent_id"]) == ("outbound", 12.5, 30.0, "agent-7")
    assert isinstance(v["wrap_seconds"], float)


def test_timestamps_become_aware_utc():
    doc = event("call", occurred_at="2024-05-01T13:00:00+03:00", queued_at="2024-05-01T05:58:00-04:00",
                answered_at="2024-05-01 09:58:15z", ended_at="2024-05-01T10:00:00.123456789Z")
    v = parse(doc).values
    assert v["occurred_at"] == datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert v["queued_at"] == datetime(2024, 5, 1, 9, 58, tzinfo=timezone.utc)
    assert v["answered_at"] == datetime(2024, 5, 1, 9, 58, 15, tzinfo=timezone.utc)
    assert v["ended_at"] == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone.utc)
    for name in ("occurred_at", "queued_at", "answered_at", "ended_at"):
        assert v[name].utcoffset().total_seconds() == 0 and v[name].tzinfo is timezone.utc


@pytest.mark.parametrize("amount,expected", [
    (0, Decimal("0")), ("0", Decimal("0")), ("0.00", Decimal("0")), (12, Decimal("12")), (19.99, Decimal("19.99")),
    ("19.99", Decimal("19.99")), ("1234567.123456", Decimal("1234567.123456")), (1e6, Decimal("1000000")),
])
def test_amount_as_number_or_decimal_string(amount, expected):
    got = parse(event("purchase", amount=amount)).values["amount"]
    assert isinstance(got, Decimal) and got == expected


def test_unknown_extra_fields_are_ignored():
    doc = event("review", future_field={"nested": [1, 2, {"x": None}]}, Type="SURVEY", score=True, amount=-5)
    ev = parse(doc, "review")
    assert list(ev.values) == [*COMMON_COLUMNS, *TYPE_COLUMNS["review"]]
    assert "future_field" not in ev.values


def test_unknown_touchpoint_slug_is_accepted():
    assert parse(event("survey", touchpoint="pop_up_kiosk_42")).values["touchpoint"] == "pop_up_kiosk_42"


# --- required fields ----------------------------------------------------------------------------------

@pytest.mark.parametrize("etype,name", [(t, f) for t in sorted(VALID) for f in ENVELOPE_REQUIRED + REQUIRED[t]])
def test_missing_required_field_is_rejected_naming_it(etype, name):
    exc = assert_rejected_field(without(etype, name), name)
    assert "required" in exc.reason
    assert_rejected_field(event(etype, **{name: None}), name)


# --- types ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("etype,name,value", [
    ("survey", "type", "SURVEY"), ("survey", "type", "email"), ("survey", "type", 1), ("survey", "type", ["survey"]),
    ("survey", "version", 2), ("survey", "version", 0), ("survey", "version", "1"), ("survey", "version", 1.0),
    ("survey", "version", True),
    ("survey", "event_id", 17), ("survey", "event_id", ["ev"]), ("survey", "customer_id", 5),
    ("survey", "source", {"name": "x"}), ("survey", "touchpoint", 3),
    ("survey", "score", True), ("survey", "score", False), ("survey", "score", 7.0), ("survey", "score", "7"),
    ("survey", "score", [7]),
    ("review", "rating", True), ("review", "rating", 4.0), ("review", "rating", "4"),
    ("purchase", "item_count", True), ("purchase", "item_count", 2.0), ("purchase", "item_count", "2"),
    ("purchase", "amount", True), ("purchase", "amount", [1]), ("purchase", "amount", {"value": 1}),
    ("purchase", "currency", 978), ("call", "hold_seconds", "5"), ("call", "hold_seconds", True),
    ("call", "wrap_seconds", [1]), ("call", "call_id", 12), ("purchase", "order_id", 12),
    ("review", "review_id", 12), ("survey", "response_id", 12), ("call", "agent_id", 3),
    ("survey", "interaction_id", 3), ("survey", "comment", 3), ("review", "text", ["t"]),
    ("call", "direction", True), ("call", "direction", "INBOUND"), ("call", "direction", "both"),
    ("purchase", "status", "cancelled"), ("purchase", "status", 1), ("survey", "kind", "nps"),
    ("survey", "kind", ["transactional"]), ("survey", "brand", "Own"), ("survey", "brand", 1),
    ("review", "platform", "Google Maps"), ("review", "platform", ""),
    ("call", "queued_at", 1714557480), ("call", "ended_at", {"t": 1}), ("review", "posted_at", True),
    ("survey", "attributes", ["region"]), ("survey", "attributes", "region=north"),
    ("followup_update", "followup_id", 7), ("followup_update", "status", "done"),
    ("followup_update", "status", "Closed"), ("followup_update", "status", 1), ("followup_update", "status", ""),
    ("followup_update", "resolution", "fixed"), ("followup_update", "resolution", ["resolved"]),
    ("followup_update", "owner", 3), ("followup_update", "note", {"text": "x"}),
])
def test_wrong_type_or_value_is_rejected_naming_the_field(etype, name, value):
    assert_rejected_field(event(etype, **{name: value}), name)


@pytest.mark.parametrize("value", [1, None, True, ["x"], {"a": "b"}])
def test_attribute_values_must_be_strings(value):
    if value is None:
        exc = rejected(event("survey", attributes={"region": None}))
    else:
        exc = rejected(event("survey", attributes={"region": value}))
    assert exc.field == "attributes.region"
    assert exc.reason.startswith("field 'attributes.region': ")


def test_attributes_at_most_32_keys():
    ok = {f"k{i}": str(i) for i in range(32)}
    assert parse(event("survey", attributes=ok)).values["attributes"] == ok
    assert_rejected_field(event("survey", attributes={**ok, "k32": "x"}), "attributes")


# --- ranges --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("etype,name,good,bad", [
    ("survey", "score", [0, 10, 6], [-1, 11, 100, -10**6]),
    ("review", "rating", [1, 5], [0, 6, -1]),
    ("purchase", "item_count", [1, 1000], [0, -1]),
    ("call", "hold_seconds", [0, 0.5, 3600], [-0.001, -1]),
    ("call", "wrap_seconds", [0, 12.25], [-5]),
    ("purchase", "amount", [0, "0.000001", 0.5], [-0.01, "-1", "-0.01", "1e3", "", " 1", "1.", ".5", "abc",
                                                  "0.1234567", "\u0661\u0662\u0663"]),
    ("purchase", "currency", ["USD", "RUB"], ["usd", "US", "USDD", "U5D", "", "ЕВР"]),
    ("survey", "touchpoint", ["a", "a" * 64, "call_centre_2"], ["", "A", "1abc", "_x", "a" * 65, "call-centre",
                                                               "café", "call centre"]),
    ("survey", "brand", ["rival_co"], ["Rival", "rival-co", ""]),
    ("survey", "event_id", ["e", "e" * 128, "ü" * 128], ["", "e" * 129]),
    ("survey", "customer_id", ["c", "c" * 128], ["", "c" * 129]),
    ("survey", "source", ["s", "s" * 64], ["", "s" * 65]),
    ("survey", "comment", ["", "x" * 10_000], ["x" * 10_001]),
    ("review", "text", ["", "ы" * 10_000], ["ы" * 10_001]),
    ("followup_update", "followup_id", ["f", "f" * 256], ["", "f" * 257]),
    ("followup_update", "owner", ["o", "o" * 128], ["", "o" * 129]),
    ("followup_update", "note", ["", "n" * 10_000], ["n" * 10_001]),
])
def test_ranges(etype, name, good, bad):
    for value in good:
        ev = parse(event(etype, **{name: value}))
        assert ev.values[name] == (Decimal(str(value)) if name == "amount" else value)
    for value in bad:
        assert_rejected_field(event(etype, **{name: value}), name)


# --- follow-up updates --------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["assigned", "contacted", "closed"])
def test_followup_update_statuses(status):
    v = parse(event("followup_update", status=status, owner="anna", note="called, agreed a refund")).values
    assert (v["status"], v["owner"], v["note"]) == (status, "anna", "called, agreed a refund")
    # closed without a resolution is resolved; the others have none
    assert v["resolution"] == ("resolved" if status == "closed" else "")


@pytest.mark.parametrize("resolution", ["resolved", "unresolved", "unreachable"])
def test_a_closed_followup_keeps_its_resolution(resolution):
    assert parse(event("followup_update", status="closed", resolution=resolution)).values["resolution"] == resolution


@pytest.mark.parametrize("status", ["assigned", "contacted"])
def test_a_resolution_with_another_status_than_closed_is_rejected(status):
    exc = assert_rejected_field(event("followup_update", status=status, resolution="resolved"), "resolution")
    assert "closed" in exc.reason and status in exc.reason
    # null means absent, which is fine
    assert parse(event("followup_update", status=status, resolution=None)).values["resolution"] == ""


def test_a_followup_update_with_a_bad_status_and_a_resolution_names_the_status():
    assert_rejected_field(event("followup_update", status="done", resolution="resolved"), "status")


# --- timestamps ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("etype,name", [(t, f) for t in sorted(TIMESTAMP_FIELDS) for f in TIMESTAMP_FIELDS[t]])
def test_naive_timestamps_are_rejected_in_every_timestamp_field(etype, name):
    exc = assert_rejected_field(event(etype, **{name: "2024-05-01T09:59:00"}), name)
    assert "offset" in exc.reason


@pytest.mark.parametrize("text", [
    "2024-05-01", "2024-05-01T09:59Z", "2024-05-01T09:59:00.Z", "2024-05-01T09:59:00.1234567890Z",
    "2024-13-01T09:59:00Z", "2024-02-30T09:59:00Z", "2024-05-01T25:00:00Z", "2024-05-01T09:59:00+0300",
    "2024-05-01T09:59:00+03", "2024-05-01T09:59:00 UTC", "yesterday", "", "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-01:00", "1899-12-31T23:59:59Z", "2300-01-01T00:00:00Z",
    "\u0662\u0660\u0662\u0664-05-01T09:59:00Z",
])
def test_malformed_or_unsupported_timestamps_are_rejected(text):
    exc = assert_rejected_field(event("survey", occurred_at=text), "occurred_at")
    assert len(exc.reason) < 300


@pytest.mark.parametrize("text,expected", [
    ("2024-05-01T09:59:00Z", datetime(2024, 5, 1, 9, 59, tzinfo=timezone.utc)),
    ("2024-05-01T09:59:00+00:00", datetime(2024, 5, 1, 9, 59, tzinfo=timezone.utc)),
    ("2024-05-01T12:59:00+03:00", datetime(2024, 5, 1, 9, 59, tzinfo=timezone.utc)),
    ("2024-05-01T04:29:00-05:30", datetime(2024, 5, 1, 9, 59, tzinfo=timezone.utc)),
    ("2024-05-01T09:59:00.5Z", datetime(2024, 5, 1, 9, 59, 0, 500000, tzinfo=timezone.utc)),
    ("2024-05-01T09:59:00.123456789+00:00", datetime(2024, 5, 1, 9, 59, 0, 123456, tzinfo=timezone.utc)),
    ("2024-05-01T00:30:00+03:00", datetime(2024, 4, 30, 21, 30, tzinfo=timezone.utc)),
])
def test_timestamps_with_offset_are_accepted(text, expected):
    got = parse(event("survey", occurred_at=text)).values["occurred_at"]
    assert got == expected and got.tzinfo is timezone.utc


# --- time order ----------------------------------------------------------------------------------------

def test_call_ended_before_queued_is_rejected():
    assert_rejected_field(event("call", answered_at=None, ended_at="2024-05-01T09:57:59Z"), "ended_at")


def test_call_ended_before_answered_is_rejected():
    assert_rejected_field(event("call", answered_at="2024-05-01T10:00:01Z"), "ended_at")


def test_call_time_order_compares_instants_not_text():
    # 10:00+03:00 is 07:00Z, before the 09:58Z queue entry, although the text sorts later.
    assert_rejected_field(event("call", answered_at=None, ended_at="2024-05-01T10:00:00+03:00"), "ended_at")
    ok = parse(event("call", queued_at="2024-05-01T12:58:00+03:00", answered_at="2024-05-01T09:58:15Z"))
    assert ok.values["queued_at"] < ok.values["answered_at"]


def test_equal_times_are_allowed():
    t = "2024-05-01T09:58:00Z"
    v = parse(event("call", queued_at=t, answered_at=t, ended_at=t)).values
    assert v["queued_at"] == v["answered_at"] == v["ended_at"]
    v = parse(event("review", posted_at=t, replied_at="2024-05-01T12:58:00+03:00")).values
    assert v["posted_at"] == v["replied_at"]


def test_unanswered_call_needs_only_ended_after_queued():
    v = parse(event("call", answered_at=None)).values
    assert v["answered_at"] is None


def test_review_replied_before_posted_is_rejected():
    assert_rejected_field(event("review", replied_at="2024-05-01T07:59:59Z"), "replied_at")
    assert parse(event("review", replied_at="2024-05-02T08:00:00Z")).values["replied_at"] == \
        datetime(2024, 5, 2, 8, tzinfo=timezone.utc)


# --- topic ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("etype", sorted(VALID))
def test_event_on_the_wrong_topic_is_rejected(etype):
    for topic_type in VALID:
        if topic_type == etype:
            assert parse(VALID[etype], topic_type).type == etype
        else:
            exc = assert_rejected_field(VALID[etype], "type", topic_type)
            assert topic_type in exc.reason


# --- transport -----------------------------------------------------------------------------------------

def padded(size: int, etype: str = "survey") -> bytes:
    """A valid event padded with an ignored extra field to exactly `size` bytes."""
    base = orjson.dumps({**VALID[etype], "pad": ""})
    raw = orjson.dumps({**VALID[etype], "pad": "x" * (size - len(base))})
    assert len(raw) == size
    return raw


def test_exactly_64_kib_is_accepted_and_one_byte_more_is_rejected():
    assert parse_event(padded(MAX_MESSAGE_BYTES), "survey").type == "survey"
    exc = rejected(padded(MAX_MESSAGE_BYTES + 1))
    assert exc.field is None and "65537" in exc.reason and "65536" in exc.reason


def test_oversize_is_rejected_before_parsing():
    exc = rejected(b"\xff" * (MAX_MESSAGE_BYTES + 1))
    assert "limit" in exc.reason


@pytest.mark.parametrize("raw,fragment", [
    (b"", "JSON"), (b"{", "JSON"), (b"not json", "JSON"), (b"{'type': 'call'}", "JSON"),
    (b'{"type": "survey",}', "JSON"), (b"NaN", "JSON"), (b"\xef\xbb\xbf{}", "JSON"),
    (b'{"type": "survey", "event_id": "\xff\xfe"}', "UTF-8"), (b'{"event_id": "\xed\xa0\x80"}', "JSON"),
    (b'{"event_id": "\\ud800"}', "JSON"),
    (b"[]", "object"), (b"[1, 2]", "object"), (b'"survey"', "object"), (b"42", "object"), (b"null", "object"),
    (b"true", "object"),
])
def test_not_json_or_not_an_object_is_rejected_with_a_reason(raw, fragment):
    exc = rejected(raw)
    assert exc.field is None
    assert fragment in exc.reason and len(exc.reason) > len(fragment)


def test_rejected_reason_format():
    exc = Rejected("score", "must be 0..10, got 11")
    assert exc.reason == str(exc) == "field 'score': must be 0..10, got 11"
    assert Rejected(None, "not valid").reason == "not valid"
    assert isinstance(exc, ValueError)


def test_reason_clips_huge_values():
    exc = assert_rejected_field(event("survey", type="x" * 5000), "type")
    assert len(exc.reason) < 200
