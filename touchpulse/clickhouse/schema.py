"""ClickHouse schema: raw fact tables (every accepted message, keyed by its Kafka position),
the refreshed tables of rollups.py, and plain views that serve the metrics contract
(docs/metrics.md) from them.

Why no materialized views: one fires on every inserted block, so a batch re-delivered after
a crash would be counted twice. Facts are keyed by (topic, partition, offset) in a
ReplacingMergeTree, and the refresh recomputes winning versions and whole days from them, so
replays, duplicates and late events can never change a number. Targets join at query time
from `touchpoint_targets`.
"""

from __future__ import annotations

from dataclasses import dataclass

from touchpulse.clickhouse.rollups import (AGGREGATE_COLUMNS, AGGREGATE_KEYS, CURRENT, SNAPSHOTS, current_name,
                                           snapshot_table, snapshot_view)
from touchpulse.clickhouse.views import build_views, current_rows
from touchpulse.core.touchpoints import Registry

SCHEMA_VERSION = 2  # 2: refreshed current tables and daily aggregates (rollups.py)
QUEUE_DAYS = 30  # a queued batch no refresh has handled in this long is dropped (`touchpulse refresh --full`)
FACT_TABLES = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys"}

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
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)"""

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
}
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

# Winning-version columns carried by the *_latest views (entity key first).
_LATEST_COLUMNS = {
    "calls": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "direction", "queued_at",
              "answered_at", "ended_at", "hold_seconds", "wrap_seconds", "agent_id"],
    "purchases": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "amount", "currency",
                  "item_count", "status"],
    "reviews": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "platform", "rating",
                "posted_at", "replied_at", "text"],
    "surveys": ["event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "score", "kind", "brand",
                "interaction_id", "comment"],
}


@dataclass(frozen=True)
class SchemaOptions:
    database: str
    timezone: str
    cluster: str | None = None  # ON CLUSTER with Replicated engines and Distributed facts


def q(identifier: str) -> str:
    """Quote an identifier with backticks (settings are validated as identifiers too)."""
    return "`" + identifier.replace("\\", "\\\\").replace("`", "\\`") + "`"


def literal(text: str) -> str:
    """A ClickHouse string literal, for the few places (DDL) that cannot take bound parameters."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def schema_statements(opts: SchemaOptions, registry: Registry) -> list[str]:
    """Every DDL statement, in order; all idempotent (IF NOT EXISTS / OR REPLACE)."""
    db = q(opts.database)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    stmts = [f"CREATE DATABASE IF NOT EXISTS {db}{on}"]
    for table, columns in _FACT_COLUMNS.items():
        key = CURRENT[table][0]
        stmts += _table(opts, table, _COMMON + columns + _POSITION, key,
                        order_by=f"({key}, event_id, src_topic, src_partition, src_offset)",
                        partition_by="toYYYYMM(occurred_at)")
    stmts += _table(opts, "followups", _FOLLOWUP + _POSITION, "event_id",
                    order_by="(event_id, src_topic, src_partition, src_offset)", partition_by="toYYYYMM(occurred_at)")
    stmts += _table(opts, "dead_letters", """
    type LowCardinality(String),
    reason String,
    field String,
    message_key String,
    raw String,""" + _POSITION, "src_offset",
                    order_by="(src_topic, src_partition, src_offset)", partition_by="toYYYYMM(src_timestamp)")
    stmts += _table(opts, "touchpoint_targets", """
    touchpoint String,
    name String,
    channel String,
    sla_answer_seconds Float64,
    short_abandon_seconds Float64,
    review_reply_hours Float64,
    followup_hours Float64""", None, order_by="touchpoint", partition_by=None, replacing=False)
    stmts += rollup_tables(opts)
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


def rollup_tables(opts: SchemaOptions) -> list[str]:
    """The refreshed tables (touchpulse/clickhouse/rollups.py) and the refresh bookkeeping."""
    stmts = []
    for table, (key, at) in CURRENT.items():
        own = _FOLLOWUP if table == "followups" else _COMMON + _FACT_COLUMNS[table]
        # Followups are sharded by event_id like the raw table; the id is derived from it.
        shard = "event_id" if table == "followups" else key
        stmts += _table(opts, current_name(table), own + """
    version UInt64,
    is_deleted UInt8,
    refresh_id UUID""", shard, order_by=f"(toDate32({at}), {key})", partition_by=f"toYYYYMM({at})",
                        engine_args="version, is_deleted")
    for name, columns in AGGREGATE_COLUMNS.items():
        stmts += _table(opts, name, columns, "day", order_by=AGGREGATE_KEYS[name], partition_by="toYear(day)",
                        engine_args="version")
    stmts += _table(opts, "refresh_queue", """
    batch_id UUID,
    fact_table LowCardinality(String),
    keys Array(String),
    event_ids Array(String),
    queued_at DateTime DEFAULT now()""", "batch_id", order_by="batch_id", partition_by=None, replacing=False,
                    ttl=f"queued_at + INTERVAL {QUEUE_DAYS} DAY")
    stmts += _table(opts, "refresh_done", """
    batch_id UUID,
    done_at DateTime DEFAULT now()""", "batch_id", order_by="batch_id", partition_by=None, replacing=False,
                    ttl=f"done_at + INTERVAL {QUEUE_DAYS + 1} DAY")
    stmts += _table(opts, "refresh_batches", """
    refresh_id UUID,
    batch_id UUID,
    at DateTime DEFAULT now()""", "refresh_id", order_by="refresh_id", partition_by=None, replacing=False,
                    ttl="at + INTERVAL 1 DAY")
    stmts += _table(opts, "refresh_keys", """
    refresh_id UUID,
    fact_table LowCardinality(String),
    key String,
    at DateTime DEFAULT now()""", "refresh_id", order_by="(refresh_id, fact_table)", partition_by=None,
                    replacing=False, ttl="at + INTERVAL 1 DAY")
    return stmts


def targets_rows(registry: Registry) -> list[list]:
    return [[tp.slug, tp.name, tp.channel, tp.targets.sla_answer_seconds, tp.targets.short_abandon_seconds,
             tp.targets.review_reply_hours, tp.targets.followup_hours] for tp in registry.touchpoints.values()]


def view_statements(opts: SchemaOptions, registry: Registry) -> list[str]:
    """The `*_latest` views for analysts, then every metric view (touchpulse/clickhouse/views.py)."""
    db, tz = q(opts.database), literal(opts.timezone)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    views: dict[str, str] = {}
    for table, cols in _LATEST_COLUMNS.items():
        views[f"{table}_latest"] = "\nSELECT * FROM " + current_rows(db, table, cols)
    views.update(build_views(db, tz, registry.defaults))
    stmts = []
    for name in SNAPSHOTS:  # computed into a table by the refresh; the view reads the table
        stmts.append(snapshot_table(db, name, views[name], on))
        views[name] = snapshot_view(db, name)
    return stmts + [f"CREATE OR REPLACE VIEW {db}.{q(name)}{on} AS{sql}" for name, sql in views.items()]


CONTRACT_VIEWS = ("nps_daily", "calls_daily", "calls_hourly", "reviews_daily", "purchases_daily")
EXTRA_VIEWS = ("nps_rolling_7d", "loyalty_monthly", "ingest_daily")
