"""Read one day's report data from ClickHouse: additive counts from the contract views.

Where a view only has a non-additive column (a median, an average) the report needs over a
different grouping, the query goes to the `*_latest` views, which apply the same winning-
version rule as every metric. All values are bound parameters; identifiers come from settings.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from touchpulse.clickhouse.schema import q
from touchpulse.core.business_time import business_zone, day_bounds_utc
from touchpulse.core.touchpoints import Registry
from touchpulse.report import resolution, stats
from touchpulse.report.model import (CallCounts, DayOrders, NpsCounts, ReportData, ReviewStats, Sums, Windows)
from touchpulse.report.verdict import Overdue, OverdueFollowup

RECENT_FOLLOWUPS = 12

# sumIf over the three windows: the day, the 7 days before, the 28 days before.
_WINDOW_IF = {"day": "day = {d:Date}", "base7": "day >= {d:Date} - 7 AND day < {d:Date}",
              "base28": "day >= {d:Date} - 28 AND day < {d:Date}"}


def _sums(columns: list[str]) -> str:
    return ",\n    ".join(f"sumIf({c}, {cond}) AS {c}_{w}" for w, cond in _WINDOW_IF.items() for c in columns)


def _windows(row: dict, columns: list[str], make) -> Windows:
    return Windows(*(make(*(int(row[f"{c}_{w}"]) for c in columns)) for w in _WINDOW_IF))


def _rows(client, sql: str, params: dict) -> list[dict]:
    result = client.query(sql, parameters=params)
    return [dict(zip(result.column_names, r)) for r in result.result_rows]


def collect(client, database: str, day: date, tz: str, registry: Registry, *,
            now: datetime | None = None) -> ReportData:
    """Everything the report shows about `day` (a business day in zone `tz`)."""
    db = q(database)
    zone = business_zone(tz)
    start, end = day_bounds_utc(day, zone)
    now = now or datetime.now(timezone.utc)
    as_of = min(end, now)  # follow-ups and reviews late "as of" the end of the reported day
    p = {"d": day}

    nps_cols = ["promoters", "detractors", "responses"]
    nps = {r["touchpoint"]: _windows(r, nps_cols, NpsCounts) for r in _rows(client, f"""
SELECT touchpoint, {_sums(nps_cols)}
FROM {db}.nps_daily WHERE brand = 'own' AND day >= {{d:Date}} - 28 AND day <= {{d:Date}}
GROUP BY touchpoint ORDER BY touchpoint""", p)}
    trend = {r["day"]: NpsCounts(int(r["p"]), int(r["dt"]), int(r["n"])) for r in _rows(client, f"""
SELECT day, sum(promoters) AS p, sum(detractors) AS dt, sum(responses) AS n
FROM {db}.nps_daily WHERE brand = 'own' AND day >= {{d:Date}} - 34 AND day <= {{d:Date}}
GROUP BY day ORDER BY day""", p)}
    benchmark = {r["brand"]: NpsCounts(int(r["p"]), int(r["dt"]), int(r["n"])) for r in _rows(client, f"""
SELECT brand, sum(promoters) AS p, sum(detractors) AS dt, sum(responses) AS n
FROM {db}.nps_daily WHERE kind = 'relationship' AND day >= {{d:Date}} - 27 AND day <= {{d:Date}}
GROUP BY brand ORDER BY brand""", p)}

    call_cols = ["offered", "answered", "short_abandoned", "answered_in_sla"]
    calls = {r["touchpoint"]: _windows(r, call_cols, CallCounts) for r in _rows(client, f"""
SELECT touchpoint, {_sums(call_cols)}
FROM {db}.calls_daily WHERE day >= {{d:Date}} - 28 AND day <= {{d:Date}}
GROUP BY touchpoint ORDER BY touchpoint""", p)}
    missed, offered, base = [0] * 24, [0] * 24, [0.0] * 24
    for r in _rows(client, f"""
SELECT hour, sumIf(unanswered, day = {{d:Date}}) AS missed, sumIf(offered, day = {{d:Date}}) AS offered,
    sumIf(unanswered, day < {{d:Date}}) / 7 AS base
