"""Events in through a real broker, the Faust worker in drain mode, facts and views out."""

from __future__ import annotations

import json
import random

import pytest

pytestmark = pytest.mark.integration


def survey(i: int, score: int, day: str = "2026-03-10", tp: str = "call_centre", **extra) -> dict:
    return {"event_id": f"s{i}", "type": "survey", "version": 1, "occurred_at": f"{day}T10:{i % 60:02d}:00+03:00",
            "touchpoint": tp, "response_id": f"r{i}", "score": score, "customer_id": f"cust{i}", **extra}


def call(i: int, answered_after: float | None, tp: str = "call_centre") -> dict:
    ev = {"event_id": f"c{i}", "type": "call", "version": 1, "occurred_at": "2026-03-10T09:10:00Z",
          "touchpoint": tp, "call_id": f"call{i}", "queued_at": "2026-03-10T09:00:00Z",
          "ended_at": "2026-03-10T09:10:00Z"}
    if answered_after is not None:
        ev["answered_at"] = f"2026-03-10T09:00:{answered_after:09.6f}Z"
    return ev


def b(doc: dict) -> bytes:
    return json.dumps(doc).encode()


def test_events_to_views_dead_letters_and_followups(pipeline):
    pipeline.up()
    rng = random.Random(3)
    surveys = [survey(i, rng.randint(0, 10), tp=rng.choice(["call_centre", "retail_store", "new_kiosk"]))
               for i in range(300)]
    records = [("surveys", b(s), s["response_id"].encode()) for s in surveys]
    records += [("surveys", b(s), None) for s in surveys[:20]]  # duplicates, re-sent
    records += [("calls", b(call(i, rng.choice([None, 5.0, 20.0, 20.000001, 50.0]))), None) for i in range(50)]
    records.append(("purchases", b({"event_id": "p1", "type": "purchase", "version": 1,
                                    "occurred_at": "2026-03-10T12:00:00Z", "touchpoint": "retail_store",
                                    "order_id": "o1", "amount": "19.99", "currency": "EUR"}), None))
    bad = {
        "not json": ("surveys", b"{not json", None),
        "invalid utf-8": ("surveys", b'{"event_id": "\xff\xfe"}', None),
        "not an object": ("calls", b"[1, 2, 3]", None),
        "score out of range": ("surveys", b(survey(900, 11)), None),
        "no offset": ("surveys", b({**survey(901, 5), "occurred_at": "2026-03-10T10:00:00"}), None),
        "wrong topic": ("calls", b(survey(902, 5)), None),
        "too big": ("surveys", b({**survey(903, 5), "comment": "x" * 70_000}), None),
        "tombstone": ("surveys", None, b"k"),
    }
    records += list(bad.values())
    rng.shuffle(records)
    pipeline.produce(records)

    pipeline.drain()

    # Facts: every accepted message, duplicates included (views de-duplicate).
    assert pipeline.sql(f"SELECT count() FROM {pipeline.env['TOUCHPULSE_DATABASE']}.surveys")[0][0] == 320
    # nps_daily equals an independent computation over the distinct responses.
    expected = {}
    for s in surveys:
        key = ("2026-03-10", s["touchpoint"])
        p, d, n = expected.get(key, (0, 0, 0))
        expected[key] = (p + (s["score"] >= 9), d + (s["score"] <= 6), n + 1)
    rows = pipeline.query("nps_daily")
    assert {(r["day"], r["touchpoint"]): (r["promoters"], r["detractors"], r["responses"]) for r in rows} == expected
    for r in rows:
        p, d, n = expected[(r["day"], r["touchpoint"])]
        assert r["nps"] == pytest.approx(100 * (p - d) / n)
        assert r["brand"] == "own" and r["kind"] == "transactional"

    # Dead letters: every malformed message, original bytes, source position and a reason naming the field.
    dlq = pipeline.consume("dlq")
    assert len(dlq) == len(bad)
    by_value = {rec.value: dict(rec.headers) for rec in dlq}
    for topic, value, _key in bad.values():
        headers = by_value[value if value is not None else b""] if value is not None else \
            next(h for v, h in by_value.items() if b"tombstone" in h["touchpulse.reason"])
        assert headers["touchpulse.source_topic"] == pipeline.topic(topic).encode()
        assert int(headers["touchpulse.source_offset"]) >= 0
        assert headers["touchpulse.reason"]
    reasons = {v: h["touchpulse.reason"].decode() for v, h in by_value.items()}
    assert "field 'score'" in reasons[bad["score out of range"][1]]
    assert "field 'occurred_at'" in reasons[bad["no offset"][1]]
    assert "field 'type'" in reasons[bad["wrong topic"][1]]
    assert "65536" in reasons[bad["too big"][1]]

    # Follow-ups: one per distinct low score, none for the re-sent duplicates.
    followups = [json.loads(r.value) for r in pipeline.consume("followups")]
    low = {s["response_id"] for s in surveys if s["score"] < 8}
    assert sorted(f["response_id"] for f in followups) == sorted(low)
    f = followups[0]
    assert set(f) >= {"followup_id", "response_id", "customer_id", "touchpoint", "score", "comment", "due_at"}

    # Pipeline health counts the same story.
    health = {r["type"]: r for r in pipeline.query("ingest_daily")}
    assert health["survey"]["accepted"] == 300 and health["survey"]["duplicates"] == 20
    assert sum(r["rejected"] for r in health.values()) == len(bad)

    # Service level: waits of exactly 20 s count, 20.000001 s does not.
    calls = pipeline.query("calls_daily")[0]
    assert calls["offered"] == 50
    assert calls["answered_in_sla"] == pipeline.sql(
        "SELECT countIf(answered_at IS NOT NULL AND dateDiff('microsecond', queued_at, answered_at) <= 20000000) "
        f"FROM {pipeline.env['TOUCHPULSE_DATABASE']}.calls")[0][0]


