"""The views of docs/metrics.md, as SQL over the additive table of sums.py.

A view sums the rows of its days at query time (merged or not, +1 and -1 rows cancel), so it
reads days, never history, and is right as soon as a batch's deltas are in. Targets join at
query time from `touchpoint_targets`, through a LEFT JOIN that behaves the same whether or not
the reader's session sets `join_use_nulls`, so a changed target re-states history. Days are
`toDate32(ts, tz)` in the business zone (`toDate` wraps around before 1970), fixed when the
deltas are written: `touchpulse up` rebuilds the sums after a change of time zone.
"""

from __future__ import annotations

from touchpulse.clickhouse.quoting import literal
from touchpulse.core.metrics import nps_moe_sql, nps_sql, ratio_sql, weighted_quantile_sql
from touchpulse.core.touchpoints import Targets
from touchpulse.derived.spec import FACT_TABLE, NO_TIME, key
from touchpulse.derived.changes import state_table
from touchpulse.derived.sums import stored, summed

ROLLING_DAYS = 7
CONTRACT_VIEWS = ("nps_daily", "calls_daily", "calls_hourly", "reviews_daily", "purchases_daily",
                  "calls_resolution_daily", "agents_daily", "followups_daily")
EXTRA_VIEWS = ("nps_rolling_7d", "loyalty_monthly", "ingest_daily", "callbacks_hourly", "fcr_settled",
               "followup_queue", "followups_open")
# Winning-version columns of the *_latest views, entity key first.
LATEST_COLUMNS = {
    "call": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "direction", "queued_at",
             "answered_at", "ended_at", "hold_seconds", "wrap_seconds", "agent_id"],
    "purchase": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "amount", "currency",
                 "item_count", "status"],
    "review": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "platform", "rating",
               "posted_at", "replied_at", "text"],
    "survey": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "score", "kind", "brand",
               "interaction_id", "comment"],
    "followup_update": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "status", "resolution",
                        "owner", "note"],
}


def targets_join(db: str, alias: str, names: list[str]) -> str:
    picks = ", ".join(f"max({n}) AS {n}" for n in names)
    return (f"LEFT JOIN (SELECT touchpoint, toUInt8(1) AS known, {picks} FROM {db}.touchpoint_targets "
            f"GROUP BY touchpoint) AS {alias} ON {alias}.touchpoint = ")


def target(alias: str, name: str, default: float) -> str:
    """The touchpoint's target, or the registry default for a touchpoint it does not list."""
    return f"if(ifNull({alias}.known, 0) = 1, ifNull({alias}.{name}, {float(default)!r}), {float(default)!r})"


def target_text(alias: str, name: str, default: str) -> str:
    """A text target (service_level_base), or the registry default."""
    return f"if(ifNull({alias}.known, 0) = 1, {alias}.{name}, {literal(default)})"


def repeat_window_us(alias: str, default: float) -> str:
    return f"toInt64(round({target(alias, 'repeat_window_hours', default)} * 3600e6))"


def settled(day: str, window_us: str, tz: str) -> str:
    """A day's first-contact resolution is final once its end (the next midnight in the business
    zone) plus the repeat window is not after now (fcr_settled)."""
    return f"toDateTime64(addDays({day}, 1), 6, {tz}) + toIntervalMicrosecond({window_us}) <= now64(6)"


def agent_rows(db: str, tz: str, default_window_h: float) -> str:
    """Answered calls per agent before any grouping: the agent sums (answered, handle_sum) and
    each identified call (identified, repeat_contacts), with `settled` for the call's day.
    agents_daily groups them per day; the agents panel (dashboard view agent_calls) per agent."""
    window = repeat_window_us('t', default_window_h)
    return f"""
        SELECT day, touchpoint, agent AS agent_id, answered, handle_sum, toInt64(0) AS identified,
            toInt64(0) AS repeat_contacts, toUInt8(0) AS settled
        FROM {stored(db, 'agent')}
        UNION ALL
        SELECT r.day, r.touchpoint, r.agent, 0, toDecimal128(0, 9), r.n, r.n * (r.gap_us >= 0 AND r.gap_us <= {window}),
            toUInt8({settled('r.day', window, tz)})
        FROM {stored(db, 'resolution', "d1 = 'answered' AND d2 != ''")} AS r
        {targets_join(db, 't', ['repeat_window_hours'])}r.touchpoint"""