FROM {db}.calls_hourly WHERE day >= {{d:Date}} - 7 AND day <= {{d:Date}}
GROUP BY hour""", p):
        h = int(r["hour"])
        missed[h], offered[h], base[h] = int(r["missed"]), int(r["offered"]), float(r["base"])

    reviews = _reviews(client, db, p, as_of, registry, tz)
    ratings = _sum_windows(client, f"FROM {db}.reviews_latest", "toFloat64(rating)", "posted_at", p, tz)

    currency = _main_currency(client, db, p)
    orders = [DayOrders(r["day"], int(r["orders"]), float(r["revenue"]), int(r["customers"]),
                        int(r["repeat_customers"])) for r in _rows(client, f"""
SELECT day, sum(orders) AS orders, sum(revenue) AS revenue, sum(customers) AS customers,
    sum(repeat_customers) AS repeat_customers
FROM {db}.purchases_daily WHERE currency = {{c:String}} AND day >= {{d:Date}} - 28 AND day <= {{d:Date}}
GROUP BY day ORDER BY day""", {**p, "c": currency})]
    checks = _sum_windows(client, f"FROM {db}.purchases_latest WHERE status = 'completed' AND currency = {{c:String}}",
                          "toFloat64(amount)", "occurred_at", {**p, "c": currency}, tz)

    return ReportData(
        day=day, timezone=tz, generated_at=now.astimezone(zone),
        names={slug: tp.name for slug, tp in registry.touchpoints.items()},
        nps=nps, nps_trend=trend, benchmark=benchmark, calls=calls,
        sla_seconds={slug: registry.targets(slug).sla_answer_seconds for slug in calls},
        missed_by_hour=missed, offered_by_hour=offered, missed_by_hour_base7=base,
        reviews=reviews, ratings=ratings, currency=currency, orders=orders, checks=checks,
        overdue=_overdue(client, db, as_of, start, zone),
        resolution=resolution.collect(client, database, day, registry),
    )


def _sum_windows(client, source: str, expr: str, ts_col: str, params: dict, tz: str) -> Windows:
    """sum, sum of squares and count of `expr` per window, the day taken from `ts_col` in zone `tz`."""
    day = f"toDate32({ts_col}, {{tz:String}})"
    cols = ",\n    ".join(
        f"sumIf({expr}, {cond.replace('day', day)}) AS s_{w}, sumIf(pow({expr}, 2), {cond.replace('day', day)}) AS "
        f"sq_{w}, countIf({cond.replace('day', day)}) AS n_{w}" for w, cond in _WINDOW_IF.items())
    where = " AND " if " WHERE " in source else " WHERE "
    row = _rows(client, f"SELECT {cols}\n{source}{where}{day} >= {{d:Date}} - 28 AND {day} <= {{d:Date}}",
                {**params, "tz": tz})[0]
    return Windows(*(Sums(float(row[f"s_{w}"]), float(row[f"sq_{w}"]), int(row[f"n_{w}"])) for w in _WINDOW_IF))


def _reviews(client, db: str, params: dict, as_of: datetime, registry: Registry, tz: str) -> dict[str, ReviewStats]:
    """Reply rate and time per touchpoint over the 28 days up to the day, and reviews late as of `as_of`."""
    counts = {r["touchpoint"]: r for r in _rows(client, f"""
SELECT touchpoint, sum(reviews) AS reviews, sum(replied) AS replied, sum(replied_in_sla) AS in_time
FROM {db}.reviews_daily WHERE day >= {{d:Date}} - 27 AND day <= {{d:Date}}
GROUP BY touchpoint""", params)}
    # Targets join like the views do: a touchpoint the registry does not list gets the default.
    late_sql = f"""
SELECT r.touchpoint AS touchpoint,
    quantileExactInclusiveIf(0.5)(dateDiff('microsecond', r.posted_at, r.replied_at) / 3600000000,
                                  r.replied_at IS NOT NULL) AS p50,
    countIf(r.replied_at IS NULL
            AND r.posted_at + toIntervalSecond(toInt64(round(reply_h * 3600))) < {{as_of:DateTime64(6, 'UTC')}}) AS late
