"""Query speed: build a year of facts (see synthetic.py), then time what a dashboard asks for a
30-day range: the contract views for all touchpoints and for one, and, when the dashboards
package is installed, every panel's SQL after the macro expansion Grafana would do
(touchpulse.dashboards.check), with default variables and with one touchpoint chosen."""

from __future__ import annotations

import statistics
import time
import zlib
from datetime import date, datetime, time as dtime, timedelta, timezone

from touchpulse.bench.env import say
from touchpulse.bench.synthetic import plan
from touchpulse.derived.rebuild import rebuild
from touchpulse.clickhouse.schema import literal, q
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import load_registry
from touchpulse.services import schema_options
from touchpulse.settings import Settings

RANGE_DAYS = 30
VIEW_QUERIES = ("nps_daily", "nps_rolling_7d", "calls_daily", "calls_hourly", "reviews_daily", "purchases_daily")
ONE_TOUCHPOINT = "call_centre"


def build_data(client, settings: Settings, rows: int, end: date, dashboard_views: bool = True) -> dict:
    registry = load_registry(settings.touchpoints)
    apply_schema(client, schema_options(settings), registry)
    dashboard_views = _apply_dashboard_views(client, settings, registry) if dashboard_views else False
    tables = {}
    started = time.perf_counter()
    for table, _, sql in plan(settings.database, rows, end, list(registry.slugs), settings.followup_below):
        t0 = time.perf_counter()
        client.command(sql)
        count = client.query(f"SELECT count() FROM {q(settings.database)}.{q(table)}").result_rows[0][0]
        tables[table] = {"rows": int(count), "seconds": round(time.perf_counter() - t0, 2)}
        say(f"queries: {table}: {count:,} rows in {tables[table]['seconds']:.1f} s")
    # Facts written straight into the tables, as a restore or a bulk load would: compute the
    # derived data the views read from them (a worker keeps it up to date as it goes).
    t0 = time.perf_counter()
    rebuilt = rebuild(client, settings.database, settings.timezone)
    rebuild_seconds = round(time.perf_counter() - t0, 2)
    say(f"queries: derived data computed from the facts (`touchpulse reconcile --repair`) in {rebuild_seconds:.1f} s: "
        f"{rebuilt.describe()}")
    disk = client.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = {db:String}",
                        parameters={"db": settings.database}).result_rows[0][0]
    return {"tables": tables, "generate_seconds": round(time.perf_counter() - started, 2),
            "rebuild_seconds": rebuild_seconds, "disk_mb": round(int(disk or 0) / 2**20, 1),
            "dashboard_views": dashboard_views}


def parts(client, database: str) -> int:
    """Active parts of the additive table the views read: how unmerged it is."""
    return int(client.query("SELECT count() FROM system.parts WHERE active AND database = {db:String} "
                            "AND table = 'sums'", parameters={"db": database}).result_rows[0][0])


def _apply_dashboard_views(client, settings: Settings, registry) -> bool:
    """The dashboards' own views, when that package is installed (it may not be in every build)."""
    try:
        from touchpulse.clickhouse.dashboard_views import dashboard_view_statements
    except ImportError:
        return False
    for stmt in dashboard_view_statements(schema_options(settings), registry):
        client.command(stmt)
    return True


def view_queries(db: str, day_from: date, day_to: date, touchpoint: str | None) -> list[tuple[str, str]]:
    where = f"day BETWEEN '{day_from}' AND '{day_to}'" + (f" AND touchpoint = '{touchpoint}'" if touchpoint else "")
    return [(f"view {v} [{touchpoint or 'all'}]", f"SELECT * FROM {q(db)}.{q(v)} WHERE {where}")
            for v in VIEW_QUERIES]


class _BudgetSpent(BaseException):
    """Raised through run_dashboard (which reports ordinary exceptions per panel) to stop timing."""


