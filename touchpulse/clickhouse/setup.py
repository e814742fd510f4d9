"""Create or update the schema and load the registry targets; safe to run any number of times."""

from __future__ import annotations

import logging

from touchpulse.clickhouse.refresh import needs_rebuild, rebuild
from touchpulse.clickhouse.schema import SchemaOptions, q, schema_statements, targets_rows
from touchpulse.core.touchpoints import Registry

log = logging.getLogger(__name__)

TARGET_COLUMNS = ["touchpoint", "name", "channel", "sla_answer_seconds", "short_abandon_seconds",
                  "review_reply_hours", "followup_hours"]


def apply_schema(client, opts: SchemaOptions, registry: Registry) -> None:
    before = views_timezone(client, opts.database)
    for stmt in schema_statements(opts, registry):
        client.command(stmt)
    sync_targets(client, opts, registry)
    if needs_rebuild(client, opts.database):
        log.info("computing the current tables and daily aggregates from the facts already stored")
        log.info("done: %s", rebuild(client, opts.database, opts.timezone, cluster=opts.cluster).describe())
    elif before is not None and before != opts.timezone:
        log.info("time zone changed from %s to %s: recomputing the daily aggregates", before, opts.timezone)
        rebuild(client, opts.database, opts.timezone, entities=False, cluster=opts.cluster)
    log.info("ClickHouse schema ready in database %s (%d touchpoints with targets)",
             opts.database, len(registry.touchpoints))


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


def views_timezone(client, database: str) -> str | None:
    """The business time zone the views were created for, or None when there is no schema."""
    try:
        rows = client.query(f"SELECT timezone FROM {q(database)}.schema_info").result_rows
    except Exception:  # no database or no schema_info yet
        return None
    return rows[0][0] if rows else None


def ensure_views_current(client, opts: SchemaOptions, registry: Registry) -> None:
    """Days and hours are baked into the views at `up`; if TOUCHPULSE_TIMEZONE changed since,
    re-create them (or, without DDL rights, say exactly what to run)."""
    current = views_timezone(client, opts.database)
    if current is None or current == opts.timezone:
        return
    log.warning("the views were created for time zone %s but TOUCHPULSE_TIMEZONE is %s: re-creating them",
                current, opts.timezone)
    try:
        for stmt in schema_statements(opts, registry):
            if " VIEW " in stmt:
                client.command(stmt)
        rebuild(client, opts.database, opts.timezone, entities=False, cluster=opts.cluster)
    except Exception as exc:
        from touchpulse.errors import UserError
        raise UserError(f"the views use time zone {current}, TOUCHPULSE_TIMEZONE is {opts.timezone}, and they "
                        f"could not be re-created ({str(exc).splitlines()[0][:120]}): run `touchpulse up` "
                        "with a user allowed to create views") from None