def _change_columns() -> str:
    """Columns comparing a period with the previous one (nps and prev_* counts already in scope)."""
    return f"""
    prev_responses,
    {nps_sql('prev_promoters', 'prev_detractors', 'prev_responses')} AS prev_nps,
    {nps_moe_sql('prev_promoters', 'prev_detractors', 'prev_responses')} AS prev_nps_moe95,
    nps - prev_nps AS nps_change,
    sqrt(pow(nps_moe95, 2) + pow(prev_nps_moe95, 2)) AS change_moe95,
    toUInt8(ifNull(abs(nps_change) > change_moe95, 0)) AS significant_change"""


def latest_view(db: str, etype: str) -> str:
    """Each entity once, in its winning version: the raw row at the winner's Kafka position."""
    k = key(etype)
    cols = ", ".join([k] + LATEST_COLUMNS[etype])
    ident = f"({k}, event_id, src_topic, src_partition, src_offset)"
    return f"""
SELECT {cols}
FROM {db}.{FACT_TABLE[etype]}
WHERE {ident} IN (SELECT {k}, event_id, src_topic, src_partition, src_offset FROM {db}.{state_table(etype)}
                  WHERE found = 1)
LIMIT 1 BY {k}"""


def build_views(db: str, tz: str, d: Targets) -> dict[str, str]:
    """name -> SELECT, in creation order. `db` is a quoted identifier, `tz` a string literal."""
    views: dict[str, str] = {}
    for etype in LATEST_COLUMNS:
        views[f"{FACT_TABLE[etype]}_latest"] = latest_view(db, etype)

    nps_cols = f"""responses, promoters, passives, detractors,
    {nps_sql('promoters', 'detractors', 'responses')} AS nps,
    {nps_moe_sql('promoters', 'detractors', 'responses')} AS nps_moe95,{_change_columns()}"""

    # Each day's answers are stored on that day (shift 0) and on the 13 days after (sums.py), so
    # the previous day and the 7-day windows are sums over the days asked for (a filter on day
    # reaches the table's key).
    views["nps_daily"] = f"""
SELECT day, touchpoint, brand, kind, {nps_cols}
FROM (
    SELECT day, touchpoint, brand, kind,
        toUInt64(sumIf(n, shift = 0)) AS responses, toUInt64(sumIf(p, shift = 0)) AS promoters,
        toUInt64(sumIf(pa, shift = 0)) AS passives, toUInt64(sumIf(d, shift = 0)) AS detractors,
        toUInt64(sumIf(n, shift = 1)) AS prev_responses, toUInt64(sumIf(p, shift = 1)) AS prev_promoters,
        toUInt64(sumIf(d, shift = 1)) AS prev_detractors
    FROM {summed(db, 'survey', 'hour <= 1')}
    GROUP BY day, touchpoint, brand, kind
    HAVING responses > 0
)"""

    # A window ending on `day` holds shifts 0-6; the previous, non-overlapping one shifts 7-13.
    # No window beyond the last day any answer occurred on (the data horizon).
    w = ROLLING_DAYS
    views["nps_rolling_7d"] = f"""
SELECT day, touchpoint, brand, kind, {nps_cols}
FROM (
    SELECT day, touchpoint, brand, kind,
        toUInt64(sumIf(n, shift < {w})) AS responses, toUInt64(sumIf(p, shift < {w})) AS promoters,
        toUInt64(sumIf(pa, shift < {w})) AS passives, toUInt64(sumIf(d, shift < {w})) AS detractors,
        toUInt64(sumIf(n, shift >= {w})) AS prev_responses, toUInt64(sumIf(p, shift >= {w})) AS prev_promoters,
        toUInt64(sumIf(d, shift >= {w})) AS prev_detractors
    FROM {summed(db, 'survey')}
    GROUP BY day, touchpoint, brand, kind
    HAVING responses > 0 AND day <= (SELECT max(day) FROM {summed(db, 'survey', 'hour = 0')} WHERE n > 0)
)"""

    # Day sums and the exact waits and abandon times in one pass (UNION ALL keeps a filter on
    # day pushed down into both tables); targets joined per row, then compared with exact values.
    short_us = f"toInt64(round({target('t', 'short_abandon_seconds', d.short_abandon_seconds)} * 1e6))"
    sla_us = f"toInt64(round({target('t', 'sla_answer_seconds', d.sla_answer_seconds)} * 1e6))"
    views["calls_daily"] = f"""
SELECT day, touchpoint, offered, answered,
    offered - answered AS abandoned,
    short_abandoned,
    answered_in_sla,
    {ratio_sql('answered_in_sla', "multiIf(base = 'offered', offered, base = 'answered', answered, offered - short_abandoned)")}
        AS service_level,
    {ratio_sql('(abandoned - short_abandoned)', '(offered - short_abandoned)')} AS abandon_rate,
    {ratio_sql('wait_us_sum', 'answered')} / 1e6 AS asa_seconds,
    if(answered = 0, NULL, {weighted_quantile_sql('waits', 0.9)} / 1e6) AS wait_p90_seconds,
    {ratio_sql('toFloat64(handle_sum)', 'answered')} AS aht_seconds
FROM (
    SELECT x.day AS day, x.touchpoint AS touchpoint,
        toUInt64(sum(x.offered)) AS offered, toUInt64(sum(x.answered)) AS answered,
        sum(x.wait_us_sum) AS wait_us_sum, sum(x.handle_sum) AS handle_sum,
        toUInt64(sumIf(x.n, x.kind = 'abandon' AND x.value_us < {short_us})) AS short_abandoned,
        toUInt64(sumIf(x.n, x.kind = 'wait' AND x.value_us <= {sla_us})) AS answered_in_sla,
        sumMapIf([x.value_us], [x.n], x.kind = 'wait') AS waits,
        any({target_text('t', 'service_level_base', d.service_level_base)}) AS base
    FROM (
        SELECT day, touchpoint, offered, answered, wait_us_sum, handle_sum, '' AS kind, toInt64(0) AS value_us,
            toInt64(0) AS n
        FROM {stored(db, 'call')}
        UNION ALL
        SELECT day, touchpoint, 0, 0, 0, toDecimal128(0, 9), kind, value_us, n FROM {stored(db, 'call_wait')}
    ) AS x
    {targets_join(db, 't', ['sla_answer_seconds', 'short_abandon_seconds', 'service_level_base'])}x.touchpoint
    GROUP BY day, touchpoint
    HAVING offered > 0
)"""

    # First-contact resolution and call-backs, per call of an identified customer (sums.py,
    # "resolution"): the gaps to the next call are kept exactly, so the windows apply now.
    short_r = f"toInt64(round({target('t', 'short_abandon_seconds', d.short_abandon_seconds)} * 1e6))"
    repeat_us = repeat_window_us('t', d.repeat_window_hours)
    callback_us = f"toInt64(round({target('t', 'callback_minutes', d.callback_minutes)} * 60e6))"
    resolution_targets = targets_join(db, 't', ['short_abandon_seconds', 'repeat_window_hours', 'callback_minutes'])
    missed = f"r.kind = 'missed' AND r.abandon_us >= {short_r}"
    back = f"{missed} AND r.gap_us >= 0 AND r.gap_us <= {callback_us}"
    views["calls_resolution_daily"] = f"""
SELECT day, touchpoint, answered_identified, repeat_contacts,
    {ratio_sql('(answered_identified - repeat_contacts)', 'answered_identified')} AS fcr_rate,
    missed_identified, called_back,
    {ratio_sql('called_back', 'missed_identified')} AS callback_rate,
    if(called_back = 0, NULL, {weighted_quantile_sql('back_gaps', 0.5)} / 60e6) AS callback_p50_minutes
FROM (
    SELECT r.day AS day, r.touchpoint AS touchpoint,
        toUInt64(sumIf(r.n, r.kind = 'answered')) AS answered_identified,
        toUInt64(sumIf(r.n, r.kind = 'answered' AND r.gap_us >= 0 AND r.gap_us <= {repeat_us})) AS repeat_contacts,
        toUInt64(sumIf(r.n, {missed})) AS missed_identified,
        toUInt64(sumIf(r.n, {back})) AS called_back,
        sumMapIf([r.gap_us], [r.n], {back}) AS back_gaps
    FROM {stored(db, 'resolution')} AS r
    {resolution_targets}r.touchpoint
    GROUP BY day, touchpoint
    HAVING answered_identified + missed_identified > 0
)"""

    views["agents_daily"] = f"""
SELECT day, touchpoint, agent_id, answered,
    {ratio_sql('toFloat64(handle_sum)', 'answered')} AS aht_seconds,
    identified, repeat_contacts,
    {ratio_sql('(identified - repeat_contacts)', 'identified')} AS fcr_rate
FROM (
    SELECT day, touchpoint, agent_id, toUInt64(sum(answered)) AS answered, sum(handle_sum) AS handle_sum,
        toUInt64(sum(identified)) AS identified, toUInt64(sum(repeat_contacts)) AS repeat_contacts
    FROM ({agent_rows(db, tz, d.repeat_window_hours)}
    )
    GROUP BY day, touchpoint, agent_id
    HAVING answered > 0
)"""

    # The duty list: missed calls (not short abandons) of identified customers with no call back
    # within the touchpoint's callback_minutes (yet).
    views["missed_not_called_back"] = f"""
SELECT r.day AS day, r.touchpoint AS touchpoint, r.customer_id AS customer_id, r.queued_at AS queued_at,
    r.abandon_us / 1e6 AS waited_seconds,
    if(r.gap_us < 0, NULL, r.gap_us / 60e6) AS called_back_after_minutes
FROM {summed(db, 'resolution', "d1 = 'missed'")} AS r
{resolution_targets}r.touchpoint
WHERE r.n > 0 AND r.abandon_us >= {short_r} AND (r.gap_us < 0 OR r.gap_us > {callback_us})"""

    # Call-backs by the local hour the missed call was queued in: where a lunch-time gap shows.
    views["callbacks_hourly"] = f"""
SELECT day, hour, touchpoint, missed_identified, called_back,
    {ratio_sql('called_back', 'missed_identified')} AS callback_rate
FROM (
    SELECT r.day AS day, toUInt8(toHour(r.queued_at, {tz})) AS hour, r.touchpoint AS touchpoint,
        toUInt64(sumIf(r.n, {missed})) AS missed_identified,
        toUInt64(sumIf(r.n, {back})) AS called_back
    FROM {stored(db, 'resolution', "d1 = 'missed'")} AS r
    {resolution_targets}r.touchpoint
    GROUP BY day, hour, touchpoint
    HAVING missed_identified > 0
)"""

    # A day's first-contact resolution is final only once its calls have had their whole repeat
    # window: until then a customer may still call again, and the rate looks better than it is.
    views["fcr_settled"] = f"""
SELECT c.day AS day, c.touchpoint AS touchpoint, c.answered_identified AS answered_identified,
    c.repeat_contacts AS repeat_contacts, c.fcr_rate AS fcr_rate,
    {target('t', 'repeat_window_hours', d.repeat_window_hours)} AS repeat_window_hours
FROM {db}.calls_resolution_daily AS c
{targets_join(db, 't', ['repeat_window_hours'])}c.touchpoint
WHERE c.answered_identified > 0
    AND {settled('c.day', 'toInt64(round(repeat_window_hours * 3600e6))', tz)}"""

    views["calls_hourly"] = f"""
SELECT day, hour, touchpoint, offered, answered, offered - answered AS unanswered
FROM (
    SELECT day, hour, touchpoint, toUInt64(offered) AS offered, toUInt64(answered) AS answered
    FROM {summed(db, 'call')}
    WHERE offered > 0
)"""

    reply_us = f"toInt64(round({target('t', 'review_reply_hours', d.review_reply_hours)} * 3600e6))"
    views["reviews_daily"] = f"""
SELECT day, touchpoint, platform, reviews,
    rating_sum / reviews AS avg_rating,
    replied,
    replied_in_sla,
    replied / reviews AS reply_rate,
    if(replied = 0, NULL, {weighted_quantile_sql('replies', 0.5)} / 3600e6) AS reply_p50_hours
FROM (
    SELECT x.day AS day, x.touchpoint AS touchpoint, x.platform AS platform,
        toUInt64(sum(x.reviews)) AS reviews, sum(x.rating_sum) AS rating_sum, toUInt64(sum(x.replied)) AS replied,
        toUInt64(sumIf(x.replied, x.reply_us >= 0 AND x.reply_us <= {reply_us})) AS replied_in_sla,
        sumMapIf([x.reply_us], [x.replied], x.reply_us >= 0) AS replies
    FROM {stored(db, 'review')} AS x
    {targets_join(db, 't', ['review_reply_hours'])}x.touchpoint
    GROUP BY day, touchpoint, platform
    HAVING reviews > 0
)"""

    views["purchases_daily"] = f"""
SELECT day, touchpoint, currency, orders, customers, revenue,
    toFloat64(revenue) / orders AS avg_check,
    repeat_customers
FROM (
    SELECT day, touchpoint, currency, toUInt64(orders) AS orders, toUInt64(customers) AS customers,
        revenue, toUInt64(repeat_customers) AS repeat_customers
    FROM {summed(db, 'purchase')}
    WHERE orders > 0
)"""

    views["loyalty_monthly"] = f"""
SELECT month, touchpoint, currency, active_customers, orders, revenue,
    toFloat64(revenue) / orders AS mean_check,
    if(intervals = 0, NULL, toFloat64(interval_us) / intervals / 86400e6) AS mean_days_between,
    customers_to_date, revenue_to_date,
    toFloat64(revenue_to_date) / customers_to_date AS revenue_per_customer,
    lapsed_customers
FROM (
    SELECT month, touchpoint, currency, active_customers, orders, revenue, interval_us, intervals,
        toUInt64(sum(new_customers) OVER ledger) AS customers_to_date,
        sum(revenue) OVER ledger AS revenue_to_date,
        sum(lapse_delta) OVER ledger AS lapsed_customers
    FROM (
        SELECT month, touchpoint, currency, toUInt64(active_customers) AS active_customers,
            toUInt64(orders) AS orders, revenue, interval_us, toUInt64(intervals) AS intervals, new_customers,
            lapse_delta
        FROM {summed(db, 'loyalty')}
    )
    WINDOW ledger AS (PARTITION BY touchpoint, currency ORDER BY month ROWS UNBOUNDED PRECEDING)
)
WHERE orders > 0"""

    views.update(followup_views(db, d))

    views["ingest_daily"] = f"""
SELECT day, type, toUInt64(a) AS accepted, toUInt64(m - a) AS duplicates, toUInt64(r) AS rejected
FROM (
    SELECT day, type, accepted AS a, messages AS m, rejected AS r
    FROM {summed(db, 'ingest')}
    WHERE a != 0 OR m != 0 OR r != 0
)"""
    return views


