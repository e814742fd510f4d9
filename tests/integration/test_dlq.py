"""`touchpulse dlq` and `dlq replay` against the real broker, the Faust worker and chDB.

A replay needs "a fix": the validator cannot change inside a test, so the dead letters to
replay are put straight onto the DLQ topic, as a worker with a former, stricter rule would
have put them (valid bytes, provenance headers), next to dead letters still invalid today.
"""

from __future__ import annotations

import json

import pytest
from kafka import KafkaProducer

pytestmark = pytest.mark.integration

DAY = "2026-03-10"


def survey(i: int, score: int, tp: str = "call_centre", **extra) -> dict:
    return {"event_id": f"s{i}", "type": "survey", "version": 1, "occurred_at": f"{DAY}T10:{i % 60:02d}:00Z",
            "touchpoint": tp, "response_id": f"r{i}", "score": score, "customer_id": f"cust{i}", **extra}


def call(i: int) -> dict:
    return {"event_id": f"c{i}", "type": "call", "version": 1, "occurred_at": f"{DAY}T09:10:00Z",
            "touchpoint": "call_centre", "call_id": f"call{i}", "queued_at": f"{DAY}T09:00:00Z",
            "answered_at": f"{DAY}T09:00:05Z", "ended_at": f"{DAY}T09:10:00Z"}


