"""Running the refresh of rollups.py against a ClickHouse client: what the worker does every
few seconds, `touchpulse refresh` on demand, and `up` after a schema upgrade.

Bookkeeping is all in ClickHouse, so any worker (or the CLI) can finish what another started:
a refresh first records which queued batches it takes (`refresh_batches`), works from exactly
those, and marks them done last. A batch queued meanwhile waits for the next refresh.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from touchpulse.clickhouse.rollups import (AGGREGATES, CURRENT, FIRST_COPY_TABLES, SNAPSHOTS, VERSION,
                                           aggregate_refresh, current_name, current_rebuild, current_refresh,
                                           snapshot_refresh)
from touchpulse.clickhouse.views import snapshot_sources
from touchpulse.clickhouse.schema import literal, q

log = logging.getLogger("touchpulse.refresh")


@dataclass
class RefreshResult:
    batches: int = 0
    entities: dict[str, int] = field(default_factory=dict)
    days: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def __bool__(self) -> bool:
        return self.batches > 0

    def describe(self) -> str:
        ents = ", ".join(f"{n:,} {t}" for t, n in self.entities.items() if n) or "no entities"
        return (f"{self.batches} queued batch(es): recomputed {ents} and "
                f"{sum(self.days.values())} aggregate day(s) in {self.seconds:.2f} s")


def queue_rows(batch_id: str, accepted: dict[str, list], tables: dict[str, str], followups: list = ()) -> list[list]:
    """Refresh-queue rows of one written batch: per table, its entity keys and event_ids.
    `accepted` maps event type -> Accepted items, `tables` event type -> fact table."""
    rows = []
    if followups:
        rows.append([uuid.UUID(batch_id), "followups", [f.body["followup_id"] for f in followups],
                     [f.body["event_id"] for f in followups]])
    for etype, items in accepted.items():
        if not items:
            continue
        table = tables[etype]
        key = CURRENT[table][0]
        rows.append([uuid.UUID(batch_id), table, [a.event.values[key] for a in items],
                     [a.event.values["event_id"] for a in items]])
    return rows


QUEUE_COLUMNS = ["batch_id", "fact_table", "keys", "event_ids"]


def refresh_pending(client, database: str, timezone: str) -> RefreshResult:
    """Bring the current tables and aggregates up to date with every batch queued so far."""
    started = time.perf_counter()
    db, rid = q(database), literal(str(uuid.uuid4()))  # the refresh's id, as an SQL literal
    taken = _take_batches(client, db, rid, pending_only=True)
    result = RefreshResult(batches=_scalar(client, f"SELECT count() FROM {taken}"))
    if not result:
        return result
    for table, (key, _) in CURRENT.items():
        queued = f"FROM {db}.refresh_queue WHERE fact_table = {literal(table)} AND batch_id IN {taken}"
        # Dirty: the queued entities, and any entity holding another copy of a queued event_id
        # (a copy that arrives earlier moves the version to its own entity).
        copies = (f"UNION ALL SELECT {key} AS k FROM {db}.{table} WHERE event_id IN "
                  f"(SELECT arrayJoin(event_ids) {queued})") if table in FIRST_COPY_TABLES else ""
        client.command(f"""