# The keys of a follow-up's details (sums.py, "followup") that the queue shows.
DETAIL_KEYS = ("customer_id", "response_id", "brand", "kind", "event_id", "created_at", "owner", "note", "updated_at")


def followup_views(db: str, d: Targets) -> dict[str, str]:
    """The closed loop over its per-follow-up rows (sums.py, "followup" and "recovered"): the due
    time is the follow-up's occurred_at plus its touchpoint's followup_hours, now (a changed target
    re-states history), and "overdue" compares it with the moment of the query."""
    due_us = f"toInt64(round({target('t', 'followup_hours', d.followup_hours)} * 3600e6))"
    now_us = "toUnixTimestamp64Micro(now64(6))"
    none = f"toInt64({NO_TIME})"

    def rows(linear: bool) -> str:
        if linear:  # a version's -1 row cancels its +1 row in the sums themselves
            followups, recovered, live = stored(db, 'followup'), stored(db, 'recovered'), "1"
            details = ", ".join(f"f.details['{k}'] AS d_{k}" for k in DETAIL_KEYS)
        else:
            followups, recovered = summed(db, 'followup', map_keys=DETAIL_KEYS), summed(db, 'recovered')
            live = "n > 0"
            details = ", ".join(f"f.{k} AS d_{k}" for k in DETAIL_KEYS)
        return f"""
        SELECT 'followup' AS kind, f.day AS day, f.touchpoint AS touchpoint, f.followup_id AS followup_id, f.state AS state,
            f.resolution AS resolution, toUnixTimestamp64Micro(f.at) AS at_us, f.first_contact_us AS first_us,
            f.closed_us AS closed_us, f.n AS n, f.score AS score, f.comment AS comment, {details},
            toInt64(0) AS won
        FROM {followups} AS f
        WHERE {live}
        UNION ALL
        SELECT 'recovered', r.day, r.touchpoint, r.followup_id, '', '', 0, {none}, {none}, 0, 0, '',
            {", ".join("''" for _ in DETAIL_KEYS)}, r.n
        FROM {recovered} AS r
        WHERE {live}"""

    # The daily counts are linear in the rows (stored); the queue shows each follow-up's row as
    # it stands (summed per follow-up).
    daily_rows, queue_rows = rows(True), rows(False)
    views = {}
    # What is open and overdue now, per day raised, and nothing else: the "now" panels read every
    # day ever raised, and followups_daily, computing all its columns and joining the targets on
    # every row, took 10-20x longer. Open and overdue are counted as there; the due time takes the
    # touchpoint's followup_hours from an array (the targets are a handful of rows).
    hours = (f"transform(toString(f.touchpoint), tt.1, tt.2, {float(d.followup_hours)!r})")
    views["followups_open"] = f"""
SELECT day, touchpoint, open, overdue
FROM (
    WITH (SELECT (groupArray(touchpoint), groupArray(followup_hours)) FROM (
        SELECT touchpoint, max(followup_hours) AS followup_hours FROM {db}.touchpoint_targets GROUP BY touchpoint)) AS tt
    SELECT f.day AS day, f.touchpoint AS touchpoint, toInt64(sum(f.n)) AS open,
        toUInt64(sumIf(f.n, toUnixTimestamp64Micro(f.at) + toInt64(round({hours} * 3600e6)) < {now_us})) AS overdue
    FROM {stored(db, 'followup')} AS f
    WHERE f.state != 'closed'
    GROUP BY day, touchpoint
    HAVING open > 0
)"""
    views["followups_daily"] = f"""
SELECT day, touchpoint, raised, contacted, closed, resolved, closed_in_time, raised - closed AS open, overdue, recovered,
    {ratio_sql('closed', 'raised')} AS close_rate,
    {ratio_sql('closed_in_time', 'raised')} AS in_time_rate,
    if(contacted = 0, NULL, {weighted_quantile_sql('gaps', 0.5)} / 3600e6) AS contact_p50_hours
FROM (
    SELECT x.day AS day, x.touchpoint AS touchpoint,
        toUInt64(sumIf(x.n, x.kind = 'followup')) AS raised,
        toUInt64(sumIf(x.n, x.kind = 'followup' AND x.first_us != {none})) AS contacted,
        toUInt64(sumIf(x.n, x.state = 'closed')) AS closed,
        toUInt64(sumIf(x.n, x.state = 'closed' AND x.resolution = 'resolved')) AS resolved,
        toUInt64(sumIf(x.n, x.state = 'closed' AND x.closed_us <= x.at_us + {due_us})) AS closed_in_time,
        toUInt64(sumIf(x.n, x.kind = 'followup' AND x.state != 'closed' AND x.at_us + {due_us} < {now_us})) AS overdue,
        toUInt64(sumIf(x.won, x.kind = 'recovered')) AS recovered,
        sumMapIf([x.first_us - x.at_us], [x.n], x.kind = 'followup' AND x.first_us != {none}) AS gaps
    FROM ({daily_rows}
    ) AS x
    {targets_join(db, 't', ['followup_hours'])}x.touchpoint
    GROUP BY day, touchpoint
    HAVING raised > 0
)"""

    # The team's queue: one row per follow-up raised, oldest due first when read by the CLI.
    def at(us: str) -> str:
        # (the value under a NULL is read too: keep it a valid time)
        return f"if({us} = {none}, NULL, fromUnixTimestamp64Micro(if({us} = {none}, 0, {us}), 'UTC'))"

    # Each key of the follow-up's details is aggregated as a String of its own (sums.summed): a
    # Map through `any` cost 80 ms per 11,000 follow-ups, and a filter on brand copied every map.
    views["followup_queue"] = f"""
SELECT day, touchpoint, followup_id, customer_id, score, comment,
    fromUnixTimestamp64Micro(at_us, 'UTC') AS occurred_at, fromUnixTimestamp64Micro(due_us, 'UTC') AS due_at,
    state, if(state = 'closed', resolution, NULL) AS resolution, owner, note,
    {at('first_us')} AS first_contact_at, {at('closed_us')} AS closed_at,
    toUInt8(state != 'closed' AND due_us < {now_us}) AS overdue, toUInt8(won > 0) AS won_back,
    if(updated = '', NULL, toDateTime64(updated, 6, 'UTC')) AS updated_at,
    response_id, brand, kind, event_id, toDateTime64(created, 3, 'UTC') AS created_at
FROM (
    SELECT x.day AS day, x.touchpoint AS touchpoint, x.followup_id AS followup_id,
        anyIf(x.state, x.n > 0) AS state, anyIf(x.resolution, x.n > 0) AS resolution,
        anyIf(x.at_us, x.n > 0) AS at_us, anyIf(x.at_us, x.n > 0) + any({due_us}) AS due_us,
        anyIf(x.first_us, x.n > 0) AS first_us, anyIf(x.closed_us, x.n > 0) AS closed_us,
        anyIf(x.score, x.n > 0) AS score, anyIf(x.comment, x.n > 0) AS comment,
        anyIf(x.d_customer_id, x.n > 0) AS customer_id, anyIf(x.d_response_id, x.n > 0) AS response_id,
        anyIf(x.d_brand, x.n > 0) AS brand, anyIf(x.d_kind, x.n > 0) AS kind,
        anyIf(x.d_event_id, x.n > 0) AS event_id, anyIf(x.d_created_at, x.n > 0) AS created,
        anyIf(x.d_owner, x.n > 0) AS owner, anyIf(x.d_note, x.n > 0) AS note,
        anyIf(x.d_updated_at, x.n > 0) AS updated,
        sum(x.n) AS n, sum(x.won) AS won
    FROM ({queue_rows}
    ) AS x
    {targets_join(db, 't', ['followup_hours'])}x.touchpoint
    GROUP BY day, touchpoint, followup_id
    HAVING n > 0
)"""
    return views
