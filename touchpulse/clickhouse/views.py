"""The metric views (docs/metrics.md) as SQL over the refreshed tables of rollups.py.

Winning means: per event_id the first copy to arrive (later copies are duplicates, even if
their content differs), then per entity the greatest (occurred_at, event_id). The refresh
computes that into `<table>_current` and the daily aggregates; views only read them, so a
dashboard query reads days, not ten million facts.
Days are `toDate32(ts, tz)` in the business zone: `toDate` wraps around before 1970.
Targets come from `touchpoint_targets` through a LEFT JOIN that behaves the same whether
or not the reader's session sets `join_use_nulls`. Sums are exact (integers, Decimals) so
that a view reads the same on every query, whatever order the threads add in.
"""

from __future__ import annotations

from touchpulse.clickhouse.rollups import CURRENT, current, latest
from touchpulse.core.touchpoints import Targets

ROLLING_DAYS = 7
# Lapse instants beyond the last DateTime64 value cannot be turned into a month: they never happen.
_MAX_MICROS = "toUnixTimestamp64Micro(toDateTime64('2299-12-31 23:59:59.999999', 6, 'UTC'))"


def current_rows(db: str, table: str, columns: list[str]) -> str:
    """Each entity once, in its winning version, as the last refresh left it (rollups.py)."""
    key = CURRENT[table][0]
    cols = [key, "event_id", "occurred_at", *[c for c in columns if c not in (key, "event_id", "occurred_at")]]
    return f"(\n    SELECT {', '.join(cols)}\n    FROM {current(db, table)}\n)"


def _targets_join(db: str, alias: str, names: list[str]) -> str:
    picks = ", ".join(f"max({n}) AS {n}" for n in names)
    return (f"LEFT JOIN (SELECT touchpoint, toUInt8(1) AS known, {picks} FROM {db}.touchpoint_targets "
            f"GROUP BY touchpoint) AS {alias} ON {alias}.touchpoint = ")


def _target(alias: str, name: str, default: float) -> str:
    """The touchpoint's target, or the registry default for a touchpoint it does not list."""
    return f"if(ifNull({alias}.known, 0) = 1, ifNull({alias}.{name}, {float(default)!r}), {float(default)!r})"


def _nps(p: str, d: str, n: str) -> str:
    return f"100 * (toInt64({p}) - toInt64({d})) / {n}"


def _moe(p: str, d: str, n: str) -> str:
    """196 * sqrt((P + D - (P - D)^2) / n) with P = p/n, D = d/n, rewritten over integer counts
    as 196 * sqrt(((p + d) * n - (p - d)^2) / n^3): never negative, so never NaN."""
    return (f"196 * sqrt((toFloat64({p} + {d}) * {n} - pow(toFloat64(toInt64({p}) - toInt64({d})), 2))"
            f" / pow(toFloat64({n}), 3))")


def _change_columns() -> str:
    """Columns comparing a period with the previous one (nps and prev_* counts already in scope)."""
    return f"""
    prev_responses,
    if(prev_responses = 0, NULL, {_nps('prev_promoters', 'prev_detractors', 'prev_responses')}) AS prev_nps,
    if(prev_responses = 0, NULL, {_moe('prev_promoters', 'prev_detractors', 'prev_responses')}) AS prev_nps_moe95,
    nps - prev_nps AS nps_change,
    sqrt(pow(nps_moe95, 2) + pow(prev_nps_moe95, 2)) AS change_moe95,
    toUInt8(ifNull(abs(nps_change) > change_moe95, 0)) AS significant_change"""


