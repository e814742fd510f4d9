"""ClickHouse schema: raw fact tables (every accepted message, keyed by its Kafka position and
tagged with the batch that wrote it), the derived data of touchpulse/derived (state, additive
sums, views) and `schema_info`, which says which version of all this a database holds.

Why no materialized views: one fires on every inserted block, so a batch re-delivered after a
crash would be counted twice, and it knows nothing of versions. The worker maintains the derived
tables itself, batch by batch (touchpulse/derived/maintenance.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from touchpulse.clickhouse.quoting import literal, q  # noqa: F401 (re-exported)
from touchpulse.core.events import ENTITY_KEY
from touchpulse.core.touchpoints import Registry
from touchpulse.derived.tables import state_statements, sums_statements
from touchpulse.derived.views import CONTRACT_VIEWS, EXTRA_VIEWS, build_views  # noqa: F401 (re-exported)

# 1: views over raw facts; 2: refreshed tables; 3: state and additive sums kept by every batch;
# 4: follow-up updates (the closed loop): their facts, the follow-ups' queue, customers' answers;
# 5: the outbox of customer notices holds one row per batch (setup.py converts it in place).
SCHEMA_VERSION = 5
FACT_TABLES = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
               "followup_update": "followup_updates"}

_COMMON = """
    event_id String,
    occurred_at DateTime64(6, 'UTC'),
    touchpoint LowCardinality(String),
    customer_id String,
    attributes Map(String, String),
    source LowCardinality(String),"""

_POSITION = """
    src_topic LowCardinality(String),
    src_partition UInt32,
    src_offset UInt64,
    src_timestamp DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3),
    batch_id String"""

_FACT_COLUMNS = {
    "calls": """
    call_id String,
    direction LowCardinality(String),
    queued_at DateTime64(6, 'UTC'),
    answered_at Nullable(DateTime64(6, 'UTC')),
    ended_at DateTime64(6, 'UTC'),
    hold_seconds Float64,
    wrap_seconds Float64,
    agent_id String,""",
    "purchases": """
    order_id String,
    amount Decimal(38, 6),
    currency LowCardinality(String),
    item_count UInt32,
    status LowCardinality(String),""",
    "reviews": """
    review_id String,
    platform LowCardinality(String),
    rating UInt8,
    posted_at DateTime64(6, 'UTC'),
    replied_at Nullable(DateTime64(6, 'UTC')),
    text String,""",
    "surveys": """
    response_id String,
    score UInt8,
    kind LowCardinality(String),
    brand LowCardinality(String),
    interaction_id String,
    comment String,""",
    "followup_updates": """
    followup_id String,
    status LowCardinality(String),
    resolution LowCardinality(String),
    owner String,
    note String,""",
}
_NOTICE = """
    customer_id String,
    kind LowCardinality(String),
    entity_id String,"""
_DEAD_LETTER = """
    type LowCardinality(String),
    reason String,
    field String,
    message_key String,
    raw String,"""
_FOLLOWUP = """
    followup_id String,
    event_id String,
    response_id String,
    customer_id String,
    touchpoint LowCardinality(String),
    brand LowCardinality(String),
    kind LowCardinality(String),
    score UInt8,
    comment String,
    occurred_at DateTime64(6, 'UTC'),
    due_at DateTime64(6, 'UTC'),
    created_at DateTime64(3, 'UTC'),"""

@dataclass(frozen=True)
class SchemaOptions:
    database: str
    timezone: str
    cluster: str | None = None  # ON CLUSTER with Replicated engines and Distributed facts


def raw_columns(table: str) -> str:
    """The column definitions of a raw table (facts, dead letters), for tables shaped like it."""
    if table == "customer_notices":
        return _NOTICE + _POSITION
    if table == "dead_letters":
        return _DEAD_LETTER + _POSITION
    if table == "followups":
        return _FOLLOWUP + _POSITION
    return _COMMON + _FACT_COLUMNS[table] + _POSITION


def followups_statements(opts: SchemaOptions) -> list[str]:
    # Ordered by time: the dashboards read a range of days.
    return _table(opts, "followups", raw_columns("followups"), "event_id",
                  order_by="(occurred_at, followup_id, src_topic, src_partition, src_offset)",
                  partition_by="toYYYYMM(occurred_at)")


def schema_statements(opts: SchemaOptions, registry: Registry) -> list[str]:
    """Every DDL statement, in order; all idempotent (IF NOT EXISTS / OR REPLACE)."""
    db = q(opts.database)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    stmts = [f"CREATE DATABASE IF NOT EXISTS {db}{on}"]
    for etype, table in FACT_TABLES.items():
        key = ENTITY_KEY[etype]
        stmts += _table(opts, table, raw_columns(table), key,
                        order_by=f"({key}, event_id, src_topic, src_partition, src_offset)",
                        partition_by="toYYYYMM(occurred_at)")
    stmts += followups_statements(opts)
    stmts += _table(opts, "dead_letters", raw_columns("dead_letters"), "src_offset",
                    order_by="(src_topic, src_partition, src_offset)", partition_by="toYYYYMM(src_timestamp)")
    stmts += _table(opts, "touchpoint_targets", """
    touchpoint String,
    name String,
    channel String,
    sla_answer_seconds Float64,
    short_abandon_seconds Float64,
    review_reply_hours Float64,
    followup_hours Float64,
    repeat_window_hours Float64,
    callback_minutes Float64,
    service_level_base LowCardinality(String)""", None, order_by="touchpoint", partition_by=None, replacing=False)
    stmts += state_statements(db, on) + sums_statements(db, on, replicated=bool(opts.cluster))
    # The customer notices a worker applied, by batch (what recovery reads back); kept a month.
    stmts += _table(opts, "customer_notices", raw_columns("customer_notices"), "customer_id",
                    order_by="(src_topic, src_partition, src_offset)", partition_by=None, replacing=False,
                    ttl="toDateTime(ingested_at) + INTERVAL 30 DAY")
    stmts += view_statements(opts, registry)
    from touchpulse.clickhouse.dashboard_views import dashboard_view_statements
    stmts += dashboard_view_statements(opts, registry)
    # Last, so it only says "ready" once everything above exists.
    stmts.append(f"CREATE OR REPLACE VIEW {db}.{q('schema_info')}{on} AS "
                 f"SELECT {literal(opts.timezone)} AS timezone, {SCHEMA_VERSION} AS schema_version")
    return stmts


def _table(opts: SchemaOptions, name: str, columns: str, shard_key: str | None, *, order_by: str,
           partition_by: str | None, replacing: bool = True, engine_args: str = "",
           ttl: str | None = None) -> list[str]:
    db, on = q(opts.database), (f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else "")
    engine = "ReplacingMergeTree" if replacing else "MergeTree"
    partition = f"\nPARTITION BY {partition_by}" if partition_by else ""
    order_by += f"\nTTL {ttl}" if ttl else ""
    if not opts.cluster:
        return [f"CREATE TABLE IF NOT EXISTS {db}.{q(name)}{on} ({columns}\n) ENGINE = {engine}({engine_args})"
                f"{partition}\nORDER BY {order_by}"]
    # On a cluster: a replicated local table per shard, and a Distributed table with the
    # public name, sharded by entity key so every version of an entity lands on one shard.
    local = f"{name}_local"
    path = f"{literal(f'/clickhouse/tables/{{shard}}/{opts.database}/{local}')}, {literal('{replica}')}"
    sharding = f"cityHash64({shard_key})" if shard_key else "rand()"
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.{q(local)}{on} ({columns}\n) "
        f"ENGINE = Replicated{engine}({path}{', ' + engine_args if engine_args else ''})"
        f"{partition}\nORDER BY {order_by}",
        f"CREATE TABLE IF NOT EXISTS {db}.{q(name)}{on} AS {db}.{q(local)} "
        f"ENGINE = Distributed({literal(opts.cluster)}, {literal(opts.database)}, {literal(local)}, {sharding})",
    ]


def targets_rows(registry: Registry) -> list[list]:
    return [[tp.slug, tp.name, tp.channel, tp.targets.sla_answer_seconds, tp.targets.short_abandon_seconds,
             tp.targets.review_reply_hours, tp.targets.followup_hours, tp.targets.repeat_window_hours,
             tp.targets.callback_minutes, tp.targets.service_level_base] for tp in registry.touchpoints.values()]


def view_statements(opts: SchemaOptions, registry: Registry) -> list[str]:
    """The metric views (touchpulse/derived/views.py)."""
    db, tz = q(opts.database), literal(opts.timezone)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    return [f"CREATE OR REPLACE VIEW {db}.{q(name)}{on} AS{sql}"
            for name, sql in build_views(db, tz, registry.defaults).items()]
