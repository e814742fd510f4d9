"""Reading the views for `touchpulse query`: bound parameters only, identifiers from a fixed list."""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime
from decimal import Decimal

import orjson

from touchpulse.clickhouse.client import connect, reads_through_worker
from touchpulse.clickhouse.schema import q
from touchpulse.errors import UserError
from touchpulse.settings import Settings

# view -> (date column used by --from/--to, ORDER BY)
VIEWS: dict[str, tuple[str, str]] = {
    "nps_daily": ("day", "day, touchpoint, brand, kind"),
    "calls_daily": ("day", "day, touchpoint"),
    "calls_hourly": ("day", "day, hour, touchpoint"),
    "reviews_daily": ("day", "day, touchpoint, platform"),
    "purchases_daily": ("day", "day, touchpoint, currency"),
    "nps_rolling_7d": ("day", "day, touchpoint, brand, kind"),
    "ingest_daily": ("day", "day, type"),
    "loyalty_monthly": ("month", "month, touchpoint, currency"),
    "calls_resolution_daily": ("day", "day, touchpoint"),
    "agents_daily": ("day", "day, touchpoint, agent_id"),
    "missed_not_called_back": ("day", "day, touchpoint, queued_at"),
    "followups_daily": ("day", "day, touchpoint"),
    "followup_queue": ("day", "due_at, followup_id"),
    "followups_open": ("day", "day, touchpoint"),
    "callbacks_hourly": ("day", "day, hour, touchpoint"),
    "fcr_settled": ("day", "day, touchpoint"),
}
NO_TOUCHPOINT = {"ingest_daily"}


def query_view(settings: Settings, view: str, day_from: date | None = None, day_to: date | None = None,
               touchpoint: str | None = None, limit: int | None = None, client=None,
               where: list[str] | None = None, params: dict | None = None):
    """Rows of `view`, in its order. `where`: further conditions, fixed SQL from touchpulse's own
    code with `params` bound (touchpulse followups)."""
    if view not in VIEWS:
        raise UserError(f"unknown view {view!r}; choose one of {', '.join(sorted(VIEWS))}")
    day_col, order = VIEWS[view]
    where, params = list(where or []), dict(params or {})
    if day_from:
        where.append(f"{q(day_col)} >= {{day_from:Date32}}")
        params["day_from"] = day_from
    if day_to:
        where.append(f"{q(day_col)} <= {{day_to:Date32}}")
        params["day_to"] = day_to
    if touchpoint is not None:
        if view in NO_TOUCHPOINT:
            raise UserError(f"{view} has no touchpoint column")
        where.append("touchpoint = {touchpoint:String}")
        params["touchpoint"] = touchpoint
    sql = f"SELECT * FROM {q(settings.database)}.{q(view)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {order}"
    if limit:
        sql += " LIMIT {limit:UInt64}"
        params["limit"] = limit
    own = client is None
    client = client or connect(settings, read_only=True)
    try:
        from touchpulse.clickhouse.setup import ensure_views_current
        from touchpulse.services import registry, schema_options
        ensure_views_current(client, schema_options(settings), registry(settings))
        # Holding chDB itself, it knows no worker runs: finish what a crash left open (a worker
        # serving this read completes its own batches).
        if settings.embedded_clickhouse and not reads_through_worker(client):
            complete_open_batches(client, settings)
        result = client.query(sql, parameters=params)
        return list(result.column_names), result.result_rows
    finally:
        if own:
            client.close()


def complete_open_batches(client, settings: Settings) -> int:
    """Batches a crashed worker left half applied, completed, and the customer notices it had not
    published yet, applied (embedded chDB only: there, a process that could open the database
    knows that no worker is running, so it is the only one to own every customer)."""
    from touchpulse.clickhouse.setup import views_timezone
    from touchpulse.clickhouse.writer import FactWriter, LocalNotices
    from touchpulse.streams.batch import BatchOutcome
    zone = views_timezone(client, settings.database) or settings.timezone
    writer = FactWriter(client, settings.database, zone)
    m = writer.maintainer
    if not m.open_batches() and not m.outbox():
        return 0
    try:
        done = m.recover(everyone=True)
        LocalNotices(writer).write(BatchOutcome())
        return done
    finally:
        m.drop_working_tables()


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def format_rows(columns: list[str], rows: list[tuple], fmt: str) -> str:
    if fmt == "json":
        data = [{c: _plain(v) for c, v in zip(columns, row)} for row in rows]
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        for row in rows:
            w.writerow(["" if v is None else _cell(v) for v in row])
        return buf.getvalue()
    return render_table(columns, rows)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if math.isfinite(value) else ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(_plain(value))


def render_table(columns: list[str], rows: list[tuple]) -> str:
    cells = [[("-" if v is None else _cell(v)) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    for r in cells:
        out.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(r, widths)).rstrip())
    out.append(f"({len(rows)} rows)")
    return "\n".join(out) + "\n"


def _numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
