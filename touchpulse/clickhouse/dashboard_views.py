"""Views the dashboards need beyond the metrics contract.

Grafana's reader user may only select views, so every panel reads one: the latest follow-ups
with their comments, reviews still unanswered past their target, dead letters grouped by
reason, freshness per fact type, and which touchpoints the data mentions (for the template
variable, so a new touchpoint shows up on its own). Follow-ups and reviews come from the
refreshed `*_current` tables (rollups.py); the rest describe the raw stream and count it at
query time, so replays and late events never skew them.
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

DASHBOARD_VIEWS = ("touchpoint_activity", "followups_latest", "reviews_overdue", "dead_letters_daily",
                   "ingest_freshness")


def dashboard_view_statements(opts: SchemaOptions, registry: Registry | None = None) -> list[str]:
    """CREATE OR REPLACE VIEW statements; `registry` supplies the default reply target."""
    from touchpulse.clickhouse.schema import FACT_TABLES, literal, q

    db, tz = q(opts.database), literal(opts.timezone)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    defaults = registry.defaults.review_reply_hours if registry else CONTRACT_DEFAULTS["review_reply_hours"]
    default_reply_h = float(defaults)
    views: dict[str, str] = {}

    # Distinct Kafka messages per business day, touchpoint and fact type (raw: duplicates count).
    views["touchpoint_activity"] = "\nUNION ALL\n".join(
        f"""SELECT toDate(occurred_at, {tz}) AS day, touchpoint, '{etype}' AS type,
    uniqExact(src_topic, src_partition, src_offset) AS messages
FROM {db}.{table}
GROUP BY day, touchpoint""" for etype, table in FACT_TABLES.items())

    # From the refreshed followups_current (rollups.py), ordered by answer day: a dashboard's
    # time filter reads only its days.
    views["followups_latest"] = f"""
SELECT followup_id, event_id, response_id, customer_id, touchpoint, brand, kind, score, comment, occurred_at,
    due_at, created_at, toDate(occurred_at, {tz}) AS day, due_at < now64(6) AS overdue
FROM {db}.followups_current FINAL"""

    views["reviews_overdue"] = f"""
SELECT r.review_id AS review_id, r.touchpoint AS touchpoint, r.platform AS platform, r.rating AS rating,
    r.posted_at AS posted_at, toDate(r.posted_at, {tz}) AS day,
    dateDiff('second', r.posted_at, now64(6)) / 3600 AS age_hours,
    if(t.touchpoint = '', {default_reply_h!r}, t.review_reply_hours) AS target_hours,
    r.text AS text
FROM {db}.reviews_latest AS r
LEFT JOIN (SELECT touchpoint, review_reply_hours FROM {db}.touchpoint_targets) AS t ON t.touchpoint = r.touchpoint
WHERE r.replied_at IS NULL AND age_hours > target_hours"""

    views["dead_letters_daily"] = f"""
SELECT toDate(ts, {tz}) AS day, type, field, {_REASON_CLASS} AS reason_class,
    count() AS letters, max(ts) AS last_seen, any(reason) AS example
FROM (
    SELECT any(type) AS type, any(field) AS field, any(reason) AS reason, any(src_timestamp) AS ts
    FROM {db}.dead_letters
    GROUP BY src_topic, src_partition, src_offset
)
GROUP BY day, type, field, reason_class"""

    sources = [(etype, table, "occurred_at") for etype, table in FACT_TABLES.items()]
    sources += [("dead_letter", "dead_letters", "src_timestamp"), ("followup", "followups", "occurred_at")]
    parts = "\n    UNION ALL\n    ".join(
        f"SELECT '{etype}' AS type, toDateTime64(max(ingested_at), 3, 'UTC') AS ingested, "
        f"toDateTime64(max({at}), 6, 'UTC') AS occurred, count() AS n FROM {db}.{table}"
        for etype, table, at in sources)
    views["ingest_freshness"] = f"""
SELECT type,
    if(n = 0, NULL, ingested) AS last_ingested_at,
    if(n = 0, NULL, occurred) AS last_occurred_at,
    if(n = 0, NULL, dateDiff('second', ingested, now64(3))) AS lag_seconds,
    n AS rows
FROM (
    {parts}
)"""

    return [f"CREATE OR REPLACE VIEW {db}.{q(name)}{on} AS{sql if sql.startswith(chr(10)) else chr(10) + sql}"
            for name, sql in views.items()]
