"""Create, migrate or update the schema and load the registry targets; safe to run any number of
times. Facts are never touched; derived data is rebuilt from them when its shape or the business
time zone changed (with a progress bar, it reads all history)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from touchpulse.clickhouse.schema import (SCHEMA_VERSION, SchemaOptions, followups_statements, q,
                                         schema_statements, targets_rows)
from touchpulse.core.touchpoints import Registry
from touchpulse.derived.rebuild import rebuild
from touchpulse.derived.tables import DERIVED_TABLES, outbox_statement, write_mode_statements

log = logging.getLogger(__name__)

TARGET_COLUMNS = ["touchpoint", "name", "channel", "sla_answer_seconds", "short_abandon_seconds",
                  "review_reply_hours", "followup_hours", "repeat_window_hours", "callback_minutes",
                  "service_level_base"]
RAW_TABLES = ("calls", "purchases", "reviews", "surveys", "dead_letters", "followups")
# Derived tables of schema version 2 (refreshed tables and their bookkeeping), dropped on upgrade.
V2_TABLES = ("calls_current", "purchases_current", "reviews_current", "surveys_current", "followups_current",
             "survey_days", "call_days", "call_hours", "refresh_queue", "refresh_done", "refresh_batches",
             "refresh_keys", "purchases_daily_snapshot", "loyalty_monthly_snapshot")


@dataclass(frozen=True)
class Installed:
    timezone: str
    version: int


def installed(client, database: str) -> Installed | None:
    """What `schema_info` says of the database, or None when it holds no touchpulse schema."""
    try:
        rows = client.query(f"SELECT * FROM {q(database)}.schema_info").result_rows
    except Exception:  # no database or no schema_info yet
        return None
    if not rows:
        return None
    return Installed(str(rows[0][0]), int(rows[0][1]) if len(rows[0]) > 1 else 1)


def views_timezone(client, database: str) -> str | None:
    """The business time zone the derived data was made for, or None when there is no schema."""
    found = installed(client, database)
    return found.timezone if found else None


def apply_schema(client, opts: SchemaOptions, registry: Registry, progress=None) -> None:
    before = installed(client, opts.database)
    if before is not None and before.version > SCHEMA_VERSION:
        from touchpulse.errors import UserError
        raise UserError(f"database {opts.database!r} holds schema version {before.version}, newer than this "
                        f"touchpulse's {SCHEMA_VERSION}: upgrade touchpulse")
    migrated = before is not None and before.version < SCHEMA_VERSION
    if migrated:
        log.info("upgrading database %s from schema version %d to %d (facts are kept)", opts.database,
                 before.version, SCHEMA_VERSION)
        if before.version < 3:
            _upgrade_raw(client, opts)
        if before.version < 4:
            _drop_derived(client, opts)
        else:  # 4 -> 5: only the outbox changed; everything derived stays as it is
            _upgrade_outbox(client, opts)
            migrated = False
    lost = _tables_missing(client, opts.database, DERIVED_TABLES) if before is not None else []
    statements = schema_statements(opts, registry)
    for stmt in statements[:-1]:
        client.command(stmt)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    for stmt in write_mode_statements(q(opts.database), on, bulk=False):  # also tables made before (tables.py)
        client.command(stmt)
    sync_targets(client, opts, registry)
    moved = before is not None and before.timezone != opts.timezone
    if migrated or moved or lost or _derived_missing(client, opts.database):
        why = ("the schema was upgraded" if migrated else
               f"the time zone changed from {before.timezone} to {opts.timezone}" if moved else
               f"derived table(s) {', '.join(lost)} were missing" if lost else
               "facts were written without the worker")
        log.info("computing the derived data from the facts already stored (%s)", why)
        log.info("done: %s", rebuild(client, opts.database, opts.timezone, progress=progress or _progress()).describe())
    client.command(statements[-1])  # schema_info last: it says "ready"
    log.info("ClickHouse schema version %d ready in database %s (%d touchpoints with targets)",
             SCHEMA_VERSION, opts.database, len(registry.touchpoints))


def _upgrade_raw(client, opts: SchemaOptions) -> None:
    """Raw tables of an older version: drop the old derived tables, tag rows with a batch id, and
    order follow-ups by time (a copy: ClickHouse cannot change a sort key in place)."""
    db = q(opts.database)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    local = "_local" if opts.cluster else ""
    # The targets table gains columns in version 3; it is filled from the registry at every `up`.
    for name in (*V2_TABLES, "touchpoint_targets"):
        client.command(f"DROP TABLE IF EXISTS {db}.{q(name)}{on}")
        if opts.cluster:
            client.command(f"DROP TABLE IF EXISTS {db}.{q(name + '_local')}{on}")
    for name in RAW_TABLES:
        for t in ([name + local, name] if local else [name]):
            client.command(f"ALTER TABLE {db}.{q(t)}{on} ADD COLUMN IF NOT EXISTS batch_id String")
    if opts.cluster:
        return  # re-sorting a sharded table is left to the operator (docs/deployment.md)
    client.command(f"RENAME TABLE {db}.followups TO {db}.followups_v2")
    for stmt in followups_statements(opts):
        client.command(stmt)
    client.command(f"INSERT INTO {db}.followups SELECT * EXCEPT batch_id, '' FROM {db}.followups_v2")
    client.command(f"DROP TABLE {db}.followups_v2")


def _drop_derived(client, opts: SchemaOptions) -> None:
    """Derived tables of an older layout (version 4 adds columns to the sums and the customers'
    state, and tables of its own): dropped, created anew below and computed from the facts. A
    batch left open or a notice left unpublished is recomputed with everything else."""
    db = q(opts.database)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    for name in DERIVED_TABLES:
        client.command(f"DROP TABLE IF EXISTS {db}.{q(name)}{on}")


def _upgrade_outbox(client, opts: SchemaOptions) -> None:
    """Version 5 keeps a batch's unpublished notices in one outbox row instead of one row each:
    the rows of version 4 are carried over, one row per batch, and published as before."""
    db = q(opts.database)
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    client.command(f"RENAME TABLE {db}.outbox TO {db}.outbox_v4{on}")
    client.command(outbox_statement(db, on))
    client.command(f"INSERT INTO {db}.outbox (k, batch_id, notices) SELECT concat(batch_id, '#v4'), batch_id, "
                   f"groupUniqArray((customer_id, kind, entity_id)) FROM {db}.outbox_v4 GROUP BY batch_id")
    client.command(f"DROP TABLE {db}.outbox_v4{on}")


def _tables_missing(client, database: str, names) -> list[str]:
    """Which of these tables the database lacks (one dropped by hand: the derived data must be
    recomputed, the other derived tables no longer add up with a new empty one)."""
    rows = client.query("SELECT name FROM system.tables WHERE database = {db:String}",
                        parameters={"db": database}).result_rows
    present = {r[0] for r in rows}
    return [n for n in names if n not in present]


def _derived_missing(client, database: str) -> bool:
    """Facts but no derived data: written by other means (a restore, a bulk load)."""
    db = q(database)
    rows = client.query(f"SELECT (SELECT count() FROM {db}.positions) = 0 AND ((SELECT count() FROM {db}.calls) "
                        f"+ (SELECT count() FROM {db}.surveys) + (SELECT count() FROM {db}.purchases) "
                        f"+ (SELECT count() FROM {db}.reviews) + (SELECT count() FROM {db}.dead_letters)) > 0"
                        ).result_rows
    return bool(rows[0][0])


def _progress():
    """A step-by-step progress bar on a terminal, log lines otherwise."""
    import sys
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm
    bar = tqdm(desc="rebuilding derived data", unit=" step", total=13, leave=False)

    def step(text: str) -> None:
        bar.set_postfix_str(text[:60])
        bar.update(1)
    return step


def sync_targets(client, opts: SchemaOptions, registry: Registry) -> None:
    """Replace the targets table: targets apply at query time, so this re-states history."""
    table = f"{q(opts.database)}.{q('touchpoint_targets')}"
    if opts.cluster:
        table = f"{q(opts.database)}.{q('touchpoint_targets_local')}"
        client.command(f"TRUNCATE TABLE IF EXISTS {table} ON CLUSTER {q(opts.cluster)}")
    else:
        client.command(f"TRUNCATE TABLE IF EXISTS {table}")
    rows = targets_rows(registry)
    if rows:
        client.insert(f"{opts.database}.touchpoint_targets", rows, column_names=TARGET_COLUMNS)


def ensure_views_current(client, opts: SchemaOptions, registry: Registry) -> None:
    """Days and hours are fixed in the derived data; if TOUCHPULSE_TIMEZONE changed since, rebuild
    it (or, without the rights to, say exactly what to run)."""
    current = views_timezone(client, opts.database)
    if current is None or current == opts.timezone:
        return
    log.warning("the views were made for time zone %s but TOUCHPULSE_TIMEZONE is %s: rebuilding them",
                current, opts.timezone)
    try:
        apply_schema(client, opts, registry)
    except Exception as exc:
        from touchpulse.errors import UserError
        raise UserError(f"the views use time zone {current}, TOUCHPULSE_TIMEZONE is {opts.timezone}, and they "
                        f"could not be rebuilt ({str(exc).splitlines()[0][:120]}): run `touchpulse up` "
                        "with a user allowed to create tables") from None
