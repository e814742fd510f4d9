"""Refreshed tables that make the views cheap to read: each entity's winning version, and
daily aggregates for the two big fact types, kept exact by recomputation instead of counting.

Why: computing winners over all history at query time costs seconds per query at ten million
rows (the benchmark measured 28 s p50). Materialized views cannot do it (they fire on every
inserted block and know nothing of versions), so the worker *refreshes* instead:

1. with every batch it queues the batch's entity keys and event_ids (`refresh_queue`);
2. a refresh recomputes, from all raw facts of the queued entities (and of any entity that shares
   an event_id with them), the winning version of each: one live row in `<table>_current` on the
   UTC day of its time column, and a tombstone on every other day one of its versions fell on
   (ReplacingMergeTree(version, is_deleted) keyed by (UTC day, entity), read with FINAL), so a
   version that moves an entity to another day removes it from the old one;
3. then it recomputes the daily aggregates of every business day those rows touch; a day is
   always rewritten whole, with a sentinel row, and readers take each day's newest version;
4. and marks the queued batches done (`refresh_done`).

Every step is a recomputation from raw facts, so running it twice, or after a crash half way,
gives the same tables; versions are the server's clock when each step ran, so the step that
saw the most facts wins. Aggregates keep raw values where a target applies at query time
(waits and abandon times as arrays), so a changed target still re-states history.
"""

from __future__ import annotations

from touchpulse.core.events import COMMON_COLUMNS, ENTITY_KEY, TYPE_COLUMNS

_TYPE_OF = {"calls": "call", "purchases": "purchase", "reviews": "review", "surveys": "survey"}
# table -> (entity key, the time column that places a row on a day in the views)
CURRENT = {
    "calls": (ENTITY_KEY["call"], "queued_at"),
    "purchases": (ENTITY_KEY["purchase"], "occurred_at"),
    "reviews": (ENTITY_KEY["review"], "posted_at"),
    "surveys": (ENTITY_KEY["survey"], "occurred_at"),
    "followups": ("followup_id", "occurred_at"),
}
# Versions of an entity come from copies of events (first copy wins) except for follow-ups.
FIRST_COPY_TABLES = ("calls", "purchases", "reviews", "surveys")
FOLLOWUP_COLUMNS = ("followup_id", "event_id", "response_id", "customer_id", "touchpoint", "brand", "kind",
                    "score", "comment", "occurred_at", "due_at", "created_at")
_TYPE_OF = {"calls": "call", "purchases": "purchase", "reviews": "review", "surveys": "survey"}
# Daily aggregates, per source table, rebuilt for every business day a refresh touches.
AGGREGATES = {"surveys": ("survey_days",), "calls": ("call_days", "call_hours")}
VERSION = "toUInt64(toUnixTimestamp64Micro(now64(6)))"

AGGREGATE_COLUMNS = {
    "survey_days": """
    day Date32,
    sentinel UInt8,
    touchpoint LowCardinality(String),
    brand LowCardinality(String),
    kind LowCardinality(String),
    n UInt64,
    p UInt64,
    pa UInt64,
    d UInt64,
    version UInt64""",
    "call_days": """
    day Date32,
    sentinel UInt8,
    touchpoint LowCardinality(String),
    offered UInt64,
    answered UInt64,
    wait_us_sum Int64,
    handle_sum Decimal(38, 9),
    waits_us Array(Int64),
    abandons_us Array(Int64),
    version UInt64""",
    "call_hours": """
    day Date32,
    sentinel UInt8,
    hour UInt8,
    touchpoint LowCardinality(String),
    offered UInt64,
    answered UInt64,
    version UInt64""",
}
# Views cheap enough to recompute whole, but not at every query (they need all history): each
# is recomputed into `<name>_snapshot` when a refresh changed its source table.
SNAPSHOTS = {"purchases_daily": ("purchases", "(day, touchpoint, currency)"),
             "loyalty_monthly": ("purchases", "(month, touchpoint, currency)")}
AGGREGATE_KEYS = {"survey_days": "(day, sentinel, touchpoint, brand, kind)",
                  "call_days": "(day, sentinel, touchpoint)",
                  "call_hours": "(day, sentinel, hour, touchpoint)"}


def fact_columns(table: str) -> tuple[str, ...]:
    """The row's own columns (no Kafka position), entity key included."""
    if table == "followups":
        return FOLLOWUP_COLUMNS
    return COMMON_COLUMNS + TYPE_COLUMNS[_TYPE_OF[table]]


def current_name(table: str) -> str:
    return f"{table}_current"


