"""Views the dashboards need beyond the metrics contract.

Grafana's reader user may only select views, so every panel reads one: the latest follow-ups
with their comments, reviews still unanswered past their target, dead letters grouped by
reason, freshness per fact type, and which touchpoints the data mentions (for the template
variable, so a new touchpoint shows up on its own). Follow-ups and reviews come from the sums
every batch keeps (touchpulse/derived); dead letters and follow-up freshness describe the raw
tables and count them at query time, so replays and late events never skew them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from touchpulse.core.touchpoints import CONTRACT_DEFAULTS

if TYPE_CHECKING:  # schema.py imports this module; importing it back at load time would be a cycle
    from touchpulse.clickhouse.schema import SchemaOptions
    from touchpulse.core.touchpoints import Registry

# Numbers in a rejection reason are values ("got 70000"); masking long ones groups alike reasons.
_REASON_CLASS = (r"replaceRegexpAll(replaceRegexpOne(replaceRegexpOne(reason, '^field \'[^\']*\': ', ''), "
                 r"', got .*$', ''), '[0-9]{3,}', 'N')")

DASHBOARD_VIEWS = ("touchpoint_activity", "followups_latest", "followup_versions", "agent_calls", "reviews_overdue",
                   "dead_letters_daily", "ingest_freshness", "call_waits", "review_reply_times", "view_freshness")


def dashboard_view_statements(opts: SchemaOptions, registry: Registry | None = None) -> list[str]:
    """CREATE OR REPLACE VIEW statements; `registry` supplies the default reply target."""
    from touchpulse.clickhouse.schema import FACT_TABLES, literal, q
    from touchpulse.derived.spec import NO_TIME
    from touchpulse.derived.sums import stored, summed
    from touchpulse.derived.views import agent_rows, target, targets_join

    db, tz = q(opts.database), literal(opts.timezone)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    defaults = registry.defaults.review_reply_hours if registry else CONTRACT_DEFAULTS["review_reply_hours"]
    default_reply_h = float(defaults)
    repeat_h = float(registry.defaults.repeat_window_hours if registry else CONTRACT_DEFAULTS["repeat_window_hours"])
    views: dict[str, str] = {}

    # Distinct Kafka messages per business day, touchpoint and fact type (raw: duplicates count).
    views["touchpoint_activity"] = f"""
SELECT toDate(day) AS day, touchpoint, type, toUInt64(messages) AS messages
FROM {summed(db, 'activity')}
WHERE messages > 0"""

    # Each follow-up once, as the team's queue has it (touchpulse/derived/views.py): overdue only
    # while it is not closed.
    views["followups_latest"] = f"""
SELECT followup_id, event_id, response_id, customer_id, touchpoint, brand, kind, score, comment, occurred_at,
    due_at, created_at, day, overdue, state, resolution, owner, first_contact_at, closed_at, won_back
FROM {db}.followup_queue"""

    # Every version of every follow-up as stored: +1 for a version as it stands, -1 for one that a
    # later version replaced. sum(n) under any filter on these columns therefore counts the
    # follow-ups whose present version matches it, without grouping per follow-up: the "latest"
    # panels count with it which days hold their newest rows (dashboards/sql.py, newest_days).
    # contact_hours (NULL until the first contact) gives exact quantiles over any range the same
    # way: sumMap([contact_hours], [n]) is each value with the number of follow-ups that have it.
    views["followup_versions"] = f"""
SELECT day, touchpoint, details['brand'] AS brand, details['kind'] AS kind, comment, at AS occurred_at,
    if(first_contact_us = {NO_TIME}, NULL, (first_contact_us - toUnixTimestamp64Micro(at)) / 3600e6) AS contact_hours, n
FROM {stored(db, 'followup')}"""

    # agents_daily's rows before its grouping per day and agent (derived/views.py, agent_rows),
    # with `settled` as fcr_settled has it: the agents panel sums them per agent over its range in
    # one pass. Grouping 30 days per day and agent first (84,000 groups) and joining fcr_settled
    # took 0.2 s at 10M calls a year.
    views["agent_calls"] = f"""
