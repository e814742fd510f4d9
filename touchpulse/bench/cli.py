"""`touchpulse bench`: measure throughput, freshness, query speed and memory on this machine."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from touchpulse.commands.args import integer
from touchpulse.settings import Settings


_count_arg = integer(1)


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure throughput, freshness, query speed and memory on this machine",
        description="Benchmark touchpulse on a private installation (its own broker and chDB under a temporary "
                    "directory; your settings and data are not touched): produce N simulated events, read them "
                    "with a bare aiokafka consumer (the limit), process a sample the naive way (one insert per "
                    "event), drain them with `touchpulse worker --drain`, measure freshness under a steady "
                    "stream and time the dashboards' queries over a year of synthetic facts. Progress goes to "
                    "stderr; the table (or --json) to stdout. See benchmarks/README.md.")
    p.add_argument("--events", type=_count_arg, default=300_000, help="events to pre-load and drain (default 300000)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--naive-events", type=_count_arg, default=2_000, help="naive sample size (default 2000)")
    p.add_argument("--naive-seconds", type=_seconds, default=20.0, help="naive time limit (default 20)")
    p.add_argument("--freshness-seconds", type=_seconds, default=60.0,
                   help="length of the steady stream (default 60)")
    p.add_argument("--freshness-rate", type=_count_arg, default=2_000, help="events/s of the steady stream (default 2000)")
    p.add_argument("--query-rows", type=_count_arg, default=10_000_000,
                   help="survey answers and calls in the query year, each (default 10000000)")
    p.add_argument("--query-repeats", type=_count_arg, default=3, help="passes over the queries (default 3)")
    p.add_argument("--query-budget", type=_seconds, default=900.0,
                   help="no new pass over the queries after this many seconds (default 900)")
    p.add_argument("--skip-naive", action="store_true", help="skip the naive baseline")
    p.add_argument("--skip-freshness", action="store_true", help="skip the freshness measurement")
    p.add_argument("--skip-queries", action="store_true", help="skip the query measurement")
    p.add_argument("--skip-maintenance", action="store_true",
                   help="skip the per-batch maintenance cost at 1M and 10M facts of history")
    p.add_argument("--skip-idle", action="store_true", help="skip the idle worker's CPU")
    p.add_argument("--skip-reads", action="store_true",
                   help="skip the drain with the dashboards' queries running through the worker")
    p.add_argument("--reads-rounds", type=_count_arg, default=1,
                   help="quiet/under-reads drain pairs for pipeline_eps_under_reads, median taken (default 1)")
    p.add_argument("--maintenance-facts", type=_two_counts, default=(1_000_000, 10_000_000), metavar="SMALL,LARGE",
                   help="facts of history for the per-batch maintenance cost (default 1000000,10000000; "
                        "reported as batch_maintenance_ms_1m and _10m)")
    p.add_argument("--maintenance-batches", type=_count_arg, default=20,
                   help="batches of 5,000 events timed at each size (default 20)")
    p.add_argument("--idle-seconds", type=_seconds, default=20.0, help="how long the idle worker is watched (default 20)")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="also drain once under py-spy and write the stacks and a summary to DIR")
    p.add_argument("--work-dir", type=Path, help="parent of the temporary directory (default: the system's)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    p.set_defaults(func=cmd_bench)


def _two_counts(text: str) -> tuple[int, int]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not two counts like 1000000,10000000")
    return _count_arg(parts[0]), _count_arg(parts[1])


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be more than 0")
    return value


def cmd_bench(args, settings: Settings) -> int:
    from touchpulse.bench.report import table
    from touchpulse.bench.run import BenchError, Options, run

    if args.profile is not None:
        from touchpulse.bench.profile import py_spy
        if py_spy() is None:
            raise BenchError("--profile needs py-spy: pip install py-spy")
    if args.work_dir is not None and not args.work_dir.is_dir():
        raise BenchError(f"--work-dir {args.work_dir} is not a directory")
    opts = Options(events=args.events, naive_events=args.naive_events, naive_seconds=args.naive_seconds,
                   freshness_seconds=args.freshness_seconds, freshness_rate=args.freshness_rate,
                   query_rows=args.query_rows, query_repeats=args.query_repeats,
                   query_budget_seconds=args.query_budget, skip_naive=args.skip_naive,
                   skip_freshness=args.skip_freshness, skip_queries=args.skip_queries,
                   skip_maintenance=args.skip_maintenance, skip_idle=args.skip_idle, skip_reads=args.skip_reads,
                   reads_rounds=args.reads_rounds,
                   maintenance_facts=args.maintenance_facts, maintenance_batches=args.maintenance_batches,
                   idle_seconds=args.idle_seconds,
                   profile_dir=args.profile.resolve() if args.profile else None, work_dir=args.work_dir,
                   keep=args.keep)
    result = run(opts)
    result["command"] = "touchpulse " + " ".join(sys.argv[1:]) if sys.argv[1:2] == ["bench"] else "touchpulse bench"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        sys.stdout.write(table(result))
    return 0