FROM {db}.reviews_latest AS r
LEFT JOIN (SELECT touchpoint, toUInt8(1) AS known, max(review_reply_hours) AS hours FROM {db}.touchpoint_targets
           GROUP BY touchpoint) AS t ON t.touchpoint = r.touchpoint
WHERE r.posted_at >= toDateTime64({{d:Date}} - 27, 6, {{tz:String}}) AND r.posted_at < {{as_of:DateTime64(6, 'UTC')}}
GROUP BY touchpoint,
    if(ifNull(t.known, 0) = 1, ifNull(t.hours, {{default_h:Float64}}), {{default_h:Float64}}) AS reply_h"""
    times = {r["touchpoint"]: r for r in _rows(client, late_sql, {**params, "as_of": as_of, "tz": tz,
                                                                  "default_h": registry.defaults.review_reply_hours})}
    out = {}
    for slug, c in sorted(counts.items()):
        t = times.get(slug, {})
        p50 = t.get("p50")
        out[slug] = ReviewStats(int(c["reviews"]), int(c["replied"]), int(c["in_time"]),
                                float(p50) if p50 is not None and int(c["replied"]) else None,
                                registry.targets(slug).review_reply_hours, int(t.get("late") or 0))
    return out


def _main_currency(client, db: str, params: dict) -> str:
    rows = _rows(client, f"""
SELECT currency, sum(orders) AS n FROM {db}.purchases_daily
WHERE day >= {{d:Date}} - 28 AND day <= {{d:Date}} GROUP BY currency ORDER BY n DESC, currency LIMIT 1""", params)
    return rows[0]["currency"] if rows else "EUR"


def _overdue(client, db: str, as_of: datetime, day_start: datetime, zone) -> Overdue:
    """Follow-ups open past their due time as of `as_of`, from the team's queue (`followup_queue`):
    due before it and not closed by then (a follow-up closed later was still open at `as_of`). A
    follow-up closed and re-opened before `as_of` counts by its present state: the queue keeps
    each follow-up's winning update, not the history of its states."""
    params = {"as_of": as_of, "start": day_start, "a7": as_of - timedelta(days=7), "a35": as_of - timedelta(days=35)}
    t = "DateTime64(6, 'UTC')"
    open_then = f"due_at < {{as_of:{t}}} AND (closed_at IS NULL OR closed_at > {{as_of:{t}}})"
    by_tp = {r["touchpoint"]: (int(r["n"]), int(r["on_day"])) for r in _rows(client, f"""
SELECT touchpoint, count() AS n, countIf(due_at >= {{start:{t}}}) AS on_day
FROM {db}.followup_queue WHERE {open_then} GROUP BY touchpoint""", params)}
    oldest = [OverdueFollowup(r["touchpoint"], r["customer_id"], int(r["score"]), r["comment"],
                              _utc(r["occurred_at"]), _utc(r["due_at"])) for r in _rows(client, f"""
SELECT touchpoint, customer_id, score, comment, occurred_at, due_at FROM {db}.followup_queue
WHERE {open_then}
ORDER BY due_at ASC, followup_id LIMIT {RECENT_FOLLOWUPS}""", params)]
    in_time = "closed_at IS NOT NULL AND closed_at <= due_at"
    rates = _rows(client, f"""
SELECT countIf(due_at >= {{a7:{t}}}) AS n7, countIf(due_at >= {{a7:{t}}} AND {in_time}) AS k7,
    countIf(due_at < {{a7:{t}}}) AS n28, countIf(due_at < {{a7:{t}}} AND {in_time}) AS k28
FROM {db}.followup_queue WHERE due_at >= {{a35:{t}}} AND due_at < {{as_of:{t}}}""", params)[0]
    return Overdue(as_of.astimezone(zone), sum(n for n, _ in by_tp.values()), sum(d for _, d in by_tp.values()),
                   by_tp, oldest, stats.proportion(int(rates["k7"]), int(rates["n7"])),
                   stats.proportion(int(rates["k28"]), int(rates["n28"])))


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
