"""The closed loop end to end: follow-ups out on their topic, the team's updates back in, through
the real broker and worker.

The scenario is made up at run time, not stored: a plain kafka-python client plays the team's
call-back tool. It reads the follow-ups topic as any CRM would, decides for each follow-up what
happens (contacted in time, closed late, never touched, unreachable, closed then re-opened,
updates sent twice, one for an id touchpulse never raised), produces those `followup_update`
events, and the customers who were called back answer a new survey at the win-back window's
edges. `followups_daily` and `followup_queue` must then equal what the test works out itself
from its own decisions, row for row. Then the `touchpulse followups` commands, and their
mistakes (one line, exit 2).
"""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.integration

REGISTRY = """
[defaults]
followup_hours = 48

[touchpoints.call_centre]
name = "Call centre"
followup_hours = 24

[touchpoints.retail_store]
name = "Retail store"
"""
HOURS = {"call_centre": 24, "retail_store": 48}
NOW = datetime.now(timezone.utc).replace(microsecond=0)
US = timedelta(microseconds=1)


def iso(x: datetime) -> str:
    return x.isoformat().replace("+00:00", "Z")


def answer(i: int, tp: str, score: int, at: datetime, customer: str | None, comment: str | None = None) -> dict:
    doc = {"event_id": f"a{i}-{uuid.uuid4().hex[:6]}", "type": "survey", "version": 1, "occurred_at": iso(at),
           "touchpoint": tp, "response_id": f"resp{i}", "score": score}
    if customer:
        doc["customer_id"] = customer
    if comment:
        doc["comment"] = comment
    return doc


def update(fid: str, tp: str, status: str, at: datetime, **extra) -> dict:
    return {"event_id": f"u-{uuid.uuid4().hex}", "type": "followup_update", "version": 1, "occurred_at": iso(at),
            "touchpoint": tp, "followup_id": fid, "status": status, **extra}


def produce(bootstrap: str, topic: str, docs: list[dict], key: str) -> None:
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for d in docs:
            p.send(topic, json.dumps(d).encode(), key=d[key].encode() if d.get(key) else None)
        p.flush()
    finally:
        p.close()


def followups_topic(bootstrap: str, topic: str) -> list[dict]:
    """What a CRM sees: every message on the follow-ups topic, read with kafka-python."""
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    try:
        tps = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic) or set()]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        return [json.loads(r.value) for r in c]
    finally:
        c.close()


def team(followups: list[dict], rng: random.Random) -> tuple[list[dict], list[dict], dict]:
    """What the team (and then the customers) do: (updates to send, later answers, the team's own
    record per followup_id of what it did)."""
    updates, later, record = [], [], {}
    # In the order of the answers (not of the ids, which are random): the same plans every run.
    for n, f in enumerate(sorted(followups, key=lambda f: int(f["response_id"].removeprefix("resp")))):
        fid, tp = f["followup_id"], f["touchpoint"]
        raised = datetime.fromisoformat(f["occurred_at"])
        due = datetime.fromisoformat(f["due_at"])
        plan = ["in_time", "late", "never", "unreachable", "reopened", "contacted_only", "assigned_only"][n % 7]
        sent: list[dict] = []
        if plan == "in_time":
            sent = [update(fid, tp, "assigned", raised + timedelta(hours=1), owner="anna"),
                    update(fid, tp, "contacted", raised + timedelta(hours=2), owner="anna"),
                    update(fid, tp, "closed", due, owner="anna", note="refund agreed")]  # exactly at due: in time
        elif plan == "late":
            sent = [update(fid, tp, "contacted", due - timedelta(hours=1), owner="boris"),
                    update(fid, tp, "closed", due + US, resolution="unresolved", owner="boris")]
        elif plan == "unreachable":
            sent = [update(fid, tp, "closed", raised + timedelta(hours=3), resolution="unreachable")]
        elif plan == "reopened":
            sent = [update(fid, tp, "closed", raised + timedelta(hours=4), owner="anna"),
                    update(fid, tp, "assigned", raised + timedelta(hours=5), owner="boris")]
        elif plan == "contacted_only":
            sent = [update(fid, tp, "contacted", raised + timedelta(minutes=90), owner="boris")]
        elif plan == "assigned_only":
            sent = [update(fid, tp, "assigned", raised + timedelta(minutes=10), owner="anna")]
        rng.shuffle(sent)  # the tool sends them in any order
        updates += sent + sent[:1]  # and the first one twice (a retry)
        state = max(sent, key=lambda u: (u["occurred_at"], u["event_id"])) if sent else None
        record[fid] = {"sent": sent, "state": state}
        closed = state is not None and state["status"] == "closed"
        if closed and f["customer_id"]:  # the customer answers again, at the window's edges
            at = datetime.fromisoformat(state["occurred_at"].replace("Z", "+00:00"))
            edge = [US, timedelta(days=30), timedelta(days=30) + US, timedelta(0)][n % 4]
            later.append(answer(1000 + n, tp, 10, at + edge, f["customer_id"]))
    updates.append(update("not-a-followup", "call_centre", "closed", NOW))  # another system's id
    return updates, later, record


