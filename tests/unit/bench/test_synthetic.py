"""The query year's synthetic facts: the right counts, versions, re-sends and shapes, on real chDB."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from touchpulse.bench.synthetic import DAYS, plan
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.derived.rebuild import rebuild
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import default_registry_path, load_registry

REGISTRY = load_registry(default_registry_path())
END = date(2025, 3, 1)
ROWS = 4000


@pytest.fixture(scope="module")
def year(chdb_client):
    db = f"bench_synth_{uuid.uuid4().hex[:8]}"
    apply_schema(chdb_client, SchemaOptions(db, "UTC"), REGISTRY)
    for _, _, sql in plan(db, ROWS, END, list(REGISTRY.slugs), followup_below=8):
        chdb_client.command(sql)
    rebuild(chdb_client, db, "UTC")  # written without a worker, as the bench does
    yield lambda sql: chdb_client.query(sql.replace("DB.", f"`{db}`.")).result_rows
    chdb_client.command(f"DROP DATABASE IF EXISTS `{db}`")


def test_row_counts(year):
    counts = {t: year(f"SELECT count() FROM DB.{t}")[0][0]
              for t in ("surveys", "calls", "purchases", "reviews", "dead_letters")}
    assert counts == {"surveys": ROWS, "calls": ROWS, "purchases": ROWS // 20, "reviews": ROWS // 200,
                      "dead_letters": ROWS // 300}
    low = year("SELECT countIf(score < 8) FROM DB.surveys")[0][0]
    assert year("SELECT count() FROM DB.followups")[0][0] == low > 0


def test_surveys_cover_the_year_and_every_touchpoint(year):
    first, last, touchpoints, bad_scores = year(
        "SELECT min(occurred_at), max(occurred_at), uniqExact(touchpoint), countIf(score > 10) FROM DB.surveys")[0]
    start = datetime.combine(END - timedelta(days=DAYS), datetime.min.time(), timezone.utc)
    assert start <= first.replace(tzinfo=timezone.utc) < start + timedelta(days=3)
    assert last.replace(tzinfo=timezone.utc) < start + timedelta(days=DAYS + 1)
    assert touchpoints == len(REGISTRY.slugs) == 13
    assert bad_scores == 0


def test_second_versions_and_resends(year):
    rows, events, entities = year("SELECT count(), uniqExact(event_id), uniqExact(response_id) FROM DB.surveys")[0]
    assert rows - events == ROWS // 200  # exact re-sends at another offset
    assert 0.95 < entities / rows < 0.985  # a few % second versions
    winners = year("SELECT count() FROM DB.surveys_latest")[0][0]
    assert winners == entities


def test_nps_follows_the_touchpoint_profiles(year):
    nps = dict(year("SELECT touchpoint, 100 * (countIf(score >= 9) - countIf(score <= 6)) / count() "
                    "FROM DB.surveys GROUP BY touchpoint"))
    assert nps["flagship_store"] > 40 > 0 > nps["billing"] and nps["field_engineers"] < -10


def test_calls_are_consistent(year):
    answered, inbound, backwards = year(
        "SELECT avg(answered_at IS NOT NULL), avg(direction = 'inbound'), "
        "countIf(ended_at < queued_at OR answered_at < queued_at OR ended_at < answered_at) FROM DB.calls")[0]
    assert 0.85 < answered < 0.95 and 0.88 < inbound < 0.96 and backwards == 0
    assert year("SELECT count() FROM DB.calls_daily")[0][0] > 300
    assert year("SELECT count() FROM DB.nps_daily")[0][0] > 300
