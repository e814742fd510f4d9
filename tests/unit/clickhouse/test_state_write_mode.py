"""The key-value tables take a batch's inserts through RocksDB's memtable, not as an SST file per
insert (derived/tables.py): on a new database, on one whose tables were made before, and after a
rebuild (which loads them in bulk mode meanwhile)."""

from __future__ import annotations

import uuid

from touchpulse.clickhouse.quoting import q
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import default_registry_path, load_registry
from touchpulse.derived.rebuild import rebuild
from touchpulse.derived.tables import KV_TABLES

REGISTRY = load_registry(default_registry_path())


def bulk_modes(client, db: str) -> dict[str, str]:
    rows = client.query("SELECT name, engine_full FROM system.tables WHERE database = {db:String} "
                        "AND engine = 'EmbeddedRocksDB'", parameters={"db": db}).result_rows
    out = {}
    for name, engine in rows:
        out[name] = "memtable" if "optimize_for_bulk_insert = 0" in engine else "sst per insert"
    return out


def test_every_key_value_table_writes_through_the_memtable_before_and_after_up_and_rebuild(chdb_client):
    db = f"wm_{uuid.uuid4().hex[:10]}"
    apply_schema(chdb_client, SchemaOptions(db, "UTC"), REGISTRY)
    assert bulk_modes(chdb_client, db) == {n: "memtable" for n in KV_TABLES}

    # A database made before: the engine's default on two tables; `up` converts them in place.
    for name in ("seen", "customers_state"):
        chdb_client.command(f"ALTER TABLE {q(db)}.{q(name)} MODIFY SETTING optimize_for_bulk_insert = 1")
    assert bulk_modes(chdb_client, db)["seen"] == "sst per insert"
    apply_schema(chdb_client, SchemaOptions(db, "UTC"), REGISTRY)
    assert bulk_modes(chdb_client, db) == {n: "memtable" for n in KV_TABLES}

    chdb_client.command(f"INSERT INTO {q(db)}.calls (event_id, occurred_at, touchpoint, call_id, direction, queued_at, "
                        "ended_at, src_topic, src_offset, src_timestamp, batch_id) VALUES ('e1', now64(6), 'call_centre', "
                        "'c1', 'inbound', now64(6), now64(6), 'calls', 0, now64(3), 'b')")
    done = rebuild(chdb_client, db, "UTC")
    assert done.entities["call"] == 1
    assert bulk_modes(chdb_client, db) == {n: "memtable" for n in KV_TABLES}
