"""End to end on Apache Kafka and a ClickHouse server: up, emit, worker --drain, query.

Each step runs as the user compose gives it: `up` as touchpulse_admin, the worker as
touchpulse_writer, `query` as touchpulse_reader, so the run also proves the least-privilege
grants are enough for the pipeline (and the views' SQL SECURITY DEFINER works).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict

import pytest

pytestmark = pytest.mark.docker

DAY = "2024-03-05"


def survey(event: str, response: str, score: int, tp: str, minute: int, **extra) -> dict:
    return {"event_id": event, "type": "survey", "version": 1, "occurred_at": f"{DAY}T10:{minute:02d}:00Z",
            "touchpoint": tp, "response_id": response, "score": score, "customer_id": f"c-{response}", **extra}


def scenario() -> list[dict]:
    events = [survey(f"e{i}", f"r{i}", score, "call_centre", i)
              for i, score in enumerate([10, 9, 8, 7, 3, 0], start=1)]
    events += [survey(f"e{i}", f"r{i}", score, "retail_store", i)
               for i, score in enumerate([10, 10, 9, 6], start=7)]
    events += [
        survey("e11a", "r11", 2, "retail_store", 20),            # first version: a detractor...
        survey("e11b", "r11", 9, "retail_store", 40),            # ...revised later to a promoter
        survey("e12", "r12", 4, "call_centre", 30, brand="rival", kind="relationship"),
    ]
    events.append(dict(events[0]))   # the same event again: a duplicate
    events.append(dict(events[4]))   # a low score re-sent must not raise a second follow-up
    return events


def expected_nps(events: list[dict]) -> list[dict]:
    """nps_daily computed here from the contract (docs/metrics.md), independently of the views."""
    seen, latest = set(), {}
    for e in events:
        if e["event_id"] in seen:
            continue
        seen.add(e["event_id"])
        key = (e["occurred_at"], e["event_id"])
        if e["response_id"] not in latest or key > latest[e["response_id"]][0]:
            latest[e["response_id"]] = (key, e)
    groups = defaultdict(list)
    for _, e in latest.values():
        groups[(e["touchpoint"], e.get("brand", "own"), e.get("kind", "transactional"))].append(e["score"])
    rows = []
    for (tp, brand, kind), scores in sorted(groups.items()):
        n = len(scores)
        p = sum(s >= 9 for s in scores)
        d = sum(s <= 6 for s in scores)
        rows.append({"day": DAY, "touchpoint": tp, "brand": brand, "kind": kind, "responses": n,
                     "promoters": p, "passives": n - p - d, "detractors": d, "nps": 100 * (p - d) / n,
                     "nps_moe95": 196 * math.sqrt(max((p + d) / n - ((p - d) / n) ** 2, 0) / n)})
    return rows


def test_events_flow_from_apache_kafka_to_clickhouse_views_under_least_privilege(deployment):
    deployment.run("up", role="admin")
    events = scenario()
    deployment.run("emit", "-", input=b"\n".join(json.dumps(e).encode() for e in events))
    deployment.produce("surveys", [b"{not json", json.dumps(survey("e99", "r99", 11, "call_centre", 50)).encode()])

    deployment.run("worker", "--drain", role="writer")

    rows = deployment.query("nps_daily", "--from", DAY, "--to", DAY)
    want = expected_nps(events)
    assert [(r["touchpoint"], r["brand"], r["kind"]) for r in rows] == \
           [(w["touchpoint"], w["brand"], w["kind"]) for w in want]
    for got, exp in zip(rows, want):
        assert str(got["day"])[:10] == exp["day"]
        for col in ("responses", "promoters", "passives", "detractors"):
            assert got[col] == exp[col], (exp["touchpoint"], col)
        assert got["nps"] == pytest.approx(exp["nps"], abs=1e-9)
        assert got["nps_moe95"] == pytest.approx(exp["nps_moe95"], abs=1e-9)

    dead = deployment.consume("dlq")
    assert len(dead) == 2, "both malformed messages reach the dead-letter topic"
    followups = [json.loads(r.value) for r in deployment.consume("followups")]
    low = {e["event_id"]: e["response_id"] for e in events if e["score"] < 8}
    assert sorted(f["event_id"] for f in followups) == sorted(low), "one follow-up per low answer, none twice"
    assert {f["response_id"] for f in followups} == set(low.values())


def test_the_cli_as_the_writer_is_refused_the_views_in_one_line_without_secrets(deployment):
    deployment.run("up", role="admin")
    proc = deployment.run("query", "nps_daily", "--format", "json", role="writer", check=False)
    err = proc.stderr.decode()
    assert proc.returncode != 0, "the writer must not read the metric views"
    assert "Traceback" not in err
    assert "ACCESS_DENIED" in err or "Not enough privileges" in err
    assert deployment.clickhouse.passwords["writer"] not in err