def build_views(db: str, tz: str, d: Targets) -> dict[str, str]:
    """name -> SELECT, in creation order. `db` is a quoted identifier, `tz` a string literal."""
    views: dict[str, str] = {}

    survey_days = f"""(
    SELECT day AS base_day, touchpoint, brand, kind, n, p, pa, d, max(base_day) OVER () AS horizon
    FROM {latest(db, 'survey_days')}
)"""

    # Each day's counts land on that day (k = 0) and, as the previous period, on the next day (k = 1).
    views["nps_daily"] = f"""
SELECT day, touchpoint, brand, kind, responses, promoters, passives, detractors,
    {_nps('promoters', 'detractors', 'responses')} AS nps,
    {_moe('promoters', 'detractors', 'responses')} AS nps_moe95,{_change_columns()}
FROM (
    SELECT addDays(base_day, k) AS day, touchpoint, brand, kind,
        sumIf(n, k = 0) AS responses, sumIf(p, k = 0) AS promoters, sumIf(pa, k = 0) AS passives,
        sumIf(d, k = 0) AS detractors,
        sumIf(n, k = 1) AS prev_responses, sumIf(p, k = 1) AS prev_promoters, sumIf(d, k = 1) AS prev_detractors
    FROM {survey_days}
    ARRAY JOIN [0, 1] AS k
    GROUP BY day, touchpoint, brand, kind
    HAVING responses > 0
)"""

    # A day's counts belong to the windows ending on it and the 6 days after (k < 7), and to
    # the previous, non-overlapping window of the 7 days after those (7 <= k < 14).
    w = ROLLING_DAYS
    views["nps_rolling_7d"] = f"""
SELECT day, touchpoint, brand, kind, responses, promoters, passives, detractors,
    {_nps('promoters', 'detractors', 'responses')} AS nps,
    {_moe('promoters', 'detractors', 'responses')} AS nps_moe95,{_change_columns()}
FROM (
    SELECT addDays(base_day, k) AS day, touchpoint, brand, kind,
        sumIf(n, k < {w}) AS responses, sumIf(p, k < {w}) AS promoters, sumIf(pa, k < {w}) AS passives,
        sumIf(d, k < {w}) AS detractors,
        sumIf(n, k >= {w}) AS prev_responses, sumIf(p, k >= {w}) AS prev_promoters,
        sumIf(d, k >= {w}) AS prev_detractors
    FROM {survey_days}
    ARRAY JOIN range({2 * w}) AS k
    GROUP BY day, touchpoint, brand, kind, horizon
    HAVING responses > 0 AND day <= horizon
)"""

    # From the daily aggregate: waits and abandon times are kept as arrays, so the targets (joined
    # now) and the exact quantile apply to the same values a scan of the calls would see.
    views["calls_daily"] = f"""
SELECT day, touchpoint, offered, answered,
    offered - answered AS abandoned,
    toUInt64(arrayCount(x -> x < short_us, abandons_us)) AS short_abandoned,
    toUInt64(arrayCount(x -> x <= sla_us, waits_us)) AS answered_in_sla,
    if(offered = short_abandoned, NULL, answered_in_sla / (offered - short_abandoned)) AS service_level,
    if(offered = short_abandoned, NULL, (abandoned - short_abandoned) / (offered - short_abandoned)) AS abandon_rate,
    if(answered = 0, NULL, wait_us_sum / answered / 1e6) AS asa_seconds,
    if(answered = 0, NULL, arrayReduce('quantileExactInclusive(0.9)', waits_us) / 1e6) AS wait_p90_seconds,
    if(answered = 0, NULL, toFloat64(handle_sum) / answered) AS aht_seconds
FROM (
    SELECT c.day AS day, c.touchpoint AS touchpoint, c.offered AS offered, c.answered AS answered,
        c.wait_us_sum AS wait_us_sum, c.handle_sum AS handle_sum, c.waits_us AS waits_us,
        c.abandons_us AS abandons_us,
        toInt64(round({_target('t', 'short_abandon_seconds', d.short_abandon_seconds)} * 1e6)) AS short_us,
        toInt64(round({_target('t', 'sla_answer_seconds', d.sla_answer_seconds)} * 1e6)) AS sla_us
    FROM {latest(db, 'call_days')} AS c
    {_targets_join(db, 't', ['sla_answer_seconds', 'short_abandon_seconds'])}c.touchpoint
)"""

    views["calls_hourly"] = f"""
SELECT day, hour, touchpoint, offered, answered, offered - answered AS unanswered
FROM {latest(db, 'call_hours')}"""

    views["reviews_daily"] = f"""
SELECT day, touchpoint, platform,
    count() AS reviews,
    avg(rating) AS avg_rating,
    countIf(is_replied) AS replied,
    countIf(is_in_sla) AS replied_in_sla,
    replied / reviews AS reply_rate,
    if(replied = 0, NULL, quantileExactInclusiveIf(0.5)(reply_us, is_replied) / 3600e6) AS reply_p50_hours
FROM (
    SELECT toDate32(r.posted_at, {tz}) AS day, r.touchpoint AS touchpoint, r.platform AS platform, r.rating AS rating,
        r.replied_at IS NOT NULL AS is_replied,
        ifNull(dateDiff('microsecond', r.posted_at, r.replied_at), 0) AS reply_us,
        is_replied AND reply_us
            <= toInt64(round({_target('t', 'review_reply_hours', d.review_reply_hours)} * 3600e6)) AS is_in_sla
    FROM {current_rows(db, 'reviews', ['touchpoint', 'platform', 'rating', 'posted_at', 'replied_at'])} AS r
    {_targets_join(db, 't', ['review_reply_hours'])}r.touchpoint
)
GROUP BY day, touchpoint, platform"""

    views.update(snapshot_sources(db, tz))
    views["ingest_daily"] = _ingest(db, tz)
    return views


