"""Closed-loop follow-ups: who gets one, and that a re-sent follow-up is recognisably the same one."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchpulse.core.events import parse_event
from touchpulse.core.followups import build_followup, followup_id, needs_followup
from touchpulse.core.timestamps import parse_timestamp

UTC = timezone.utc


def survey(score: int, **extra):
    doc = {"event_id": "ev-7", "type": "survey", "version": 1, "occurred_at": "2024-05-01T12:00:00+03:00",
           "touchpoint": "call_centre", "response_id": "resp-7", "score": score, **extra}
    return parse_event(orjson.dumps(doc), "survey")


@pytest.mark.parametrize("score,below,expected", [
    (0, 8, True), (7, 8, True), (8, 8, False), (10, 8, False), (6, 7, True), (7, 7, False),
    (0, 0, False), (10, 11, True),
])
def test_needs_followup_when_score_is_strictly_below(score, below, expected):
    assert needs_followup(survey(score), below) is expected


def test_other_event_types_never_need_followup():
    review = parse_event(orjson.dumps({
        "event_id": "e", "type": "review", "version": 1, "occurred_at": "2024-05-01T12:00:00Z", "touchpoint": "web",
        "review_id": "r", "platform": "app_store", "rating": 1, "posted_at": "2024-05-01T12:00:00Z"}))
    assert needs_followup(review, 11) is False


def test_followup_id_is_a_deterministic_uuid_of_the_event_id():
    a = followup_id("ev-7")
    assert a == followup_id("ev-7")
    assert uuid.UUID(a).version == 5
    assert followup_id("ev-8") != a
    assert len({followup_id(f"ev-{i}") for i in range(1000)}) == 1000


def test_build_followup():
    created = datetime(2024, 5, 2, 8, 0, tzinfo=UTC)
    body = build_followup(survey(3, customer_id="cust-1", comment="too slow", interaction_id="call-9",
                                 kind="relationship", brand="rival"), 48, created)
    assert body == {
        "followup_id": followup_id("ev-7"), "event_id": "ev-7", "response_id": "resp-7", "customer_id": "cust-1",
        "touchpoint": "call_centre", "brand": "rival", "kind": "relationship", "score": 3, "comment": "too slow",
        "interaction_id": "call-9", "occurred_at": "2024-05-01T09:00:00.000000Z",
        "due_at": "2024-05-03T09:00:00.000000Z", "created_at": "2024-05-02T08:00:00.000000Z",
    }
    orjson.dumps(body)  # the body must be JSON-serialisable as is


@pytest.mark.parametrize("hours,due", [(24, "2024-05-02T09:00:00.000000Z"), (0.5, "2024-05-01T09:30:00.000000Z"),
                                       (0, "2024-05-01T09:00:00.000000Z")])
def test_due_time_counts_from_occurred_at(hours, due):
    body = build_followup(survey(1), hours, datetime(2030, 1, 1, tzinfo=UTC))
    assert body["due_at"] == due
    assert parse_timestamp(body["due_at"]) - parse_timestamp(body["occurred_at"]) == \
        (parse_timestamp(due) - datetime(2024, 5, 1, 9, tzinfo=UTC))


def test_absent_optional_fields_are_null_and_defaults_apply():
    body = build_followup(survey(2), 48)
    assert body["customer_id"] is None and body["comment"] is None and body["interaction_id"] is None
    assert body["brand"] == "own" and body["kind"] == "transactional"
    created = parse_timestamp(body["created_at"])
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_same_event_gives_same_followup_id_whenever_it_is_built():
    a = build_followup(survey(2), 48, datetime(2024, 5, 1, tzinfo=UTC))
    b = build_followup(survey(2), 48, datetime(2024, 6, 1, tzinfo=UTC))
    assert a["followup_id"] == b["followup_id"] and a["created_at"] != b["created_at"]


@settings(max_examples=500, deadline=None)
@given(st.text(min_size=1, max_size=128))
def test_followup_id_is_the_uuid5_of_the_event_id(event_id):
    from touchpulse.core.followups import _NAMESPACE
    try:
        event_id.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be in a decoded JSON event_id either
        return
    assert followup_id(event_id) == str(uuid.uuid5(_NAMESPACE, event_id))