def b(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def dlq_headers(reason: str, field: str, topic: str, partition: int, offset: int) -> list[tuple[str, bytes]]:
    return [("touchpulse.reason", reason.encode()), ("touchpulse.field", field.encode()),
            ("touchpulse.source_topic", topic.encode()), ("touchpulse.source_partition", str(partition).encode()),
            ("touchpulse.source_offset", str(offset).encode()),
            ("touchpulse.source_timestamp", f"{DAY}T10:00:00+00:00".encode())]


def produce_raw(pipeline, records: list[tuple[str, bytes, bytes | None, list]]) -> None:
    """(full topic, value, key, headers), as the worker publishes dead letters."""
    p = KafkaProducer(bootstrap_servers=pipeline.bootstrap, acks="all", linger_ms=10)
    try:
        for topic, value, key, headers in records:
            p.send(topic, value=value, key=key, headers=headers)
        p.flush()
    finally:
        p.close()


def nps(rows: list[dict]) -> dict:
    return {(r["day"], r["touchpoint"]): (r["promoters"], r["detractors"], r["responses"]) for r in rows}


def expected_nps(surveys: list[dict]) -> dict:
    out: dict = {}
    for s in surveys:
        key = (DAY, s["touchpoint"])
        p, d, n = out.get(key, (0, 0, 0))
        out[key] = (p + (s["score"] >= 9), d + (s["score"] <= 6), n + 1)
    return out


def test_show_groups_dead_letters_counts_crash_copies_once_and_escapes_bytes(pipeline):
    pipeline.up()
    hostile = b'{"x": "\x1b[2J\x1b]0;owned\x07 \xe2\x80\xae evil \xff\xfe'  # clear screen, set title, RTL, bad UTF-8
    bad = [("surveys", b(survey(1, 11)), b"r1"), ("surveys", b(survey(2, 12)), b"r2"),
           ("surveys", b(survey(3, 42)), None), ("surveys", hostile, None), ("calls", b(survey(4, 5)), None),
           ("surveys", None, b"gone")]
    pipeline.produce([("surveys", b(survey(5, 9)), b"r5"), *bad])
    pipeline.drain()

    # A crash after publishing but before committing re-publishes dead letters: copy two verbatim.
    records = pipeline.consume("dlq")
    assert len(records) == len(bad)
    produce_raw(pipeline, [(r.topic, r.value, r.key, r.headers) for r in records[:2]])

    out = json.loads(pipeline.run("dlq", "--format", "json", "--samples", "2").stdout)
    assert (out["records"], out["dead_letters"], out["copies_ignored"]) == (len(bad) + 2, len(bad), 2)
    groups = {g["reason"]: g for g in out["groups"]}
    score = groups["field 'score': must be 0..10, got …"]
    assert score["count"] == 3 and score["source_topics"] == {pipeline.topic("surveys"): 3}
    assert len(score["samples"]) == 2
    assert {s["reason"] for s in score["samples"]} <= {f"field 'score': must be 0..10, got {n}" for n in (11, 12, 42)}
    for s in score["samples"]:
        topic, partition, offset = s["source"].rsplit("/", 2)
        assert topic == pipeline.topic("surveys") and int(partition) >= 0 and int(offset) >= 0
    assert sum(g["count"] for g in out["groups"]) == len(bad)
    assert any("arrived on the call topic" in r for r in groups)
    assert any("tombstone" in r for r in groups)
    (garbled,) = [g for g in out["groups"] if g["reason"].startswith("not valid UTF-8 JSON")]
    value = garbled["samples"][0]["value"]
    assert "\\x1b[2J" in value and "\\x07" in value and "\\u202e" in value and "\\xff\\xfe" in value
    assert garbled["samples"][0]["bytes"] == len(hostile)

    table = pipeline.run("dlq", "show", "--samples", "1").stdout
    text = table.decode("utf-8")
    assert b"\x1b" not in table and b"\x07" not in table and "\u202e" not in text
    assert f"{len(bad)} dead letters" in text and "2 re-published copies" in text
    line = next(line for line in text.splitlines() if "must be 0..10" in line)
    assert line.split()[0] == "3"
    assert "\\x1b[2J" in text
    # Reading is read-only: the topic still holds every record.
    assert len(pipeline.consume("dlq")) == len(bad) + 2


def test_replay_republishes_what_is_valid_now_exactly_once_and_keeps_the_rest(pipeline):
    pipeline.up()
    surveys_topic, calls_topic, dlq = pipeline.topic("surveys"), pipeline.topic("calls"), pipeline.topic("dlq")
    baseline = [survey(i, score) for i, score in ((1, 10), (2, 7), (3, 3))]
    pipeline.produce([("surveys", b(s), s["response_id"].encode()) for s in baseline])

    # Rejected by a former rule (comments of at most 500 characters), valid today.
    fixed = [survey(100 + i, score, comment="c" * 800) for i, score in enumerate((9, 10, 2, 8))]
    old_rule = "field 'comment': must be 0..500 characters, got 800"
    dead = [(dlq, b(s), s["response_id"].encode(), dlq_headers(old_rule, "comment", surveys_topic, 0, 5000 + i))
            for i, s in enumerate(fixed)]
    # A call rejected by another former rule, and a crash copy of one of the surveys.
    dead.append((dlq, b(call(7)), b"call7", dlq_headers("field 'agent_id': is required", "agent_id", calls_topic, 1, 77)))
    dead.append(dead[0])
    # Still invalid today.
    still = [(dlq, b(survey(200, 11)), None, dlq_headers("field 'score': must be 0..10, got 11", "score",
                                                           surveys_topic, 2, 9000)),
             (dlq, b"{broken", None, dlq_headers("not valid UTF-8 JSON: x", "", surveys_topic, 2, 9001)),
             (dlq, b(survey(201, 5)), None, dlq_headers("field 'type': 'survey' event arrived on the call topic",
                                                        "type", calls_topic, 0, 9002))]
    produce_raw(pipeline, dead + still)
    dlq_records = len(dead) + len(still)

    dry = json.loads(pipeline.run("dlq", "replay", "--dry-run", "--format", "json").stdout)
    assert dry["dry_run"] is True
    assert (dry["considered"], dry["replayed"], dry["still_invalid"]) == (8, 5, 3)
    assert dry["replayed_by_topic"] == {surveys_topic: 4, calls_topic: 1}
    groups = {g["reason"]: g["count"] for g in dry["still_invalid_groups"]}
    (json_reason,) = [r for r in groups if r.startswith("not valid UTF-8 JSON: ")]  # orjson's wording
    assert json_reason.endswith("line N column N (char N)")
    assert groups == {"field 'score': must be 0..10, got …": 1, json_reason: 1,
                      "field 'type': … event arrived on the call topic": 1}
    assert len(pipeline.consume("surveys")) == len(baseline) and not pipeline.consume("calls")

    # Only the comment fix first.
    first = json.loads(pipeline.run("dlq", "replay", "--reason", "COMMENT", "--format", "json").stdout)
    assert (first["replayed"], first["filtered_out"], first["still_invalid"]) == (4, 4, 0)
    pipeline.drain()
    assert nps(pipeline.query("nps_daily")) == expected_nps(baseline + fixed)
    assert pipeline.query("calls_daily") == []

    # Everything, twice: the surveys come again, the call comes twice; each counts once.
    text = pipeline.run("dlq", "replay").stdout.decode()
    assert "re-published 5 of 8 dead letters" in text and "still invalid: 3" in text
    pipeline.drain()
    views = {v: pipeline.query(v) for v in ("nps_daily", "calls_daily", "ingest_daily")}
    assert nps(views["nps_daily"]) == expected_nps(baseline + fixed)
    assert [(r["day"], r["offered"], r["answered"]) for r in views["calls_daily"]] == [(DAY, 1, 1)]
    again = json.loads(pipeline.run("dlq", "replay", "--format", "json").stdout)
    assert (again["replayed"], again["still_invalid"]) == (5, 3)
    pipeline.drain()
    for view in ("nps_daily", "calls_daily"):
        assert pipeline.query(view) == views[view], view

    # The replayed copies carry their origin and original key; the facts hold every copy.
    replayed = [r for r in pipeline.consume("surveys") if "touchpulse.replayed_from" in dict(r.headers)]
    assert len(replayed) == 3 * len(fixed)
    origins = {dict(r.headers)["touchpulse.replayed_from"].decode(): r.key for r in replayed}
    assert origins == {f"{surveys_topic}/0/{5000 + i}": s["response_id"].encode() for i, s in enumerate(fixed)}
    db = pipeline.env["TOUCHPULSE_DATABASE"]
    assert pipeline.sql(f"SELECT count(), uniqExact(event_id) FROM {db}.surveys") == [[15, 7]]
    # One follow-up for the low score, however often it was replayed.
    followups = [json.loads(r.value) for r in pipeline.consume("followups")]
    low = [f for f in followups if f["event_id"] in {s["event_id"] for s in fixed}]
    assert [f["event_id"] for f in low] == ["s102"]

    # Nothing deleted from, nothing added to the dead-letter topic; the still-invalid ones remain listed.
    assert len(pipeline.consume("dlq")) == dlq_records
    shown = json.loads(pipeline.run("dlq", "--format", "json").stdout)
    assert shown["dead_letters"] == dlq_records - 1 and shown["copies_ignored"] == 1
