"""`python -m touchpulse.bench.child`: one bench step that needs chDB, in its own process
(chDB allows one data directory per process). Reads {"step": ..., ...} as JSON on stdin,
writes its result as one JSON object on stdout; settings come from the environment."""

from __future__ import annotations

import json
import sys
from datetime import date

from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.schema import FACT_TABLES, q
from touchpulse.settings import Settings, load_settings


def naive(settings: Settings, args: dict) -> dict:
    from touchpulse.bench.naive import run_naive
    return run_naive(settings, args["max_events"], args["max_seconds"])


def freshness(settings: Settings, args: dict) -> dict:
    """Produce-to-commit lag of the facts whose Kafka timestamp is in the measured window:
    src_timestamp is set by the producer, ingested_at by ClickHouse when the insert lands."""
    db = q(settings.database)
    union = " UNION ALL ".join(
        f"SELECT dateDiff('millisecond', src_timestamp, ingested_at) / 1000 AS lag FROM {db}.{q(t)} "
        "WHERE src_timestamp >= fromUnixTimestamp64Milli({start:Int64}) "
        "AND src_timestamp <= fromUnixTimestamp64Milli({stop:Int64})" for t in FACT_TABLES.values())
    client = connect(settings)
    try:
        row = client.query(f"SELECT count(), quantileExact(0.5)(lag), quantileExact(0.99)(lag), max(lag), "
                           f"min(lag) FROM ({union})",
                           parameters={"start": args["start_ms"], "stop": args["stop_ms"]}).result_rows[0]
    finally:
        client.close()
    return {"rows": int(row[0]), "p50_s": float(row[1]), "p99_s": float(row[2]), "max_s": float(row[3]),
            "min_s": float(row[4])}


def history(settings: Settings, args: dict) -> dict:
    """A year of synthetic facts written into the database, and its derived data computed."""
    from touchpulse.bench.queries import build_data
    client = connect(settings)
    try:
        return build_data(client, settings, args["rows"], date.fromisoformat(args["end"]))
    finally:
        client.close()


def maintenance(settings: Settings, args: dict) -> dict:
    """Per-batch cost of keeping the views current with `rows` survey answers and as many calls of
    history (built first, in this step's own database)."""
    from touchpulse.bench.maintenance import measure
    from touchpulse.bench.queries import build_data
    end = date.fromisoformat(args["end"])
    client = connect(settings)
    try:
        built = build_data(client, settings, args["rows"], end, dashboard_views=False)
        return {**measure(client, settings.database, count=args["batches"], size=args["size"], end=end),
                "build_seconds": built["generate_seconds"]}
    finally:
        client.close()


def view_freshness(settings: Settings, args: dict) -> dict:
    """Produce-to-visible lag of every event the worker applied, from the `view_freshness` view:
    measured by the insert that made each event visible in the views (10 ms steps)."""
    from touchpulse.core.metrics import weighted_quantile
    client = connect(settings)
    try:
        rows = client.query(f"SELECT seconds, sum(events) FROM {q(settings.database)}.view_freshness "
                            "WHERE type != 'dead_letter' GROUP BY seconds").result_rows
    finally:
        client.close()
    pairs = [(float(s) + 0.005, int(n)) for s, n in rows]  # the middle of each 10 ms step
    return {"events": sum(n for _, n in pairs), "p50_s": weighted_quantile(pairs, 0.5),
            "p99_s": weighted_quantile(pairs, 0.99), "max_s": max((s for s, _ in pairs), default=None)}


def queries(settings: Settings, args: dict) -> dict:
    """The dashboards' queries over the database as the live worker left it (unmerged parts)."""
    from touchpulse.bench.queries import parts, time_queries
    end = date.fromisoformat(args["end"])
    client = connect(settings)
    try:
        before = parts(client, settings.database)
        timing = time_queries(client, settings, end, args["repeats"], args["budget_seconds"])
    finally:
        client.close()
    return {**timing, "sums_parts": before}


def settle(settings: Settings, args: dict) -> dict:
    """Merge every MergeTree table of the chDB directory down to its final parts. Each drain of the
    bench is a new process, and a new process takes over the merges the earlier drains left
    behind (those of every database in the directory), so without this a drain pays for its
    predecessors' inserts. The first drain starts on an empty directory; this gives the later ones
    the same start. A bench step only: a running worker merges its own parts as it goes."""
    import time
    client = connect(settings)
    started = time.perf_counter()
    try:
        tables = client.query("SELECT database, name FROM system.tables WHERE engine LIKE '%MergeTree' "
                              "AND database NOT IN ('system', 'information_schema', 'INFORMATION_SCHEMA')"
                              ).result_rows
        for database, name in tables:
            client.command(f"OPTIMIZE TABLE {q(database)}.{q(name)} FINAL")
    finally:
        client.close()
    return {"tables": len(tables), "seconds": round(time.perf_counter() - started, 2)}


STEPS = {"settle": settle, "naive": naive, "freshness": freshness, "history": history, "maintenance": maintenance,
         "view_freshness": view_freshness, "queries": queries}


def main() -> int:
    args = json.load(sys.stdin)
    from touchpulse.cli import setup_logging
    settings = load_settings(dotenv=None)
    setup_logging(settings.log_level)
    result = STEPS[args["step"]](settings, args)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
