"""Core subcommands: up, reconcile, down, config, emit, simulate, worker, query, demo."""

from __future__ import annotations

import json
import logging
import sys
from datetime import date

from touchpulse.commands.args import day, integer
from touchpulse.errors import UserError
from touchpulse.settings import SETTINGS, Settings

log = logging.getLogger("touchpulse")


_positive = integer(1)


def register(sub) -> None:
    p = sub.add_parser("up", help="start the local broker (if TOUCHPULSE_KAFKA is unset), create topics and the "
                                  "ClickHouse schema; idempotent",
                       description="Start the embedded Kafka broker when TOUCHPULSE_KAFKA is unset, create every "
                                   "topic with explicit partition counts, create or update the ClickHouse schema "
                                   "and load the touchpoint targets. Safe to run again at any time (it also "
                                   "re-states history after a registry target change).")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("reconcile", help="recompute the views' data from the raw facts and report differences",
                       description="Recompute every derived table (each entity's winning version, the daily "
                                   "sums the views read) from all raw facts into scratch tables and compare "
                                   "them with the live ones, which the workers keep up to date with every batch. "
                                   "It should find no difference. --repair replaces the live data with the "
                                   "recomputed one (after facts were written by other means). Reads all history: "
                                   "minutes for tens of millions of facts.")
    p.add_argument("--repair", action="store_true", help="rebuild the live derived data from the facts")
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("down", help="stop the local broker (data is kept)",
                       description="Stop the embedded Kafka broker of TOUCHPULSE_HOME. Data stays on disk.")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("config", help="show the effective settings (secrets masked)",
                       description="Show the effective settings. Secrets (passwords, tokens) are masked.")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("emit", help="send JSON-lines events to their topics",
                       description="Send one event per line to the topic for its type (its \"type\" field). "
                                   "A line that breaks the event contract is refused with its line number, "
                                   "and nothing is sent, unless --raw.")
    p.add_argument("file", help="JSON-lines file, or - for standard input")
    p.add_argument("--raw", action="store_true", help="send every line as is (broken lines go to the topic of "
                                                        "--type, or of their type field when it is readable)")
    p.add_argument("--type", choices=("call", "purchase", "review", "survey", "followup_update"),
                   help="topic for lines whose type cannot be read (with --raw)")
    p.set_defaults(func=cmd_emit)

    p = sub.add_parser("simulate", help="produce realistic synthetic traffic for all event types",
                       description="Produce realistic synthetic calls, purchases, reviews and surveys over the "
                                   "registry's touchpoints onto the topics (deterministic for a seed).")
    p.add_argument("--days", type=_positive, default=30, help="business days to simulate (default 30)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--end", type=day, default=None, help="last day simulated, YYYY-MM-DD (default: yesterday)")
    p.add_argument("--clean", action="store_true", help="no malformed messages, duplicates or late events")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("worker", help="run the Faust stream worker",
                       description="Run the Faust worker: validate events, dead-letter bad ones, de-duplicate, "
                                   "raise follow-ups and write facts to ClickHouse. Scale out by starting more "
                                   "workers with the same TOUCHPULSE_GROUP (at most one per partition).")
    p.add_argument("--drain", action="store_true",
                   help="process everything on the topics now, flush all writes and exit 0 (batch mode)")
    p.set_defaults(func=cmd_worker)

    from touchpulse.clickhouse.queries import VIEWS
    p = sub.add_parser("query", help="print a metric view",
                       description="Print rows of a ClickHouse metric view, filtered by day and touchpoint.")
    p.add_argument("view", choices=sorted(VIEWS), metavar="VIEW", help="one of: " + ", ".join(sorted(VIEWS)))
    p.add_argument("--from", dest="day_from", type=day, help="first day, YYYY-MM-DD")
    p.add_argument("--to", dest="day_to", type=day, help="last day, YYYY-MM-DD")
    p.add_argument("--touchpoint", help="only this touchpoint")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--limit", type=_positive, default=None, help="at most this many rows")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser("demo", help="what `make demo` runs: up, simulate 30 days, drain, print NPS, down",
                       description="End-to-end demo on the embedded services: up, simulate 30 days, "
                                   "worker --drain, a per-touchpoint table of the last full day, down.")
    p.add_argument("--days", type=_positive, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=cmd_demo)


