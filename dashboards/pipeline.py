"""Pipeline health: what the worker accepted, dropped as duplicates and rejected to the
dead-letter topic, why, and how fresh each fact table is."""

from __future__ import annotations

from typing import Any

from touchpulse.dashboards.model import (Context, colored, custom_variable, dashboard, override, stat, table, thresholds,
                                         timeseries)
from touchpulse.dashboards.sql import any_of, where

UID = "touchpulse-pipeline"
TYPES = ["call", "purchase", "review", "survey"]
FRESHNESS_STEPS = thresholds((None, "green"), (900, "orange"), (3600, "red"))


def build(ctx: Context) -> dict[str, Any]:
    f = ["$__dateFilter(day)", any_of("type", "type")]
    ingest = ctx.view("ingest_daily")
    letters = ctx.view("dead_letters_daily")
    items = [
        stat(ctx, "Accepted", "Distinct events written to the fact tables.", f"""
            SELECT sum(accepted) AS "Accepted"
            FROM {ingest}
            {where(*f)}""", width=6),
        stat(ctx, "Duplicates", "Re-sent events (same event_id) counted once and otherwise ignored.", f"""
            SELECT sum(duplicates) AS "Duplicates", sum(duplicates) / nullIf(sum(accepted) + sum(duplicates), 0)
                AS "Duplicate share"
            FROM {ingest}
            {where(*f)}""", width=6, overrides=[override("byName", "Duplicate share", unit="percentunit",
                                                         decimals=2)]),
        stat(ctx, "Rejected (dead letters)", "Messages that broke the event contract, kept on the dead-letter "
             "topic with their reason.", f"""
            SELECT sum(rejected) AS "Rejected", sum(rejected) / nullIf(sum(accepted) + sum(duplicates)
                + sum(rejected), 0) AS "Rejected share"
            FROM {ingest}
            {where(*f)}""", width=6, steps=thresholds((None, "green"), (1, "orange")),
             overrides=[override("byName", "Rejected share", unit="percentunit", decimals=2)]),
        stat(ctx, "Freshness", "Time since the last message of each type was written (now - max ingested_at).",
             f"""
            SELECT type, lag_seconds
            FROM {ctx.view('ingest_freshness')}
            ORDER BY type""", unit="s", steps=FRESHNESS_STEPS, width=6, all_values=True),
        timeseries(ctx, "Messages by day", "Accepted, duplicate and rejected messages, by their Kafka day.", f"""
            SELECT {ctx.day_time()} AS time, sum(accepted) AS "Accepted", sum(duplicates) AS "Duplicates",
                sum(rejected) AS "Rejected"
            FROM {ingest}
            {where(*f)}
            GROUP BY time
            ORDER BY time""", bars=True, stacked=True, width=12, overrides=colored(("Rejected", "red"), ("Duplicates", "orange"))),
        table(ctx, "Dead letters by reason", "Rejections grouped by type, field and reason (values masked).", f"""
            SELECT type AS "Type", field AS "Field", reason_class AS "Reason", sum(letters) AS "Letters",
                max(last_seen) AS "Last seen", any(example) AS "Example reason"
            FROM {letters}
            {where(*f)}
            GROUP BY type, field, reason_class
            ORDER BY "Letters" DESC, type, field, reason_class
            LIMIT 100""", width=12),
        table(ctx, "Freshness by type", "Last event time and last write per fact type; lag is now - last write.",
              f"""
            SELECT type AS "Type", last_occurred_at AS "Last event", last_ingested_at AS "Last written",
                lag_seconds AS "Lag (s)", rows AS "Rows"
            FROM {ctx.view('ingest_freshness')}
            ORDER BY type""", width=12, overrides=[override("byName", "Lag (s)", unit="s", thresholds=FRESHNESS_STEPS,
                                                            custom__cellOptions={"type": "color-background"})]),
        timeseries(ctx, "Messages by touchpoint", "Raw messages per day and touchpoint (duplicates included): "
                   "a new or silent touchpoint shows here first.", f"""
            SELECT {ctx.day_time()} AS time, touchpoint, sum(messages) AS messages
            FROM {ctx.view('touchpoint_activity')}
            {where(*f)}
            GROUP BY time, touchpoint
            ORDER BY time""", long_by="touchpoint", width=12),
    ]
    type_var = custom_variable("type", "Event type", TYPES, description="Fact type (topic) of the messages")
    return dashboard(ctx, uid=UID, title="Pipeline health",
                     description="Accepted, duplicate and rejected messages, dead letters by reason, freshness",
                     tags=["touchpulse", "pipeline"], items=items, variables=[type_var], time_from="now-7d")
