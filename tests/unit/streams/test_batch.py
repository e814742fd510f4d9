"""process_batch: every message ends up accepted or dead-lettered (never lost, never raised),
and low survey scores produce follow-ups due after their touchpoint's follow-up hours."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from touchpulse.core.followups import followup_id
from touchpulse.core.touchpoints import load_registry, parse_registry
from touchpulse.streams.batch import BatchOutcome, Message, process_batch

UTC = timezone.utc
NOW = datetime(2024, 5, 2, 6, 0, tzinfo=UTC)
TOPICS = {"touchpulse.calls": "call", "touchpulse.purchases": "purchase", "touchpulse.reviews": "review",
          "touchpulse.surveys": "survey"}
TOPIC_OF = {t: name for name, t in TOPICS.items()}
REGISTRY = load_registry()


def doc(etype: str, n: int, **extra) -> dict:
    base = {"event_id": f"{etype}-{n}", "type": etype, "version": 1, "occurred_at": "2024-05-01T10:00:00Z",
            "touchpoint": "call_centre"}
    body = {
        "call": {"call_id": f"c{n}", "queued_at": "2024-05-01T09:59:00Z", "ended_at": "2024-05-01T10:00:00Z"},
        "purchase": {"order_id": f"o{n}", "amount": 10, "currency": "USD"},
        "review": {"review_id": f"r{n}", "platform": "google_maps", "rating": 5, "posted_at": "2024-05-01T10:00:00Z"},
        "survey": {"response_id": f"s{n}", "score": 9},
    }[etype]
    return {**base, **body, **extra}


class Log:
    """Builds messages with increasing offsets per topic partition, like a consumer would see them."""

    def __init__(self):
        self.offsets: dict[str, int] = {}

    def msg(self, topic: str, value, partition: int = 0, key: bytes | None = None) -> Message:
        off = self.offsets.get(topic, 0)
        self.offsets[topic] = off + 1
        raw = orjson.dumps(value) if isinstance(value, dict) else value
        return Message(topic, partition, off, key, raw, datetime(2024, 5, 1, 10, 0, 1, tzinfo=UTC))


def run(messages, below: int = 8, registry=REGISTRY) -> BatchOutcome:
    return process_batch(messages, TOPICS, registry, below, NOW)


def test_valid_events_are_accepted_by_type_in_arrival_order():
    log = Log()
    msgs = [log.msg(TOPIC_OF[t], doc(t, n)) for n in range(3) for t in ("call", "purchase", "review", "survey")]
    out = run(msgs)
    assert out.dead_letters == [] and out.followups == []
    assert out.accepted_count == 12
    for t in TOPICS.values():
        assert [a.event.event_id for a in out.accepted[t]] == [f"{t}-{n}" for n in range(3)]
        assert all(a.message.topic == TOPIC_OF[t] for a in out.accepted[t])


def test_rejects_become_dead_letters_with_position_bytes_and_reason():
    log = Log()
    good = log.msg("touchpulse.surveys", doc("survey", 1))
    bad_json = log.msg("touchpulse.surveys", b'{"type": "survey",')
    bad_score = log.msg("touchpulse.surveys", doc("survey", 2, score=11))
    wrong_topic = log.msg("touchpulse.calls", doc("survey", 3))
    tombstone = log.msg("touchpulse.reviews", None, key=b"r9")
    out = run([good, bad_json, bad_score, wrong_topic, tombstone])
    assert [a.message for a in out.accepted["survey"]] == [good]
    assert [d.message for d in out.dead_letters] == [bad_json, bad_score, wrong_topic, tombstone]
    by_msg = {d.message.position: d for d in out.dead_letters}

    d = by_msg[bad_json.position]
    assert (d.type, d.field) == ("survey", "") and "JSON" in d.reason
    assert d.message.value == b'{"type": "survey",'

    d = by_msg[bad_score.position]
    assert (d.type, d.field) == ("survey", "score") and d.reason.startswith("field 'score': ")

    d = by_msg[wrong_topic.position]
    assert (d.type, d.field) == ("call", "type") and "call" in d.reason

    d = by_msg[tombstone.position]
    assert (d.type, d.field) == ("review", "") and "tombstone" in d.reason
    assert d.message.value is None and d.message.key == b"r9"


def test_unexpected_exception_in_validation_becomes_a_dead_letter():
    # A client handing over something other than bytes makes the validator itself fail.
    log = Log()
    weird = Message("touchpulse.surveys", 0, 0, None, 12345, NOW)  # type: ignore[arg-type]
    good = log.msg("touchpulse.surveys", doc("survey", 1))
    out = run([weird, good])
    assert out.accepted_count == 1
    [d] = out.dead_letters
    assert d.message is weird and d.type == "survey" and d.field == ""
    assert d.reason.startswith("unexpected validation error: ") and "TypeError" in d.reason


def test_topic_not_in_the_map_accepts_any_type():
    log = Log()
    out = run([log.msg("other.topic", doc("call", 1)), log.msg("other.topic", doc("review", 1))])
    assert out.accepted_count == 2 and not out.dead_letters


def test_followups_for_scores_below_the_threshold_only():
    log = Log()
    msgs = [log.msg("touchpulse.surveys", doc("survey", s, score=s)) for s in range(11)]
    out = run(msgs, below=7)
    assert [f.event_id for f in out.followups] == [f"survey-{s}" for s in range(7)]
    assert [f.message for f in out.followups] == msgs[:7]
    f = out.followups[0]
    assert f.body["followup_id"] == followup_id("survey-0")
    assert f.body["created_at"] == "2024-05-02T06:00:00.000000Z"
    assert out.accepted_count == 11


def test_followup_due_time_uses_the_touchpoints_hours():
    log = Log()
    msgs = [log.msg("touchpulse.surveys", doc("survey", 1, score=2, touchpoint="business_line")),
            log.msg("touchpulse.surveys", doc("survey", 2, score=2, touchpoint="call_centre")),
            log.msg("touchpulse.surveys", doc("survey", 3, score=2, touchpoint="unknown_place"))]
    out = run(msgs)
    assert REGISTRY.targets("business_line").followup_hours == 24
    assert [f.body["due_at"] for f in out.followups] == [
        "2024-05-02T10:00:00.000000Z", "2024-05-03T10:00:00.000000Z", "2024-05-03T10:00:00.000000Z"]
    custom = parse_registry({"defaults": {"followup_hours": 1.5}})
    [f] = run([log.msg("touchpulse.surveys", doc("survey", 4, score=0))], registry=custom).followups
    assert f.body["due_at"] == "2024-05-01T11:30:00.000000Z"


def test_non_survey_events_and_rejected_surveys_raise_no_followup():
    log = Log()
    out = run([log.msg("touchpulse.reviews", doc("review", 1, rating=1)),
               log.msg("touchpulse.surveys", doc("survey", 1, score=-1)),
               log.msg("touchpulse.calls", doc("survey", 2, score=0))])
    assert out.followups == [] and len(out.dead_letters) == 2


def test_every_message_is_counted_exactly_once():
    log = Log()
    msgs = []
    for n in range(40):
        t = ("call", "purchase", "review", "survey")[n % 4]
        value = doc(t, n, score=n % 12) if t == "survey" else doc(t, n)
        if n % 5 == 0:
            value = b"\x00garbage"
        elif n % 7 == 0:
            value = None
        msgs.append(log.msg(TOPIC_OF[t], value, partition=n % 3))
    out = run(msgs)
    seen = [a.message.position for lst in out.accepted.values() for a in lst] + \
        [d.message.position for d in out.dead_letters]
    assert sorted(seen) == sorted(m.position for m in msgs)
    assert len(set(seen)) == len(msgs)


def test_empty_batch():
    out = run([])
    assert out.accepted_count == 0 and out.dead_letters == [] and out.followups == []


def test_now_defaults_to_the_current_time():
    log = Log()
    out = process_batch([log.msg("touchpulse.surveys", doc("survey", 1, score=0))], TOPICS, REGISTRY, 8)
    created = datetime.fromisoformat(out.followups[0].body["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


@pytest.mark.parametrize("below", [0, 11])
def test_threshold_extremes(below):
    log = Log()
    out = run([log.msg("touchpulse.surveys", doc("survey", s, score=s)) for s in (0, 10)], below=below)
    assert len(out.followups) == (0 if below == 0 else 2)