def cmd_up(args, settings: Settings) -> int:
    from touchpulse.services import bring_up
    bring_up(settings)
    return 0


def cmd_reconcile(args, settings: Settings) -> int:
    from touchpulse.clickhouse.client import connect
    from touchpulse.clickhouse.queries import complete_open_batches
    from touchpulse.clickhouse.setup import views_timezone
    from touchpulse.derived.rebuild import rebuild, reconcile
    from touchpulse.streams.runner import require_schema
    require_schema(settings)
    client = connect(settings)
    try:
        zone = views_timezone(client, settings.database) or settings.timezone
        if settings.embedded_clickhouse:
            complete_open_batches(client, settings)
        if args.repair:
            log.info("rebuilt the derived data from the facts: %s", rebuild(client, settings.database, zone).describe())
            return 0
        diffs = reconcile(client, settings.database, zone)
    finally:
        client.close()
    if not diffs:
        log.info("reconciled: every derived table equals its recomputation from the raw facts")
        return 0
    for d in diffs:
        log.error("%s: %d row(s) differ from the recomputation, e.g. %s", d.table, d.cells, d.example)
    log.error("run `touchpulse reconcile --repair` to rebuild the derived data from the facts (and please report "
              "this: it should not happen)")
    return 1


def cmd_down(args, settings: Settings) -> int:
    from touchpulse.kafka import broker
    if settings.embedded_kafka:
        stopped = broker.stop(settings.home)
        log.info("local broker %s", "stopped" if stopped else "was not running")
    else:
        log.info("TOUCHPULSE_KAFKA is set: nothing local to stop")
    return 0


def cmd_config(args, settings: Settings) -> int:
    data = settings.public()
    if settings.embedded_kafka:
        from touchpulse.kafka.broker import running
        b = running(settings.home)
        data["kafka"] = b.bootstrap if b else None
        data["kafka_embedded"] = True
    else:
        data["kafka_embedded"] = False
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        envs = {s.key: s.env for s in SETTINGS}
        for key, value in data.items():
            print(f"{key:26} {'' if value is None else value}  ({envs.get(key, 'derived')})")
    return 0


def cmd_emit(args, settings: Settings) -> int:
    from touchpulse.kafka.emit import emit_lines, open_lines
    with open_lines(args.file) as lines:
        sent = emit_lines(settings, lines, raw=args.raw, fallback_type=args.type)
    log.info("sent %d events", sent)
    return 0


def cmd_simulate(args, settings: Settings) -> int:
    from touchpulse.kafka.emit import produce_simulation
    end = args.end or _yesterday(settings)
    produce_simulation(settings, days=args.days, seed=args.seed, end_day=end, errors=not args.clean)
    return 0


def cmd_worker(args, settings: Settings) -> int:
    from touchpulse.streams.runner import run_worker
    return run_worker(settings, drain=args.drain)


def cmd_query(args, settings: Settings) -> int:
    from touchpulse.clickhouse.queries import format_rows, query_view
    if args.day_from and args.day_to and args.day_from > args.day_to:
        raise UserError(f"--from {args.day_from} is after --to {args.day_to}")
    columns, rows = query_view(settings, args.view, day_from=args.day_from, day_to=args.day_to,
                               touchpoint=args.touchpoint, limit=args.limit)
    sys.stdout.write(format_rows(columns, rows, args.format))
    return 0


def cmd_demo(args, settings: Settings) -> int:
    from touchpulse.demo import run_demo
    return run_demo(settings, days=args.days, seed=args.seed)


def _yesterday(settings: Settings) -> date:
    from touchpulse.core.business_time import business_zone, last_full_day
    return last_full_day(business_zone(settings.timezone))