def time_queries(client, settings: Settings, end: date, repeats: int, budget_seconds: float) -> dict:
    """Time every query `repeats` times, in passes (contract views first, then dashboards), and stop
    starting queries once `budget_seconds` are spent: at 10M rows one query can take a minute."""
    registry = load_registry(settings.touchpoints)
    time_to = datetime.combine(end, dtime(0), timezone.utc)
    time_from = time_to - timedelta(days=RANGE_DAYS)
    day_from, day_to = time_from.date(), end - timedelta(days=1)
    models = _dashboards(list(registry.slugs), settings)
    samples: dict[str, list[float]] = {}
    errors: dict[str, str] = {}
    started = time.perf_counter()
    timed: list[tuple[str, float]] = []  # (sql, ms) since the caller last looked
    passes, complete = 0, True
    pass_p95: list[float] = []

    def run(sql: str) -> list[tuple]:
        if time.perf_counter() - started > budget_seconds:
            raise _BudgetSpent
        t0 = time.perf_counter()
        rows = client.query(sql).result_rows
        timed.append((sql, 1000 * (time.perf_counter() - t0)))
        return rows

    try:
        for n in range(repeats):
            before = {k: len(v) for k, v in samples.items()}
            for tp in (None, ONE_TOUCHPOINT):
                for label, sql in view_queries(settings.database, day_from, day_to, tp):
                    timed.clear()
                    try:
                        run(sql)
                    except Exception as exc:  # reported, not fatal: one broken view must not hide the rest
                        errors[label] = _first_line(exc)
                        continue
                    samples.setdefault(label, []).append(timed[0][1])
                    say(f"queries: {label}: {timed[0][1]:,.0f} ms")
            for model in models:
                for chosen in _choices(model):
                    timed.clear()
                    results = []
                    try:
                        results = _run_dashboard(model, run, time_from, time_to, chosen)
                    finally:  # also when the budget runs out halfway through a dashboard
                        _record_dashboard(model, chosen, timed, results, samples, errors)
            passes += 1
            this = [ms for k, v in samples.items() for ms in v[before.get(k, 0):]]
            pass_p95.append(round(_pct(this, 95), 1))
            say(f"queries: pass {n + 1}: {len(this)} queries, p50 {_pct(this, 50):,.0f} ms, "
                f"p95 {_pct(this, 95):,.0f} ms")
    except _BudgetSpent:
        complete = False
        say(f"queries: time budget of {budget_seconds:.0f} s spent during pass {passes + 1}; "
            "reporting the queries timed so far")
    every = [ms for v in samples.values() for ms in v]
    warm = [ms for v in samples.values() for ms in v[1:]]
    slowest = sorted(((statistics.median(v), k) for k, v in samples.items()), reverse=True)[:15]
    return {
        "range_days": RANGE_DAYS, "passes": passes, "complete": complete, "distinct_queries": len(samples),
        "timings": len(every), "dashboards": [m["uid"] for m in models],
        "seconds": round(time.perf_counter() - started, 1),
        "p50_ms": round(_pct(every, 50), 1), "p95_ms": round(_pct(every, 95), 1),
        "max_ms": round(max(every), 1) if every else None,
        "warm_p50_ms": round(_pct(warm, 50), 1) if warm else None,
        "warm_p95_ms": round(_pct(warm, 95), 1) if warm else None, "pass_p95_ms": pass_p95,
        "slowest_median_ms": [[k, round(ms, 1)] for ms, k in slowest],
        "errors": errors,
    }


def _record_dashboard(model, chosen, timed, results, samples, errors) -> None:
    by_sql = {r.sql: r for r in results}
    for sql, ms in timed:
        r = by_sql.get(sql)
        label = r.label if r else f"{model['uid']} variable/unfinished panel {zlib.crc32(sql.encode()):08x}"
        samples.setdefault(label + (" (one touchpoint)" if chosen else ""), []).append(ms)
    for r in results:
        if r.error:
            errors[r.label] = r.error


def _dashboards(slugs: list[str], settings: Settings) -> list[dict]:
    try:
        from touchpulse.dashboards.build import build_all
    except ImportError:
        say("queries: the dashboards package is not installed; timing the contract views only")
        return []
    return list(build_all(slugs, database=settings.database, timezone=settings.timezone).values())


def _choices(model: dict) -> list[dict | None]:
    """Default variables, and one touchpoint chosen when the dashboard has that variable."""
    names = {v["name"] for v in model.get("templating", {}).get("list", [])}
    if "touchpoint" not in names:
        return [None]
    from touchpulse.dashboards.macros import Selection
    return [None, {"touchpoint": Selection.one(ONE_TOUCHPOINT)}]


def _run_dashboard(model, run, time_from, time_to, chosen):
    from touchpulse.dashboards.check import run_dashboard
    return run_dashboard(model, run, time_from, time_to, chosen)


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
