"""`touchpulse dashboards build|check`: write the dashboard JSON models, or run their SQL."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from touchpulse.errors import UserError


def register(sub) -> None:
    p = sub.add_parser("dashboards", help="build the Grafana dashboards (JSON models) or check their SQL",
                       description="Grafana dashboards as code, for the grafana-clickhouse-datasource plugin.")
    inner = p.add_subparsers(dest="dashboards_command", metavar="ACTION")
    p.set_defaults(func=_help(p))

    b = inner.add_parser("build", help="write one <uid>.json per dashboard",
                         description="Write the dashboard JSON models (deterministic; unchanged files are left "
                                     "alone). Touchpoints default to the registry's; the `refresh-dashboards` "
                                     "flow adds those found in ClickHouse.")
    b.add_argument("--out", required=True, type=Path, help="output directory (created if missing)")
    b.add_argument("--touchpoint", action="append", dest="touchpoints", metavar="SLUG",
                   help="a touchpoint to list (repeatable; default: every registry touchpoint)")
    b.add_argument("--datasource-uid", default="touchpulse-clickhouse", help="uid of the ClickHouse datasource")
    b.add_argument("--service-level-target", type=float, default=0.8, help="service-level goal, 0-1 (0.8)")
    b.set_defaults(func=cmd_build)

    c = inner.add_parser("check", help="run every panel's SQL against ClickHouse and report rows per panel",
                         description="Expand each panel's macros and variables as Grafana would (defaults: All) "
                                     "and run it on the configured ClickHouse. Exit 1 if a query fails, or with "
                                     "--require-rows if a panel returns nothing.")
    c.add_argument("--days", type=int, default=14, help="time range: the last N days (default 14)")
    c.add_argument("--end", help="end of the range, YYYY-MM-DD (exclusive; default: now)")
    c.add_argument("--require-rows", action="store_true", help="fail when a panel returns no rows")
    c.add_argument("--json", action="store_true", help="one JSON object per panel query")
    c.set_defaults(func=cmd_check)


def _help(parser: argparse.ArgumentParser):
    def show(args, settings) -> int:
        parser.print_help()
        return 2
    return show


def _touchpoints(args, settings) -> list[str]:
    if args.touchpoints:
        return args.touchpoints
    from touchpulse.core.touchpoints import RegistryError, load_registry
    try:
        return load_registry(settings.touchpoints).slugs
    except RegistryError as exc:
        raise UserError(str(exc)) from None


def _models(args, settings, touchpoints: list[str]):
    from touchpulse.dashboards.build import build_all
    try:
        return build_all(touchpoints, getattr(args, "datasource_uid", "touchpulse-clickhouse"), settings.database,
                         timezone=settings.timezone,
                         service_level_target=getattr(args, "service_level_target", 0.8))
    except ValueError as exc:
        raise UserError(str(exc)) from None


def cmd_build(args, settings) -> int:
    from touchpulse.dashboards.build import write_all
    touchpoints = _touchpoints(args, settings)
    _models(args, settings, touchpoints)  # validates arguments before touching the directory
    try:
        paths = write_all(args.out, touchpoints, args.datasource_uid, settings.database,
                          timezone=settings.timezone, service_level_target=args.service_level_target)
    except OSError as exc:
        raise UserError(f"cannot write to {args.out}: {exc.strerror or exc}") from None
    for path in paths:
        print(path)
    return 0


def cmd_check(args, settings) -> int:
    from touchpulse.clickhouse.client import connect
    from touchpulse.dashboards.check import run_dashboard
    if args.days < 1:
        raise UserError("--days must be at least 1")
    try:
        end = (datetime.fromisoformat(args.end).replace(tzinfo=timezone.utc) if args.end
               else datetime.now(timezone.utc))
    except ValueError:
        raise UserError(f"--end {args.end!r} is not a date (YYYY-MM-DD)") from None
    start = end - timedelta(days=args.days)
    client = connect(settings, read_only=True)
    failed, rows_by_panel = 0, {}
    run = lambda sql: client.query(sql).result_rows  # noqa: E731
    for model in _models(args, settings, _discover(client, settings)).values():
        for r in run_dashboard(model, run, start, end):
            failed += r.error is not None
            key = (r.query.dashboard, r.query.panel_id, r.query.ref_id)
            rows_by_panel[key] = rows_by_panel.get(key, 0) + r.rows  # a repeated panel: summed over its rows
            if args.json:
                print(json.dumps({"panel": r.label, "rows": r.rows, "error": r.error}))
            else:
                print(f"{'FAIL' if r.error else 'ok  ' if r.rows else 'none'} {r.rows:>6}  {r.label}"
                      + (f"\n      {r.error}" if r.error else ""))
    empty = sum(1 for n in rows_by_panel.values() if n == 0)
    print(f"{len(rows_by_panel)} panel queries: {failed} failed, {empty} without rows", file=sys.stderr)
    return 1 if failed or (args.require_rows and empty) else 0


def _discover(client, settings) -> list[str]:
    from touchpulse.clickhouse.schema import FACT_TABLES, q
    from touchpulse.core.touchpoints import load_registry
    union = " UNION DISTINCT ".join(f"SELECT DISTINCT touchpoint FROM {q(settings.database)}.{q(t)}"
                                    for t in FACT_TABLES.values())
    seen = [r[0] for r in client.query(f"SELECT touchpoint FROM ({union})").result_rows]
    return sorted(set(seen) | set(load_registry(settings.touchpoints).slugs))
