"""Backfill: re-drive a date range and report what changed.

After a registry target change or a dead-letter replay, the numbers for past days move. The
views compute at query time, so re-driving a range means: re-apply the schema and targets,
read the metric views for the range again, and compare them with the last snapshot stored in
`metric_snapshots` (one JSON document per view row). The new reading becomes the snapshot.

A snapshot of a (view, day) is the set of rows sharing its latest `taken_at`, plus a marker
row with an empty key, so a day whose rows all disappeared still has a (empty) latest snapshot.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from touchpulse.clickhouse.schema import SchemaOptions, q
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import Registry, load_registry
from touchpulse.flows.changes import Snapshot, ViewDiff, diff, plain
from touchpulse.settings import Settings

log = logging.getLogger(__name__)

TABLE = "metric_snapshots"
MAX_DAYS = 3660

# view -> (date column, key columns). Every other column is a value to compare.
SNAPSHOT_VIEWS: dict[str, tuple[str, tuple[str, ...]]] = {
    "nps_daily": ("day", ("touchpoint", "brand", "kind")),
    "nps_rolling_7d": ("day", ("touchpoint", "brand", "kind")),
    "calls_daily": ("day", ("touchpoint",)),
    "calls_hourly": ("day", ("hour", "touchpoint")),
    "reviews_daily": ("day", ("touchpoint", "platform")),
    "purchases_daily": ("day", ("touchpoint", "currency")),
    "loyalty_monthly": ("month", ("touchpoint", "currency")),
    "ingest_daily": ("day", ("type",)),
}


class BackfillError(ValueError):
    """A date range the backfill cannot run."""


def snapshot_ddl(opts: SchemaOptions) -> str:
    on = f" ON CLUSTER {q(opts.cluster)}" if opts.cluster else ""
    return (f"CREATE TABLE IF NOT EXISTS {q(opts.database)}.{q(TABLE)}{on} (\n"
            "    view LowCardinality(String),\n    day Date32,\n    key String,\n    `values` String,\n"
            "    taken_at DateTime64(3, 'UTC')\n) ENGINE = MergeTree\nPARTITION BY toYYYYMM(day)\n"
            "ORDER BY (view, day, key, taken_at)")


@dataclass
class BackfillReport:
    day_from: date
    day_to: date
    taken_at: datetime
    views: list[ViewDiff] = field(default_factory=list)

    @property
    def any_change(self) -> bool:
        return any(v.any_change for v in self.views)

    def text(self, examples: int = 3) -> str:
        head = (f"backfill {self.day_from} .. {self.day_to}: "
                + ("changes found" if self.any_change else "no change against the last snapshot"))
        lines = [head]
        for v in self.views:
            lines += v.summary(examples)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.day_from.isoformat(), "to": self.day_to.isoformat(),
                "taken_at": self.taken_at.isoformat(), "changed": self.any_change,
                "views": [v.to_dict() for v in self.views], "text": self.text()}

    def save(self, out_dir: Path) -> Path:
        """The full report as JSON: out_dir/backfill-FROM-TO-TAKEN.json."""
        from touchpulse.report.daily import write_atomic

        path = Path(out_dir) / f"backfill-{self.day_from}-{self.day_to}-{self.taken_at:%Y%m%dT%H%M%S}.json"
        write_atomic(path, json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return path


def check_range(day_from: date, day_to: date) -> None:
    if day_from > day_to:
        raise BackfillError(f"--from {day_from} is after --to {day_to}")
    if (day_to - day_from).days + 1 > MAX_DAYS:
        raise BackfillError(f"a backfill covers at most {MAX_DAYS} days; split {day_from} .. {day_to}")


def backfill(client, settings: Settings, day_from: date, day_to: date, *, registry: Registry | None = None,
             taken_at: datetime | None = None) -> BackfillReport:
    """Re-apply schema and targets, read every snapshot view for the range, diff, store the snapshot."""
    check_range(day_from, day_to)
    registry = registry or load_registry(settings.touchpoints)
    opts = SchemaOptions(settings.database, settings.timezone, settings.clickhouse_cluster)
    apply_schema(client, opts, registry)
    client.command(snapshot_ddl(opts))
    taken_at = taken_at or datetime.now(timezone.utc)
    report = BackfillReport(day_from, day_to, taken_at)
    for view, (day_col, keys) in SNAPSHOT_VIEWS.items():
        lo = day_from.replace(day=1) if day_col == "month" else day_from
        after = read_view(client, settings.database, view, day_col, keys, lo, day_to)
        before, snapshot_days = read_snapshot(client, settings.database, view, lo, day_to)
        report.views.append(diff(view, before, after, snapshot_days))
        store_snapshot(client, settings.database, view, after, _days(lo, day_to, day_col), taken_at)
        log.info("backfill %s", report.views[-1].summary(0)[0])
    return report


def _days(lo: date, hi: date, day_col: str) -> list[date]:
    days = [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]
    return sorted({d.replace(day=1) for d in days}) if day_col == "month" else days


def read_view(client, database: str, view: str, day_col: str, keys: tuple[str, ...], lo: date, hi: date) -> Snapshot:
    result = client.query(f"SELECT * FROM {q(database)}.{q(view)} WHERE {q(day_col)} >= {{lo:Date32}} "
                          f"AND {q(day_col)} <= {{hi:Date32}}", parameters={"lo": lo, "hi": hi})
    names = list(result.column_names)
    out: Snapshot = {}
    for row in result.result_rows:
        rec = dict(zip(names, row))
        key = json.dumps([plain(rec[k]) for k in keys], ensure_ascii=False)
        out[(rec[day_col], key)] = {c: plain(v) for c, v in rec.items() if c != day_col and c not in keys}
    return out


def read_snapshot(client, database: str, view: str, lo: date, hi: date) -> tuple[Snapshot, set[date]]:
    """The latest snapshot of every day in range, and which days have one at all."""
    table = f"{q(database)}.{q(TABLE)}"
    params = {"view": view, "lo": lo, "hi": hi}
    latest = f"""(SELECT day, max(taken_at) AS taken_at FROM {table}
        WHERE view = {{view:String}} AND day >= {{lo:Date32}} AND day <= {{hi:Date32}} GROUP BY day)"""
    result = client.query(f"""
SELECT s.day, s.key, s.`values` FROM {table} AS s
INNER JOIN {latest} AS l ON l.day = s.day AND l.taken_at = s.taken_at
WHERE s.view = {{view:String}} AND s.day >= {{lo:Date32}} AND s.day <= {{hi:Date32}}""", parameters=params)
    before: Snapshot = {}
    days: set[date] = set()
    for day, key, values in result.result_rows:
        days.add(day)
        if key:
            before[(day, key)] = json.loads(values)
    return before, days


def store_snapshot(client, database: str, view: str, rows: Snapshot, days: list[date], taken_at: datetime) -> None:
    data = [[view, day, "", "{}", taken_at] for day in days]
    data += [[view, day, key, json.dumps(values, sort_keys=True, ensure_ascii=False), taken_at]
             for (day, key), values in sorted(rows.items())]
    client.insert(f"{database}.{TABLE}", data, column_names=["view", "day", "key", "values", "taken_at"])
