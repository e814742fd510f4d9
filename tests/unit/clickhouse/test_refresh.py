"""The refresh (touchpulse/clickhouse/rollups.py) on real chDB: the refreshed tables must say
what a computation over all raw facts says, whatever order versions and copies arrive in."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from tests.oracle.warehouse import Warehouse
from touchpulse.clickhouse.refresh import pending_batches, rebuild, refresh_pending

UTC = timezone.utc


@pytest.fixture
def wh(chdb_client):
    return Warehouse(chdb_client, f"r_{uuid.uuid4().hex[:12]}", "UTC")


def survey(event_id: str, rid: str, score: int, at: str, tp: str = "call_centre") -> tuple:
    body = {"event_id": event_id, "type": "survey", "version": 1, "occurred_at": at, "touchpoint": tp,
            "response_id": rid, "score": score}
    return ("surveys", json.dumps(body).encode(), None)


def nps_days(wh: Warehouse) -> dict:
    return {(str(r["day"]), r["touchpoint"]): (r["responses"], r["promoters"], r["detractors"])
            for r in wh.view("nps_daily")}


def live(wh: Warehouse, table: str = "surveys") -> list[tuple]:
    refresh_pending(wh.client, wh.database, "UTC")
    return wh.client.query(f"SELECT response_id, event_id, toDate(occurred_at) FROM `{wh.database}`.{table}_current "
                           "FINAL ORDER BY response_id").result_rows


def test_a_later_version_on_another_day_leaves_the_old_day_empty(wh):
    wh.send([survey("e1", "r1", 10, "2024-05-10T12:00:00Z")])
    assert nps_days(wh) == {("2024-05-10", "call_centre"): (1, 1, 0)}
    wh.send([survey("e2", "r1", 3, "2024-05-12T09:00:00Z")])  # the same answer, corrected two days later
    assert nps_days(wh) == {("2024-05-12", "call_centre"): (1, 0, 1)}
    assert [(r, e, str(d)) for r, e, d in live(wh)] == [("r1", "e2", "2024-05-12")]


def test_an_earlier_copy_of_an_event_moves_its_version_to_the_copys_entity(wh):
    """First copy by arrival wins, even if it arrives (is written) after a later copy."""
    late = wh.message("surveys", survey("e1", "rA", 10, "2024-05-10T12:00:00Z")[1],
                      at=datetime(2024, 5, 10, 12, 5, tzinfo=UTC))
    wh.write([late])
    assert [r for r, _, _ in live(wh)] == ["rA"]
    early = wh.message("surveys", survey("e1", "rB", 2, "2024-05-11T12:00:00Z")[1],
                       at=datetime(2024, 5, 10, 12, 1, tzinfo=UTC))
    wh.write([early])
    assert [(r, str(d)) for r, _, d in live(wh)] == [("rB", "2024-05-11")]
    assert nps_days(wh) == {("2024-05-11", "call_centre"): (1, 0, 1)}


def test_refreshing_again_or_rebuilding_changes_nothing(wh):
    wh.send([survey(f"e{i}", f"r{i % 7}", i % 11, f"2024-05-{10 + i % 5:02d}T{i % 24:02d}:00:00Z",
                    tp=("chat", "billing")[i % 2]) for i in range(60)])
    first = nps_days(wh)
    assert sum(n for n, _, _ in first.values()) == 7  # seven answers, many versions each
    assert not refresh_pending(wh.client, wh.database, "UTC")  # nothing queued any more
    rebuilt = rebuild(wh.client, wh.database, "UTC")
    assert rebuilt.entities["surveys"] == 7
    assert nps_days(wh) == first
    assert wh.view("calls_daily") == []


def test_a_queued_batch_survives_a_crash_before_its_refresh(wh):
    """The writer queues before it writes; whoever refreshes next (here: a new 'worker') sees it."""
    wh.write([wh.message("surveys", survey("e1", "r1", 9, "2024-05-10T12:00:00Z")[1])])
    assert pending_batches(wh.client, wh.database) == 1
    assert wh.client.query(f"SELECT count() FROM `{wh.database}`.surveys_current").result_rows == [(0,)]  # not yet
    result = refresh_pending(wh.client, wh.database, "UTC")
    assert result.batches == 1 and result.entities["surveys"] == 1
    assert pending_batches(wh.client, wh.database) == 0
    assert nps_days(wh) == {("2024-05-10", "call_centre"): (1, 1, 0)}


def test_a_time_zone_change_moves_days_in_the_aggregates(wh):
    wh.send([survey("e1", "r1", 10, "2024-05-10T22:30:00Z")])
    assert set(nps_days(wh)) == {("2024-05-10", "call_centre")}
    rebuild(wh.client, wh.database, "Europe/Moscow", entities=False)  # +03:00: already the 11th there
    rows = wh.client.query(f"SELECT day, n FROM `{wh.database}`.survey_days FINAL WHERE sentinel = 0").result_rows
    assert [(str(d), n) for d, n in rows] == [("2024-05-11", 1)]


def order(event_id: str, oid: str, status: str, at: str) -> tuple:
    body = {"event_id": event_id, "type": "purchase", "version": 1, "occurred_at": at, "touchpoint": "retail_store",
            "order_id": oid, "amount": "10.00", "currency": "EUR", "customer_id": "c1", "status": status}
    return ("purchases", json.dumps(body).encode(), None)


def test_a_snapshot_view_follows_its_source_down_to_empty(wh):
    """purchases_daily is recomputed whole into a table: a refund must empty it, not leave the
    previous recomputation visible."""
    wh.send([order("p1", "o1", "completed", "2024-05-10T12:00:00Z")])
    assert [(str(r["day"]), r["orders"]) for r in wh.view("purchases_daily")] == [("2024-05-10", 1)]
    assert len(wh.view("loyalty_monthly")) == 1
    wh.send([order("p2", "o1", "refunded", "2024-05-10T13:00:00Z")])
    assert wh.view("purchases_daily") == []
    assert wh.view("loyalty_monthly") == []
