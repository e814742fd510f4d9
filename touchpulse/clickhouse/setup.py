"""Create or update the schema and load the registry targets; safe to run any number of times."""

from __future__ import annotations

import logging

from touchpulse.clickhouse.schema import SchemaOptions, q, schema_statements, targets_rows
from touchpulse.core.touchpoints import Registry

log = logging.getLogger(__name__)

TARGET_COLUMNS = ["touchpoint", "name", "channel", "sla_answer_seconds", "short_abandon_seconds",
                  "review_reply_hours", "followup_hours"]


def apply_schema(client, opts: SchemaOptions, registry: Registry) -> None:
    for stmt in schema_statements(opts, registry):
        client.command(stmt)
    sync_targets(client, opts, registry)
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