def snapshot_sources(db: str, tz: str) -> dict[str, str]:
    """The views that need every purchase (a customer's first day, a ledger by month): the
    refresh recomputes them into tables (rollups.SNAPSHOTS) when purchases change."""
    return {"purchases_daily": f"""
SELECT day, touchpoint, currency,
    count() AS orders,
    uniqExactIf(customer_id, customer_id != '') AS customers,
    sum(amount) AS revenue,
    toFloat64(revenue) / orders AS avg_check,
    uniqExactIf(customer_id, customer_id != '' AND first_day < day) AS repeat_customers
FROM (
    SELECT toDate32(occurred_at, {tz}) AS day, touchpoint, currency, customer_id, amount,
        min(day) OVER (PARTITION BY customer_id) AS first_day
    FROM {current_rows(db, 'purchases', ['touchpoint', 'customer_id', 'amount', 'currency', 'status'])}
    WHERE status = 'completed'
)
GROUP BY day, touchpoint, currency""", "loyalty_monthly": _loyalty(db, tz)}


def _loyalty(db: str, tz: str) -> str:
    """Per (touchpoint, currency) ledger of identified customers' completed orders, by month.

    Lapses are counted without a customers x months grid: after a customer's k-th purchase
    (k >= 2, at t_k, first at t_1) they are lapsed at a month end E when
    E - t_k > 2 (t_k - t_1) / (k - 1), i.e. E > t_k + floor(2 (t_k - t_1) / (k - 1)) in
    integer microseconds, until their next purchase. That is a +1 in the month holding that
    instant and a -1 in the month of the next purchase; a running sum gives the count.
    """
    def month(ts: str) -> str:
        return f"addDays(toDate32({ts}, {tz}), 1 - toDayOfMonth(toDate32({ts}, {tz})))"

    return f"""
SELECT month, touchpoint, currency, active_customers, orders, revenue,
    toFloat64(revenue) / orders AS mean_check,
    if(intervals = 0, NULL, toFloat64(interval_us) / intervals / 86400e6) AS mean_days_between,
    customers_to_date, revenue_to_date,
    toFloat64(revenue_to_date) / customers_to_date AS revenue_per_customer,
    lapsed_customers
FROM (
    SELECT month, touchpoint, currency, active_customers, orders, revenue, interval_us, intervals,
        sum(new_customers) OVER ledger AS customers_to_date,
        sum(revenue) OVER ledger AS revenue_to_date,
        sum(lapse_delta) OVER ledger AS lapsed_customers
    FROM (
        SELECT ev.1 AS month, touchpoint, currency,
            countIf(ev.2 = 0) AS orders,
            sumIf(amount, ev.2 = 0) AS revenue,
            uniqExactIf(customer_id, ev.2 = 0) AS active_customers,
            countIf(ev.2 = 0 AND k = 1) AS new_customers,
            sumIf(toInt128(t - prev_t), ev.2 = 0 AND k >= 2) AS interval_us,
            countIf(ev.2 = 0 AND k >= 2) AS intervals,
            toInt64(countIf(ev.2 = 1)) - toInt64(countIf(ev.2 = 2)) AS lapse_delta
        FROM (
            SELECT touchpoint, currency, customer_id, k, t, prev_t, amount, month_k, next_month,
                if(lapse_us < {_MAX_MICROS},
                   {month("fromUnixTimestamp64Micro(lapse_us, 'UTC')")},
                   toDate32('2299-12-31')) AS lapse_month
            FROM (
                SELECT touchpoint, currency, customer_id, k,
                    s[k].1 AS t, s[k].3 AS amount, s[k].4 AS month_k,
                    if(k > 1, s[k - 1].1, 0) AS prev_t,
                    if(k > 1, t + intDiv(2 * (t - s[1].1), greatest(k - 1, 1)), {_MAX_MICROS}) AS lapse_us,
                    if(k < length(s), s[k + 1].4, toDate32('2299-12-31')) AS next_month
                FROM (
                    SELECT touchpoint, currency, customer_id,
                        arraySort(groupArray(tuple(toUnixTimestamp64Micro(occurred_at), order_id, amount,
                                                   {month('occurred_at')}))) AS s
                    FROM {current_rows(db, 'purchases', ['touchpoint', 'customer_id', 'amount', 'currency', 'status'])}
                    WHERE status = 'completed' AND customer_id != ''
                    GROUP BY touchpoint, currency, customer_id
                )
                ARRAY JOIN arrayEnumerate(s) AS k
            )
        )
        ARRAY JOIN arrayFilter(e -> e.2 = 0 OR (k >= 2 AND lapse_month < next_month),
                               [(month_k, 0), (lapse_month, 1), (next_month, 2)]) AS ev
        GROUP BY month, touchpoint, currency
    )
    WINDOW ledger AS (PARTITION BY touchpoint, currency ORDER BY month ROWS UNBOUNDED PRECEDING)
)
WHERE orders > 0"""