def _winners(db: str, table: str, rows: str, dirty: str | None) -> str:
    """SELECT key, w: each entity's winning version as a tuple of the other columns.

    Events: per event_id the first copy to arrive, then per entity the greatest
    (occurred_at, event_id); the first copy may carry another key than a later copy, so
    `rows` must hold every row of every event_id concerned. Follow-ups: the latest raised.
    """
    key, _ = CURRENT[table]
    cols = [c for c in fact_columns(table) if c != key]
    if table == "followups":
        return (f"SELECT {key}, argMax(tuple({', '.join(cols)}), tuple(created_at, event_id)) AS w "
                f"FROM {rows} {'' if dirty is None else f'WHERE {key} IN ({dirty})'} GROUP BY {key}")
    first = ", ".join(f"f.{i} AS {c}" for i, c in enumerate([key, *cols], start=1))
    return f"""SELECT {key}, argMax(tuple({', '.join(cols)}), tuple(occurred_at, event_id)) AS w
        FROM (
            SELECT event_id, {first}
            FROM (
                SELECT event_id,
                    argMin(tuple({key}, {', '.join(cols)}),
                           tuple(src_timestamp, src_topic, src_partition, src_offset)) AS f
                FROM {rows}
                GROUP BY event_id
            )
            {'' if dirty is None else f'WHERE f.1 IN ({dirty})'}
        )
        GROUP BY {key}"""


def current_rebuild(db: str, table: str, refresh_id: str) -> str:
    """INSERT ... SELECT of every entity's winning version, into an emptied current table (so no
    tombstones are needed): one pass over the facts instead of a join per entity."""
    key, _ = CURRENT[table]
    cols = [c for c in fact_columns(table) if c != key]
    out = ", ".join(f"w.{i}" for i, _ in enumerate(cols, start=1))
    return f"""
INSERT INTO {db}.{current_name(table)} ({key}, {', '.join(cols)}, version, is_deleted, refresh_id)
SELECT {key}, {out}, {VERSION}, toUInt8(0), toUUID({refresh_id})
FROM ({_winners(db, table, f"{db}.{table}", None)})"""


def current_refresh(db: str, table: str, refresh_id: str, dirty: str) -> str:
    """INSERT ... SELECT that rewrites the current rows of the entities selected by `dirty`
    (a SELECT of entity keys): a live row on the UTC day of the winner's time column, and a
    tombstone on every other day any row of the entity fell on."""
    key, at = CURRENT[table]
    cols = [c for c in fact_columns(table) if c != key]
    src = f"{db}.{table}"
    own_rows = f"(SELECT * FROM {src} WHERE {key} IN ({dirty}))"
    rows = own_rows if table == "followups" else (
        f"(SELECT * FROM {src} WHERE event_id IN (SELECT event_id FROM {src} WHERE {key} IN ({dirty})))")
    at_i = int(cols.index(at)) + 1
    out = ", ".join(f"if(live, w.{i}, toDateTime64(bucket, 6, 'UTC'))" if c == at else f"w.{i}"
                    for i, c in enumerate(cols, start=1))
    return f"""
INSERT INTO {db}.{current_name(table)} ({key}, {', '.join(cols)}, version, is_deleted, refresh_id)
SELECT {key}, {out}, {VERSION}, toUInt8(NOT live), toUUID({refresh_id})
FROM (
    SELECT b.{key} AS {key}, b.bucket AS bucket, l.w AS w, l.found = 1 AND toDate32(l.w.{at_i}) = b.bucket AS live
    FROM (
        SELECT {key}, bucket
        FROM (
            SELECT {key}, groupUniqArray(toDate32({at})) AS buckets
            FROM {own_rows}
            GROUP BY {key}
        )
        ARRAY JOIN buckets AS bucket
    ) AS b
    LEFT JOIN (
        SELECT {key}, w, toUInt8(1) AS found FROM ({_winners(db, table, rows, dirty)})
    ) AS l ON l.{key} = b.{key}
)
SETTINGS join_use_nulls = 0"""