INSERT INTO {db}.refresh_keys (refresh_id, fact_table, key)
SELECT DISTINCT toUUID({rid}), {literal(table)}, k FROM (
    SELECT arrayJoin(keys) AS k {queued}
    {copies}
)""")
        dirty = (f"SELECT key FROM {db}.refresh_keys WHERE refresh_id = toUUID({rid}) "
                 f"AND fact_table = {literal(table)}")
        n = _scalar(client, f"SELECT count() FROM ({dirty})")
        result.entities[table] = n
        if n:
            _refresh_table(client, db, timezone, table, rid, dirty, result)
    _refresh_snapshots(client, db, timezone, {t for t, n in result.entities.items() if n})
    client.command(f"INSERT INTO {db}.refresh_done (batch_id) SELECT batch_id FROM {taken}")
    result.seconds = time.perf_counter() - started
    return result


def rebuild(client, database: str, timezone: str, entities: bool = True, cluster: str | None = None) -> RefreshResult:
    """Recompute everything from the raw facts: after a schema upgrade or facts written without
    the worker; after a time-zone change only the aggregates (`entities=False`), which are
    emptied first, since days of the old zone may not exist in the new one."""
    started = time.perf_counter()
    db, rid = q(database), literal(str(uuid.uuid4()))  # the refresh's id, as an SQL literal
    # Everything queued so far is covered by recomputing every entity; aggregates alone take none.
    taken = _take_batches(client, db, rid, pending_only=False) if entities else None
    result = RefreshResult(batches=_scalar(client, f"SELECT count() FROM {taken}") if taken else 0)
    emptied = [name for names in AGGREGATES.values() for name in names]
    emptied += [current_name(t) for t in CURRENT] if entities else []
    for name in emptied:
        if cluster:
            client.command(f"TRUNCATE TABLE IF EXISTS {db}.{q(name + '_local')} ON CLUSTER {q(cluster)}")
        else:
            client.command(f"TRUNCATE TABLE IF EXISTS {db}.{q(name)}")
    for table in CURRENT:
        if entities:
            client.command(current_rebuild(db, table, rid))
            result.entities[table] = _scalar(client, f"SELECT count() FROM {db}.{current_name(table)}")
        if table in AGGREGATES:
            _refresh_aggregates(client, db, timezone, table, f"{db}.{current_name(table)}", result)
    _refresh_snapshots(client, db, timezone, set(CURRENT))
    if taken:
        client.command(f"INSERT INTO {db}.refresh_done (batch_id) SELECT batch_id FROM {taken}")
    result.seconds = time.perf_counter() - started
    return result


def _take_batches(client, db: str, rid: str, pending_only: bool) -> str:
    """Record which queued batches this refresh covers; returns the SELECT of their ids."""
    pending = f" WHERE batch_id NOT IN (SELECT batch_id FROM {db}.refresh_done)" if pending_only else ""
    client.command(f"INSERT INTO {db}.refresh_batches (refresh_id, batch_id) "
                   f"SELECT DISTINCT toUUID({rid}), batch_id FROM {db}.refresh_queue{pending}")
    return f"(SELECT batch_id FROM {db}.refresh_batches WHERE refresh_id = toUUID({rid}))"


def pending_batches(client, database: str) -> int:
    db = q(database)
    return _scalar(client, f"SELECT uniqExact(batch_id) FROM {db}.refresh_queue "
                           f"WHERE batch_id NOT IN (SELECT batch_id FROM {db}.refresh_done)")


def needs_rebuild(client, database: str) -> bool:
    """True when facts exist that the current tables have never seen (an upgraded schema)."""
    db = q(database)
    for table in CURRENT:
        if (_scalar(client, f"SELECT count() FROM {db}.{current_name(table)}") == 0
                and _scalar(client, f"SELECT count() FROM {db}.{table}") > 0):
            return True
    return False


def _refresh_table(client, db: str, timezone: str, table: str, rid: str, dirty: str | None,
                   result: RefreshResult) -> None:
    client.command(current_refresh(db, table, rid, dirty))
    if table in AGGREGATES:
        written = f"{db}.{current_name(table)} WHERE refresh_id = toUUID({rid})"
        _refresh_aggregates(client, db, timezone, table, written, result)


def _refresh_aggregates(client, db: str, timezone: str, table: str, rows_from: str,
                        result: RefreshResult) -> None:
    """Rewrite every business day that the current rows `rows_from` (live or tombstones) touch."""
    at = CURRENT[table][1]
    tz = literal(timezone)
    rows = client.query(f"SELECT DISTINCT toDate32({at}, {tz}) FROM {rows_from}").result_rows
    # A tombstone stands at the start of the UTC day it clears; the row it clears may sit a
    # business day either side of that.
    days = sorted({d + timedelta(days=k) for (d,) in rows for k in (-1, 0, 1)})
    result.days[table] = len(days)
    if not days:
        return
    params = {"days": days, "lo": days[0] - timedelta(days=2), "hi": days[-1] + timedelta(days=2)}
    for name in AGGREGATES[table]:
        client.command(aggregate_refresh(db, tz, name), parameters=params)


def _refresh_snapshots(client, db: str, timezone: str, changed: set[str]) -> None:
    sources = snapshot_sources(db, literal(timezone))
    names = [name for name, (table, _) in SNAPSHOTS.items() if table in changed]
    if not names:
        return
    version = _scalar(client, f"SELECT {VERSION}")
    for name in names:
        for stmt in snapshot_refresh(db, name, sources[name], version):
            client.command(stmt)


def _scalar(client, sql: str) -> int:
    return int(client.query(sql).result_rows[0][0])