def test_drain_twice_changes_nothing_and_empty_drain_exits_zero(pipeline):
    pipeline.up()
    pipeline.drain()  # nothing there yet
    pipeline.produce([("surveys", b(survey(i, i % 11)), None) for i in range(40)])
    pipeline.drain()
    first = pipeline.query("nps_daily")
    pipeline.up()  # idempotent
    pipeline.drain()  # committed offsets: nothing re-read
    assert pipeline.query("nps_daily") == first
    assert len(pipeline.consume("followups")) == sum(1 for i in range(40) if i % 11 < 8)
    # Every batch kept the views right; recomputing everything from the raw facts agrees.
    assert "equals its recomputation" in pipeline.run("reconcile").stderr.decode()
    assert "rebuilt" in pipeline.run("reconcile", "--repair").stderr.decode()
    assert pipeline.query("nps_daily") == first


def test_reconcile_before_up_is_one_line_and_exit_2(pipeline):
    proc = pipeline.run("reconcile", check=False)
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2 and "touchpulse up" in err and len(err.splitlines()) == 1, err


def test_emit_refuses_broken_lines_with_their_number(pipeline, tmp_path):
    pipeline.up()
    good = json.dumps(survey(1, 9))
    broken = json.dumps({**survey(2, 9), "score": "nine"})
    f = tmp_path / "events.jsonl"
    f.write_text(f"{good}\n\n{broken}\n")
    proc = pipeline.run("emit", str(f), check=False)
    assert proc.returncode == 2
    err = proc.stderr.decode().strip()
    assert err.count("\n") == 0 and "line 3" in err and "field 'score'" in err and "Traceback" not in err
    assert pipeline.consume("surveys") == []  # nothing sent

    pipeline.run("emit", "--raw", str(f))
    assert len(pipeline.consume("surveys")) == 2
    pipeline.run("emit", "-", input=good.replace('"s1"', '"s9"').encode())
    assert len(pipeline.consume("surveys")) == 3