def aggregate_refresh(db: str, tz: str, name: str) -> str:
    """INSERT ... SELECT that rewrites the business days `{days:Array(Date32)}` of one aggregate,
    each with a sentinel row, so a day left with no facts reads as empty, not as its old rows.
    `{lo:Date32}`/`{hi:Date32}` bound the UTC days read, for the index."""
    version = VERSION
    if name == "survey_days":
        at, source, select, group = "occurred_at", "surveys", (
            "touchpoint, brand, kind, count(), countIf(score >= 9), countIf(score >= 7 AND score <= 8), "
            "countIf(score <= 6)"), "touchpoint, brand, kind"
        columns = "day, sentinel, touchpoint, brand, kind, n, p, pa, d, version"
        blank = "'', '', '', 0, 0, 0, 0"
        where = ""
    elif name == "call_days":
        at, source, group = "queued_at", "calls", "touchpoint"
        select = ("touchpoint, count(), countIf(answered_at IS NOT NULL), "
                  "sumIf(ifNull(dateDiff('microsecond', queued_at, answered_at), 0), answered_at IS NOT NULL), "
                  "sumIf(toDecimal128(ifNull(dateDiff('microsecond', answered_at, ended_at), 0), 6) / 1000000 "
                  "+ toDecimal128(hold_seconds + wrap_seconds, 9), answered_at IS NOT NULL), "
                  "groupArrayIf(ifNull(dateDiff('microsecond', queued_at, answered_at), 0), answered_at IS NOT NULL), "
                  "groupArrayIf(dateDiff('microsecond', queued_at, ended_at), answered_at IS NULL)")
        columns = "day, sentinel, touchpoint, offered, answered, wait_us_sum, handle_sum, waits_us, abandons_us, version"
        blank = "'', 0, 0, 0, toDecimal128(0, 9), [], []"
        where = "AND direction = 'inbound'"
    elif name == "call_hours":
        at, source, group = "queued_at", "calls", "hour, touchpoint"
        select = f"toHour(queued_at, {tz}) AS hour, touchpoint, count(), countIf(answered_at IS NOT NULL)"
        columns = "day, sentinel, hour, touchpoint, offered, answered, version"
        blank = "0, '', 0, 0"
        where = "AND direction = 'inbound'"
    else:
        raise ValueError(name)
    return f"""
INSERT INTO {db}.{name} ({columns})
SELECT toDate32({at}, {tz}) AS day, toUInt8(0), {select}, {version}
FROM {db}.{current_name(source)} FINAL
WHERE toDate32({at}) BETWEEN {{lo:Date32}} AND {{hi:Date32}} AND has({{days:Array(Date32)}}, day) {where}
GROUP BY day, {group}
UNION ALL
SELECT arrayJoin({{days:Array(Date32)}}) AS day, toUInt8(1), {blank}, {version}"""


def latest(db: str, name: str) -> str:
    """An aggregate as its readers see it: each day's newest version, without the sentinels."""
    return (f"(SELECT * FROM {db}.{name} WHERE sentinel = 0 AND (day, version) IN "
            f"(SELECT day, max(version) FROM {db}.{name} GROUP BY day))")


def current(db: str, table: str) -> str:
    """The winning version of every entity (tombstones are dropped by FINAL)."""
    return f"{db}.{current_name(table)} FINAL"


def snapshot_table(db: str, name: str, sql: str, on: str) -> str:
    """The table a snapshot view reads, shaped like the view's own SELECT (EMPTY AS SELECT).
    `on` is the ON CLUSTER clause, or empty."""
    engine = "ReplacingMergeTree(version)"
    if on:  # one copy on every node: small, and every shard's readers need all of it
        engine = (f"ReplicatedReplacingMergeTree('/clickhouse/tables/all/{db.strip('`')}/{name}_snapshot', "
                  "'{shard}-{replica}', version)")
    return (f"CREATE TABLE IF NOT EXISTS {db}.`{name}_snapshot`{on} ENGINE = {engine} "
            f"ORDER BY (sentinel, {SNAPSHOTS[name][1].strip('()')}) EMPTY AS "
            f"SELECT *, toUInt64(0) AS version, toUInt8(0) AS sentinel FROM ({sql})")


def snapshot_view(db: str, name: str) -> str:
    """What readers of a snapshot view see: its newest complete recomputation."""
    table = f"{db}.`{name}_snapshot`"
    return (f"\nSELECT * EXCEPT (version, sentinel) FROM {table}\n"
            f"WHERE sentinel = 0 AND version = (SELECT max(version) FROM {table})")


def snapshot_refresh(db: str, name: str, sql: str, version: int) -> list[str]:
    """The recomputation, then a sentinel row of the same version (so an empty result is seen
    as empty, not as the previous one)."""
    table = f"{db}.`{name}_snapshot`"
    return [f"INSERT INTO {table} SELECT *, toUInt64({version}), toUInt8(0) FROM ({sql})",
            f"INSERT INTO {table} (version, sentinel) SELECT toUInt64({version}), toUInt8(1)"]
