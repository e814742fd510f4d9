"""`touchpulse flow list | run NAME | serve`: run the flows once, or schedule them on a Prefect server."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from touchpulse.errors import UserError
from touchpulse.flows.catalog import FLOWS
from touchpulse.settings import Settings

EPHEMERAL_STARTUP_SECONDS = 120
SERVER_HINT = "e.g. PREFECT_API_URL=http://127.0.0.1:4200/api after `make prefect-server`"


def register(sub) -> None:
    p = sub.add_parser("flow", help="run or schedule the Prefect flows (dashboards refresh, daily report, backfill)",
                       description="Prefect flows: refresh-dashboards, daily-report, backfill. `run` runs one now "
                                   "(recorded on the Prefect server of PREFECT_API_URL, or on a temporary local "
                                   "one); `serve` schedules them on a Prefect server.")
    flows = p.add_subparsers(dest="flow_command", metavar="ACTION")
    flows.required = True

    lp = flows.add_parser("list", help="the flows, their schedules and options")
    lp.set_defaults(func=cmd_list)

    rp = flows.add_parser("run", help="run one flow now",
                          description="Run one flow now. " + " ".join(f"{f.name}: {f.description}."
                                                                      for f in FLOWS.values()))
    rp.add_argument("name", choices=sorted(FLOWS), metavar="NAME", help="one of: " + ", ".join(sorted(FLOWS)))
    rp.add_argument("--day", type=parse_day, help="daily-report: the business day, YYYY-MM-DD (default yesterday)")
    rp.add_argument("--from", dest="day_from", type=parse_day, help="backfill: first day, YYYY-MM-DD")
    rp.add_argument("--to", dest="day_to", type=parse_day, help="backfill: last day, YYYY-MM-DD")
    rp.add_argument("--out", type=Path, help="output directory (default: TOUCHPULSE_HOME/dashboards or /reports)")
    rp.add_argument("--no-prefect", action="store_true",
                    help="call the flow's function directly, without recording a Prefect run (no server needed)")
    rp.set_defaults(func=cmd_run)

    sp = flows.add_parser("serve", help="schedule the flows on the Prefect server of PREFECT_API_URL",
                          description="Create deployments with cron schedules in the business time zone "
                                      "(TOUCHPULSE_TIMEZONE) and run them as they come due, until stopped: "
                                      + "; ".join(f"{f.name} {f.cron or 'on demand'}" for f in FLOWS.values())
                                      + ". Needs a Prefect server (" + SERVER_HINT + ").")
    sp.set_defaults(func=cmd_serve)


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    width = max(len(n) for n in FLOWS)
    for f in FLOWS.values():
        when = f"cron '{f.cron}' {settings.timezone}" if f.cron else "on demand"
        print(f"{f.name:<{width}}  {when:<32}  options: {' '.join(f.options)}")
        print(f"{'':<{width}}  {f.description}")
    return 0


def flow_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The flow's parameters from the command line; options that do not apply are a user error."""
    name = args.name
    given = {"--day": args.day, "--from": args.day_from, "--to": args.day_to}
    wrong = [opt for opt, value in given.items() if value is not None and opt not in FLOWS[name].options]
    if wrong:
        raise UserError(f"{' and '.join(wrong)} do{'es' if len(wrong) == 1 else ''} not apply to {name} "
                        f"(it takes {', '.join(FLOWS[name].options)})")
    params: dict[str, Any] = {"out": str(args.out.expanduser().resolve()) if args.out else None}
    if name == "daily-report":
        params["day"] = args.day
    elif name == "backfill":
        if args.day_from is None or args.day_to is None:
            raise UserError("backfill needs --from YYYY-MM-DD and --to YYYY-MM-DD")
        from touchpulse.flows.backfill import BackfillError, check_range
        try:
            check_range(args.day_from, args.day_to)
        except BackfillError as exc:
            raise UserError(str(exc)) from None
        params["day_from"], params["day_to"] = args.day_from, args.day_to
    return params


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    params = flow_parameters(args)
    from touchpulse.clickhouse.client import connect

    # Fails here, in one line, when ClickHouse is down or chDB is held; reads go through a running worker.
    client = connect(settings, read_only=args.name != "backfill")
    started = time.monotonic()
    try:
        if args.name != "backfill":  # backfill creates the schema; the others need it
            from touchpulse.flows.runtime import require_schema
            require_schema(client, settings.database)
        if args.name == "refresh-dashboards":
            from touchpulse.flows.refresh import check_grafana
            check_grafana(settings)
        if args.no_prefect:
            result = run_plain(args.name, params, settings, client)
        else:
            result = run_prefect(args.name, params, settings, client)
    finally:
        client.close()
    print_result(args.name, result)
    print(f"{args.name} finished in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


def run_plain(name: str, params: dict[str, Any], settings: Settings, client) -> Any:
    out = Path(params["out"]) if params.get("out") else None
    if name == "refresh-dashboards":
        from touchpulse.flows.refresh import refresh_dashboards
        return refresh_dashboards(client, settings, out_dir=out).to_dict()
    if name == "daily-report":
        from touchpulse.flows.daily import daily_report
        return str(daily_report(client, settings, day=params.get("day"), out_dir=out))
    from touchpulse.flows.backfill import backfill
    report = backfill(client, settings, params["day_from"], params["day_to"])
    return dict(report.to_dict(), report_path=str(report.save(out or settings.home / "reports")))


def run_prefect(name: str, params: dict[str, Any], settings: Settings, client) -> Any:
    """One flow run through Prefect: on PREFECT_API_URL's server, else a temporary local one (ephemeral
    mode, ~10 s to start). Manual runs do not retry: the operator sees the failure at once."""
    from touchpulse.flows import runtime

    runtime.prepare_prefect(settings)
    from prefect.settings import (PREFECT_FLOWS_HEARTBEAT_FREQUENCY, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
                                  temporary_settings)

    from touchpulse.flows.definitions import FLOW_OBJECTS

    flow = FLOW_OBJECTS[name].with_options(retries=0)
    overrides: dict = {}
    url = runtime.api_url()
    if url:
        require_server(url)
    else:
        overrides[PREFECT_FLOWS_HEARTBEAT_FREQUENCY] = None  # no one watches a temporary server's runs
        if not os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"):
            # its first start migrates a new database: ~18 s on 2 idle cores, more when busy (default 20 s)
            overrides[PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS] = EPHEMERAL_STARTUP_SECONDS
    try:
        with temporary_settings(overrides), runtime.injected(settings, client):
            return flow(**{k: v for k, v in params.items() if v is not None})
    except RuntimeError as exc:
        if "ephemeral Prefect API server" not in str(exc):
            raise
        raise UserError(f"the temporary Prefect server did not start ({str(exc).split('.')[0]}); set "
                        f"PREFECT_API_URL to a running server ({SERVER_HINT}) or use --no-prefect") from None


def print_result(name: str, result: Any) -> None:
    if name == "daily-report":
        print(result)
    elif name == "backfill":
        print(result["text"])
        print(f"full report: {result['report_path']}")
    else:
        print(f"{len(result['written'])} dashboards for {len(result['touchpoints'])} touchpoints in "
              f"{Path(result['written'][0]).parent if result['written'] else '-'} "
              f"({len(result['changed_files'])} changed)")
        if result["new_touchpoints"]:
            print("touchpoints not in the registry (default targets): " + ", ".join(result["new_touchpoints"]))
        if result.get("provisioned"):
            print(f"Grafana: {result['provisioned']}; annotations: {result.get('annotations')}")
        else:
            print("Grafana not configured (TOUCHPULSE_GRAFANA_URL and TOUCHPULSE_GRAFANA_TOKEN): files only")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from touchpulse.flows import runtime

    runtime.prepare_prefect(settings)
    url = runtime.api_url()
    if not url:
        raise UserError(f"flow serve needs a Prefect server: set PREFECT_API_URL ({SERVER_HINT})")
    require_server(url)
    from prefect import serve

    deployments = build_deployments(settings)
    plan = ", ".join(f"{f.name} ({f.cron or 'on demand'})" for f in FLOWS.values())
    print(f"serving {plan} in {settings.timezone} on {url}; Ctrl-C to stop", file=sys.stderr)
    serve(*deployments, print_starting_message=False)
    return 0


def require_server(url: str) -> None:
    """The Prefect server of PREFECT_API_URL answers, or a one-line error (no retries, no traceback)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}), get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
    if failure is not None:
        raise UserError(f"no Prefect server answered at {url} ({type(failure).__name__}); "
                        "start one with `make prefect-server`, or unset PREFECT_API_URL")


def build_deployments(settings: Settings) -> list:
    """One deployment per flow, named 'touchpulse'; cron schedules in the business time zone."""
    from prefect.schedules import Cron

    from touchpulse.flows.definitions import FLOW_OBJECTS

    out = []
    for name, info in FLOWS.items():
        schedule = Cron(info.cron, timezone=settings.timezone) if info.cron else None
        out.append(FLOW_OBJECTS[name].to_deployment(name="touchpulse", schedule=schedule,
                                                    description=info.description, tags=["touchpulse"]))
    return out