def expected_views(followups: list[dict], record: dict, surveys: list[dict]) -> tuple[list[dict], list[dict]]:
    """followups_daily and followup_queue worked out from the team's own record (docs/metrics.md).
    `surveys` is every answer sent, the first ones too: a customer's earlier promoter answer that
    falls in a closed follow-up's window wins it back as much as the answers after the call-back
    (which follow-ups get closed depends on their ids, random per run)."""
    def t(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    queue = []
    for f in followups:
        r = record[f["followup_id"]]
        state, sent = r["state"], r["sent"]
        raised = t(f["occurred_at"])
        due = raised + timedelta(hours=HOURS[f["touchpoint"]])
        closed = state is not None and state["status"] == "closed"
        reached = [t(u["occurred_at"]) for u in sent if u["status"] == "contacted"
                   or (u["status"] == "closed" and u.get("resolution", "resolved") != "unreachable")]
        won = closed and f["customer_id"] is not None and any(a.get("customer_id") == f["customer_id"] and a["touchpoint"] == f["touchpoint"]
                             and t(state["occurred_at"]) < t(a["occurred_at"]) <= t(state["occurred_at"]) + timedelta(days=30)
                             for a in surveys if a["score"] >= 9)
        queue.append({"followup_id": f["followup_id"], "touchpoint": f["touchpoint"], "day": raised.date().isoformat(),
                      "state": state["status"] if state else "new",
                      "resolution": state.get("resolution", "resolved") if closed else None,
                      "owner": (state or {}).get("owner", ""), "first": min(reached) if reached else None,
                      "closed_at": t(state["occurred_at"]) if closed else None, "due": due, "raised": raised,
                      "overdue": int(not closed and due < datetime.now(timezone.utc)), "won_back": int(won),
                      "comment": f["comment"] or ""})
    daily = defaultdict(list)
    for q in queue:
        daily[(q["day"], q["touchpoint"])].append(q)
    rows = []
    for (day, tp), qs in daily.items():
        closed = [q for q in qs if q["state"] == "closed"]
        hours = sorted((q["first"] - q["raised"]) / timedelta(hours=1) for q in qs if q["first"])
        in_time = sum(1 for q in closed if q["closed_at"] <= q["due"])
        mid = (len(hours) - 1) / 2
        rows.append({"day": day, "touchpoint": tp, "raised": len(qs), "contacted": len(hours), "closed": len(closed),
                     "resolved": sum(q["resolution"] == "resolved" for q in closed), "closed_in_time": in_time,
                     "open": len(qs) - len(closed), "overdue": sum(q["overdue"] for q in qs),
                     "recovered": sum(q["won_back"] for q in qs), "close_rate": len(closed) / len(qs),
                     "in_time_rate": in_time / len(qs),
                     "contact_p50_hours": (hours[int(mid)] + hours[-int(mid) - 1]) / 2 if hours else None})
    return rows, queue


def test_a_third_party_team_closes_the_loop_and_the_views_agree(pipeline, tmp_path):
    registry = tmp_path / "touchpoints.toml"
    registry.write_text(REGISTRY)
    pipeline.env.update(TOUCHPULSE_TOUCHPOINTS=str(registry), TOUCHPULSE_TIMEZONE="UTC")
    pipeline.up()
    rng = random.Random(13)
    answers = []
    for i in range(60):
        tp = rng.choice(list(HOURS))
        at = NOW - timedelta(hours=rng.choice([2, 30, 60, 200, 900]), minutes=rng.randrange(60))
        answers.append(answer(i, tp, rng.choice([0, 3, 6, 7, 8, 9, 10]), at,
                              f"cust{rng.randrange(25)}" if rng.random() < 0.85 else None,
                              rng.choice([None, "nobody called me back", "the queue was too long"])))
    produce(pipeline.bootstrap, pipeline.topic("surveys"), answers + answers[:5], "response_id")
    pipeline.drain()

    followups = followups_topic(pipeline.bootstrap, pipeline.topic("followups"))
    assert len({f["followup_id"] for f in followups}) == sum(a["score"] < 8 for a in answers) == len(followups)
    updates, later, record = team(followups, rng)
    produce(pipeline.bootstrap, pipeline.topic("followup_updates"), updates, "followup_id")
    produce(pipeline.bootstrap, pipeline.topic("surveys"), later, "response_id")
    pipeline.drain()

    want_daily, want_queue = expected_views(followups, record, answers + later)
    got_daily = {(r["day"], r["touchpoint"]): r for r in pipeline.query("followups_daily")}
    assert set(got_daily) == {(r["day"], r["touchpoint"]) for r in want_daily}
    for w in want_daily:
        g = got_daily[(w["day"], w["touchpoint"])]
        assert set(g) == set(w), (sorted(g), sorted(w))
        for col, value in w.items():
            same = g[col] == pytest.approx(value, rel=1e-9) if isinstance(value, float) else g[col] == value
            assert same, (col, w, g)
    assert sum(r["recovered"] for r in want_daily) >= 2 and sum(r["closed_in_time"] for r in want_daily) >= 2
    # ...and a customer whose promoter answer reached the worker before the closing update did.
    assert sum(r["recovered"] for r in expected_views(followups, record, answers)[0]) >= 1

    got_queue = {r["followup_id"]: r for r in pipeline.query("followup_queue")}
    assert set(got_queue) == {q["followup_id"] for q in want_queue}  # the unknown id is nowhere
    for w in want_queue:
        g = got_queue[w["followup_id"]]
        assert (g["state"], g["resolution"], g["owner"], g["overdue"], g["won_back"], g["comment"]) == (
            w["state"], w["resolution"], w["owner"], w["overdue"], w["won_back"], w["comment"]), (w, g)
        first = None if g["first_contact_at"] is None else datetime.fromisoformat(g["first_contact_at"])
        assert (first.replace(tzinfo=timezone.utc) if first and not first.tzinfo else first) == w["first"], (w, g)

    # The team's tools: the list, oldest due first, and its filters.
    listed = json.loads(pipeline.run("followups", "--format", "json").stdout)
    assert [r["followup_id"] for r in listed] == [r["followup_id"] for r in
                                                  sorted(listed, key=lambda r: (r["due_at"], r["followup_id"]))]
    assert len(listed) == len(want_queue)
    overdue = json.loads(pipeline.run("followups", "--overdue", "--format", "json").stdout)
    assert {r["followup_id"] for r in overdue} == {q["followup_id"] for q in want_queue if q["overdue"]} != set()
    anna = json.loads(pipeline.run("followups", "--open", "--owner", "anna", "--touchpoint", "call_centre",
                                   "--format", "json").stdout)
    assert {r["followup_id"] for r in anna} == {q["followup_id"] for q in want_queue if q["owner"] == "anna"
                                                and q["state"] != "closed" and q["touchpoint"] == "call_centre"}
    table = pipeline.run("followups", "--open").stdout.decode()
    assert table.splitlines()[0].split()[:3] == ["due_at", "followup_id", "touchpoint"]

    # `followups update` sends an event; the worker applies it like any other producer's.
    target = next(q for q in want_queue if q["state"] == "new")
    pipeline.run("followups", "update", target["followup_id"], "--status", "closed", "--resolution", "unreachable",
                 "--owner", "carla", "--note", "three calls, no answer")
    pipeline.drain()
    row = {r["followup_id"]: r for r in pipeline.query("followup_queue")}[target["followup_id"]]
    assert (row["state"], row["resolution"], row["owner"], row["note"], row["first_contact_at"], row["overdue"]) == (
        "closed", "unreachable", "carla", "three calls, no answer", None, 0)


MISTAKES = [
    (["update", "F"], "--status"),
    (["update", "F", "--status", "done"], "'done'"),
    (["update", "F", "--status", "contacted", "--resolution", "resolved"], "only given with --status closed"),
    (["update", "F", "--status", "closed", "--resolution", "fixed"], "'fixed'"),
    (["update", "F", "--status", "closed", "--owner", "x" * 129], "field 'owner'"),
    (["update", "no-such-followup", "--status", "closed"], "no follow-up 'no-such-followup'"),
    (["--open", "--overdue"], "not both"),
    (["--format", "xml"], "'xml'"),
    (["--limit", "0"], "--limit"),
]


def test_followups_mistakes_are_one_line_and_exit_2(pipeline):
    pipeline.up()
    for args, words in MISTAKES:
        proc = pipeline.run("followups", *args, check=False)
        err = proc.stderr.decode().strip()
        assert proc.returncode == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, (args, err)
        assert err.startswith("touchpulse: error:") and words in err, (args, err)
    assert pipeline.consume("followup_updates", timeout_ms=500) == []  # nothing was sent


def test_a_bad_update_is_dead_lettered_naming_its_field(pipeline):
    pipeline.up()
    bad = update("f1", "call_centre", "assigned", NOW, resolution="resolved")
    produce(pipeline.bootstrap, pipeline.topic("followup_updates"), [bad], "followup_id")
    pipeline.drain()
    [letter] = pipeline.consume("dlq")
    headers = {k: v.decode() for k, v in letter.headers}
    assert headers["touchpulse.field"] == "resolution" and "closed" in headers["touchpulse.reason"], headers
    assert letter.value == json.dumps(bad).encode()