def _ingest(db: str, tz: str) -> str:
    """Pipeline health by arrival day (Kafka timestamp): every distinct Kafka message once
    (a replayed batch collapses on its position); per type, the first copy of an event_id
    is accepted (on its arrival day) and every other message is a duplicate; dead letters are
    rejected. Counted with hash aggregations (no window over all messages)."""
    from touchpulse.clickhouse.schema import FACT_TABLES  # schema imports this module

    parts = []
    for etype, table in FACT_TABLES.items():
        parts.append(f"SELECT toDate32(first_ts, {tz}) AS day, '{etype}' AS type, count() AS a, "
                     f"toUInt64(0) AS m, toUInt64(0) AS r "
                     f"FROM (SELECT min(src_timestamp) AS first_ts FROM {db}.{table} GROUP BY event_id) "
                     f"GROUP BY day")
        parts.append(f"SELECT toDate32(src_timestamp, {tz}) AS day, '{etype}' AS type, toUInt64(0), "
                     f"uniqExact(src_topic, src_partition, src_offset), toUInt64(0) "
                     f"FROM {db}.{table} GROUP BY day")
    parts.append(f"SELECT toDate32(any(src_timestamp), {tz}) AS day, any(type) AS type, toUInt64(0), toUInt64(0), "
                 f"toUInt64(1) FROM {db}.dead_letters GROUP BY src_topic, src_partition, src_offset")
    unions = "\n    UNION ALL\n    ".join(parts)
    return f"""
SELECT day, type, sum(a) AS accepted, sum(m) - sum(a) AS duplicates, sum(r) AS rejected
FROM (
    {unions}
)
GROUP BY day, type"""
