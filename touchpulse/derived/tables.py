"""DDL of derived data: the state (key-value tables, ClickHouse's EmbeddedRocksDB: a lookup of a
batch's keys costs the same at any size of history), the additive tables of sums.py, and the
bookkeeping that makes a batch's maintenance complete after a crash (maintenance.py)."""

from __future__ import annotations

from touchpulse.clickhouse.quoting import literal, q
from touchpulse.derived.changes import state_table
from touchpulse.derived.loop import queue_columns
from touchpulse.derived.spec import FACT_TABLE, key, state_columns
from touchpulse.derived.sums import CALL, CLOSURE, DEDUP_WINDOW, KEY_COLUMNS, MEASURE_COLUMNS, ORDER, PROMOTER

POSITION_KEY = "concat(src_topic, '#', toString(src_partition))"
OWED = "Tuple(customer_id String, kind String, entity_id String)"  # a customer notice owed


def state_statements(db: str, on: str) -> list[str]:
    """`on` is an ON CLUSTER clause or ''. On a cluster every node gets the tables, but only the
    node the workers write through holds the state (docs/scaling.md)."""
    out = []
    for etype in FACT_TABLE:
        k = key(etype)
        cols = ",\n    ".join(f"{n} {t}" for n, t in [("found", "UInt8")] + state_columns(etype))
        out.append(_kv(db, on, state_table(etype), f"{k} String,\n    {cols}", k))
    # Each follow-up combined with its updates (derived/loop.py).
    cols = ",\n    ".join(f"{n} {t}" for n, t in queue_columns())
    out.append(_kv(db, on, "queue_state", f"followup_id String,\n    {cols}", "followup_id"))
    # Per event type and event_id, its first copy (key `type:event_id`).
    out.append(_kv(db, on, "seen", """k String,
    entity String,
    src_timestamp DateTime64(3, 'UTC'),
    src_topic String,
    src_partition UInt32,
    src_offset UInt64""", "k"))
    out.append(_kv(db, on, "customers_state", f"customer_id String,\n    orders Array({ORDER}),\n    calls Array({CALL}),\n"
                                             f"    promoters Array({PROMOTER}),\n    closures Array({CLOSURE})",
                   "customer_id"))
    # Per topic partition, the offset after the last one whose batch was applied: a replayed
    # message (after a crash or a rebalance) is recognised before any work is done for it.
    out.append(_kv(db, on, "positions", "k String,\n    next_offset UInt64", "k"))
    # Notices (owner, kind, id) a batch owes to the customers topic, until they are published: one
    # row per batch (per attempt at it), deleted by its key once published. (A row per notice
    # left a tombstone per notice, and each DELETE scanned past all of them: 0.2-0.5 s a batch,
    # growing with the notices ever sent.)
    out.append(outbox_statement(db, on))
    # Batches whose maintenance started and did not finish (maintenance.py recovers them).
    out.append(_kv(db, on, "open_batches", "batch_id String,\n    worker String,\n    opened DateTime64(3, 'UTC'),\n"
                                           "    partitions Array(String)",
                   "batch_id"))
    return out


def outbox_statement(db: str, on: str) -> str:
    return _kv(db, on, "outbox", f"k String,\n    batch_id String,\n    notices Array({OWED})", "k")


def _kv(db: str, on: str, name: str, columns: str, key: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {db}.{q(name)}{on} (\n    {columns}\n) ENGINE = EmbeddedRocksDB PRIMARY KEY {key}\n"
            "SETTINGS optimize_for_bulk_insert = 0")


def write_mode_statements(db: str, on: str, bulk: bool, names: list[str] | None = None) -> list[str]:
    """How the key-value tables take inserts. A batch writes tens to thousands of rows into each:
    through RocksDB's memtable (`bulk=False`). The engine's default builds an SST file per insert
    and ingests it, which suits a bulk load (the rebuild: twice as fast at 1M rows) but makes every
    small insert pay for a file (3-4x slower, with stalls of 0.3-0.4 s as the files pile up:
    measured on chDB 26.9, benchmarks/README.md). Tables created by schema version 5 had it."""
    return [f"ALTER TABLE {db}.{q(n)}{on} MODIFY SETTING optimize_for_bulk_insert = {int(bulk)}"
            for n in (names if names is not None else KV_TABLES)]


def sums_statements(db: str, on: str, replicated: bool) -> list[str]:
    """The additive table of sums.py: no partitions, so a batch's deltas are one part; on a
    cluster a full copy on every node (it is small: days, not entities)."""
    keys = [f"{c} {t}" for c, t in KEY_COLUMNS]
    measures = [f"{c} SimpleAggregateFunction({how}, {t})" for c, how, t in MEASURE_COLUMNS]
    body = ",\n    ".join(keys + measures)
    order = ", ".join(c for c, _ in KEY_COLUMNS)
    if replicated:
        path = literal(f"/clickhouse/tables/all/{db.strip(chr(96))}/sums")
        engine = f"ReplicatedAggregatingMergeTree({path}, '{{shard}}-{{replica}}')"
        window = f"replicated_deduplication_window = {DEDUP_WINDOW}"
    else:
        engine = "AggregatingMergeTree"
        window = f"non_replicated_deduplication_window = {DEDUP_WINDOW}"
    return [f"CREATE TABLE IF NOT EXISTS {db}.`sums`{on} (\n    {body}\n) ENGINE = {engine}\nORDER BY ({order})\n"
            f"SETTINGS {window}"]


KV_TABLES = [state_table(etype) for etype in FACT_TABLE] + ["queue_state", "seen", "customers_state", "positions",
                                                             "open_batches", "outbox"]
DERIVED_TABLES = KV_TABLES + ["sums"]