SELECT day, touchpoint, agent_id, answered, handle_sum, identified, repeat_contacts, settled
FROM ({agent_rows(db, tz, repeat_h)}
)"""

    views["reviews_overdue"] = f"""
SELECT r.review_id AS review_id, r.touchpoint AS touchpoint, r.platform AS platform, r.rating AS rating,
    r.posted_at AS posted_at, toDate(r.posted_at, {tz}) AS day,
    dateDiff('second', r.posted_at, now64(6)) / 3600 AS age_hours,
    {target('t', 'review_reply_hours', default_reply_h)} AS target_hours,
    r.text AS text
FROM (
    SELECT posted_at, touchpoint, platform, review_id, rating, text
    FROM {summed(db, 'review_open')}
    WHERE n > 0
) AS r
{targets_join(db, 't', ['review_reply_hours'])}r.touchpoint
WHERE age_hours > target_hours"""

    views["dead_letters_daily"] = f"""
SELECT toDate(ts, {tz}) AS day, type, field, {_REASON_CLASS} AS reason_class,
    count() AS letters, max(ts) AS last_seen, any(reason) AS example
FROM (
    SELECT any(type) AS type, any(field) AS field, any(reason) AS reason, any(src_timestamp) AS ts
    FROM {db}.dead_letters
    GROUP BY src_topic, src_partition, src_offset
)
GROUP BY day, type, field, reason_class"""

    types = ", ".join(f"'{t}'" for t in [*FACT_TABLES, "dead_letter", "followup"])
    views["ingest_freshness"] = f"""
SELECT type,
    if(n = 0, NULL, ingested) AS last_ingested_at,
    if(n = 0, NULL, occurred) AS last_occurred_at,
    if(n = 0, NULL, dateDiff('second', ingested, now64(3))) AS lag_seconds,
    n AS rows
FROM (
    SELECT k.type AS type, greatest(l.ingested, f.ingested) AS ingested, greatest(l.occurred, f.occurred) AS occurred,
        toUInt64(c.n + f.n) AS n
    FROM (SELECT arrayJoin([{types}]) AS type) AS k
    LEFT JOIN (SELECT type, last_ingested AS ingested, last_occurred AS occurred
               FROM {summed(db, 'latest')}) AS l ON l.type = k.type
    LEFT JOIN (SELECT type, sum(messages) AS n FROM (
                   SELECT type, messages FROM {summed(db, 'ingest')}
                   UNION ALL SELECT 'dead_letter' AS type, rejected FROM {summed(db, 'ingest')})
               GROUP BY type) AS c ON c.type = k.type
    LEFT JOIN (SELECT 'followup' AS type, toDateTime64(max(ingested_at), 3, 'UTC') AS ingested,
                   max(occurred_at) AS occurred, count() AS n FROM {db}.followups) AS f ON f.type = k.type
    SETTINGS join_use_nulls = 0
)"""

    # Exact distributions for percentiles over any range (a dashboard's p90 of 30 days).
    views["call_waits"] = f"""
SELECT day, touchpoint, kind, value_us / 1e6 AS seconds, value_us, toUInt64(n) AS calls
FROM {summed(db, 'call_wait')}
WHERE n > 0"""
    views["review_reply_times"] = f"""
SELECT day, touchpoint, platform, reply_us / 3600e6 AS hours, reply_us, toUInt64(replied) AS reviews
FROM {summed(db, 'review', 'value >= 0')}
WHERE reviews > 0"""
    # How long after it was produced each event was in every view, per arrival day (10 ms steps).
    views["view_freshness"] = f"""
SELECT day, type, lag_10ms / 100 AS seconds, toUInt64(events) AS events
FROM {summed(db, 'freshness')}
WHERE events > 0"""

    return [f"CREATE OR REPLACE VIEW {db}.{q(name)}{on} AS{sql if sql.startswith(chr(10)) else chr(10) + sql}"
            for name, sql in views.items()]
