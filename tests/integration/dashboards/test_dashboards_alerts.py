"""The alert rules' SQL on chDB: it fires exactly where the rule says, and stays quiet on noise."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from touchpulse.dashboards.alerts import alert_rules
from touchpulse.dashboards.model import Context

pytestmark = pytest.mark.integration

DB = "dash_alerts"
TODAY = date(2025, 3, 17)
NOW = "toDateTime('2025-03-17 09:00:00', 'Europe/Moscow')"


@pytest.fixture(scope="module")
def client(chdb_client):
    """Stand-ins for the three views the rules read, with hand-picked numbers."""
    c = chdb_client
    c.command(f"DROP DATABASE IF EXISTS {DB}")
    c.command(f"CREATE DATABASE {DB}")
    c.command(f"CREATE TABLE {DB}.nps_daily (day Date32, touchpoint String, brand String, kind String, "
              f"responses UInt64, promoters UInt64, passives UInt64, detractors UInt64) ENGINE = Memory")
    c.command(f"CREATE TABLE {DB}.calls_daily (day Date32, touchpoint String, offered UInt64, answered_in_sla UInt64, "
              f"short_abandoned UInt64) ENGINE = Memory")
    c.command(f"CREATE TABLE {DB}.reviews_overdue (touchpoint String, review_id String) ENGINE = Memory")
    c.command(f"CREATE TABLE {DB}.followup_queue (touchpoint String, followup_id String, overdue UInt8) "
              "ENGINE = Memory")
    rows = []

    def days(first: int, last: int, tp: str, n: int, p: int, d: int, brand: str = "own"):
        for k in range(first, last + 1):  # k days before today
            rows.append([TODAY - timedelta(days=k), tp, brand, "transactional", n, p, n - p - d, d])

    for tp in ("falling", "steady", "sparse", "improving"):
        days(8, 35, tp, 20, 10, 2)                 # baseline NPS 40 on 560 answers
    days(1, 7, "falling", 20, 5, 7)                # NPS -10: a 50-point fall, far beyond the margin
    days(1, 7, "steady", 20, 9, 2)                 # NPS 35: 5 points, inside the margin (~11)
    days(1, 7, "sparse", 2, 0, 2)                  # NPS -100 but only 14 answers: not enough to judge
    days(1, 7, "improving", 20, 15, 1)
    days(0, 0, "steady", 50, 0, 50)                # today is not a full day yet: ignored
    days(36, 40, "steady", 50, 50, 0)              # older than the baseline: ignored
    days(8, 35, "rival_drop", 20, 10, 2, brand="rival")
    days(1, 7, "rival_drop", 20, 0, 20, brand="rival")  # competitors' falls are not our alert
    c.insert(f"{DB}.nps_daily", rows, column_names=["day", "touchpoint", "brand", "kind", "responses", "promoters",
                                                    "passives", "detractors"])
    c.insert(f"{DB}.calls_daily", [
        [TODAY, "slow", 100, 50, 10], [TODAY, "fine", 100, 90, 0], [TODAY, "quiet", 10, 1, 0],
        [TODAY - timedelta(days=1), "yesterday_only", 100, 10, 0]],
        column_names=["day", "touchpoint", "offered", "answered_in_sla", "short_abandoned"])
    c.insert(f"{DB}.reviews_overdue", [["shop", "r1"], ["shop", "r2"], ["app", "r3"]],
             column_names=["touchpoint", "review_id"])
    queue = [["behind", f"b{i}", 1] for i in range(11)] + [["behind", "b-open", 0]]  # 11 overdue: fires
    queue += [["coping", f"c{i}", 1] for i in range(10)] + [["coping", f"c-open{i}", 0] for i in range(30)]
    c.insert(f"{DB}.followup_queue", queue, column_names=["touchpoint", "followup_id", "overdue"])
    yield c
    c.command(f"DROP DATABASE IF EXISTS {DB}")


def evaluate(client, rule) -> tuple[dict[str, float], dict[str, float]]:
    """Run query A and apply threshold C the way Grafana does for numeric (table) data."""
    sql = rule["data"][0]["model"]["rawSql"].replace("now()", NOW)
    values = {tp: value for tp, value in client.query(sql).result_rows}
    evaluator = rule["data"][1]["model"]["conditions"][0]["evaluator"]
    limit = evaluator["params"][0]
    fire = (lambda v: v > limit) if evaluator["type"] == "gt" else (lambda v: v < limit)
    return {tp: v for tp, v in values.items() if fire(v)}, values


@pytest.fixture(scope="module")
def rules():
    ctx = Context(datasource_uid="ch", database=DB, timezone="Europe/Moscow", touchpoints=(),
                  service_level_target=0.8)
    return {r["uid"]: r for r in alert_rules(ctx, "folder")}


def test_nps_drop_fires_only_beyond_the_margin_with_enough_answers(client, rules):
    fired, values = evaluate(client, rules["touchpulse-nps-drop"])
    assert set(fired) == {"falling"}
    assert set(values) == {"falling", "steady", "improving"}  # sparse: too few answers; rival: not our brand
    assert values["steady"] < 0 < values["falling"]
    # by hand: recent p=.25 d=.35 over 140, baseline p=.5 d=.1 over 560
    recent = 196 * ((0.6 - 0.1 ** 2) / 140) ** 0.5
    base = 196 * ((0.6 - 0.4 ** 2) / 560) ** 0.5
    assert values["falling"] == pytest.approx(50 - (recent ** 2 + base ** 2) ** 0.5)


def test_service_level_fires_under_the_goal_today_only(client, rules):
    fired, values = evaluate(client, rules["touchpulse-service-level"])
    assert fired == {"slow": pytest.approx(50 / 90)}
    assert set(values) == {"slow", "fine"}  # quiet: too few calls to judge; yesterday's not today


def test_overdue_reviews_fire_per_touchpoint(client, rules):
    fired, _ = evaluate(client, rules["touchpulse-reviews-overdue"])
    assert fired == {"shop": 2.0, "app": 1.0}


def test_overdue_followups_fire_past_the_threshold_only(client, rules):
    from touchpulse.dashboards.alerts import OVERDUE_FOLLOWUPS
    fired, values = evaluate(client, rules["touchpulse-followups-overdue"])
    assert OVERDUE_FOLLOWUPS == 10
    assert fired == {"behind": 11.0}  # 10 overdue is at the threshold, not past it; open ones never count
    assert values == {"behind": 11.0, "coping": 10.0}
