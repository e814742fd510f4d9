"""The bench, step by step, on a private installation under a temporary directory:

1. pre-load N simulated events onto a broker of our own (produce rate);
2. limit: a bare aiokafka consumer decoding the JSON (raw_consume_eps);
3. naive: one event at a time, one insert per event, for a bounded sample (naive_eps);
4. touchpulse: `touchpulse worker --drain` over the same messages (pipeline_eps, worker_rss_mb);
   then again while the dashboards' queries run in a loop through the worker's read endpoint
   (pipeline_eps_under_reads, under_reads_ratio; touchpulse/bench/reads.py);
   optionally once more under py-spy, for the profile;
5. maintenance: what keeping the views current costs per batch with 1M and with 10M facts of
   history (batch_maintenance_ms_1m/_10m, history_cost_ratio);
6. live: a year of synthetic facts loaded first, then a long-running worker while a steady stream
   is produced: freshness up to the commit (freshness_p50_s/p99_s) and up to the views, as
   measured by the insert that makes each event visible (view_freshness_p50_s/p99_s);
7. queries: the dashboards' queries over that database as the live worker left it, unmerged
   parts included (query_p50_ms/p95_ms);
8. idle: CPU of a started worker with nothing to consume (idle_worker_cpu_pct).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from touchpulse import __version__
from touchpulse.bench.env import CHILD, CLI, GROUP, BenchHome, say, skip_earlier
from touchpulse.bench.load import generate, produce, steady
from touchpulse.bench.worker import Worker, cpu_of
from touchpulse.core.touchpoints import load_registry
from touchpulse.errors import UserError
from touchpulse.kafka import broker
from touchpulse.kafka.topics import Topics, bootstrap


class BenchError(UserError):
    """A bench step failed; the message says which and where its log is."""

    exit_code = 1


@dataclass
class Options:
    events: int = 300_000
    naive_events: int = 2_000
    naive_seconds: float = 20.0
    freshness_seconds: float = 60.0
    freshness_rate: int = 2_000
    query_rows: int = 10_000_000
    maintenance_facts: tuple[int, int] = (1_000_000, 10_000_000)
    maintenance_batches: int = 20
    idle_seconds: float = 20.0
    skip_maintenance: bool = False
    skip_idle: bool = False
    skip_reads: bool = False
    reads_rounds: int = 1
    query_repeats: int = 3
    query_budget_seconds: float = 900.0
    skip_naive: bool = False
    skip_freshness: bool = False
    skip_queries: bool = False
    profile_dir: Path | None = None
    work_dir: Path | None = None
    keep: bool = False


def run(opts: Options) -> dict:
    root = Path(tempfile.mkdtemp(prefix="touchpulse-bench-", dir=opts.work_dir))
    bh = BenchHome(root)
    say(f"working in {root}")
    out: dict = {"events": opts.events, "machine": machine_info(), "command": None, "details": {}}
    failed = True
    try:
        broker.start(bh.home)
        _run(bh, opts, out)
        failed = False
    finally:
        broker.stop(bh.home)
        out["machine"]["loadavg_end"] = list(os.getloadavg())
        if failed or opts.keep:
            say(f"kept {root} (logs, broker and chDB data)")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return out


def _run(bh: BenchHome, opts: Options, out: dict) -> None:
    details = out["details"]
    _cli(bh, "up")
    settings = bh.settings()
    registry = load_registry(settings.touchpoints)
    topics = Topics(settings.topic_prefix)

    say(f"generating {opts.events:,} simulated events (all four types, ~1 % broken, duplicate or late)")
    t0 = time.perf_counter()
    records = generate(opts.events, registry, topics)
    details["generate_seconds"] = round(time.perf_counter() - t0, 1)
    logging.getLogger("kafka").setLevel(logging.ERROR)  # "task ran for 0.1 s" warnings of the producer
    say(f"producing them to the local broker ({len(records):,} messages)")
    produced = produce(settings, records)
    out["produce_eps"] = round(produced.rate)
    details["produce"] = {"messages": produced.count, "seconds": round(produced.seconds, 2),
                          "mb": round(produced.bytes / 2**20, 1)}
    del records

    say("limit: reading everything back with a bare aiokafka consumer (orjson.loads only)")
    from touchpulse.bench.consume import raw_consume
    raw = raw_consume(bootstrap(settings), list(topics.events))
    if raw.count != opts.events:
        raise BenchError(f"the raw consumer read {raw.count} messages, expected {opts.events}")
    out["raw_consume_eps"] = round(raw.rate)
    details["raw_consume"] = {"messages": raw.count, "seconds": round(raw.seconds, 2), "undecodable": raw.undecodable}

    if not opts.skip_naive:
        say(f"naive: one event at a time, one insert per event (at most {opts.naive_events:,} events "
            f"or {opts.naive_seconds:.0f} s)")
        naive = _child(bh, "naive", {"max_events": opts.naive_events, "max_seconds": opts.naive_seconds},
                       TOUCHPULSE_DATABASE="bench_naive")
        out["naive_eps"] = round(naive["eps"], 1)
        details["naive"] = naive

    say("touchpulse: `touchpulse worker --drain` over the same messages")
    details["settle_before_drain"] = _child(bh, "settle", {})  # the naive step's parts merged, not the drain's job
    broker_pid = broker.running(bh.home).pid
    broker_cpu = cpu_of(broker_pid)
    drain = Worker([*CLI, "worker", "--drain"], bh.env(TOUCHPULSE_LOG_LEVEL="DEBUG"), bh.home, bh.root / "drain.log")
    done = drain.wait(timeout=3 * 3600)
    broker_cpu = cpu_of(broker_pid) - broker_cpu
    if done.returncode != 0:
        raise BenchError(f"`worker --drain` exited {done.returncode}; see {done.log}")
    if done.events != opts.events:
        raise BenchError(f"the worker logged {done.events} events in batches, expected {opts.events}; see {done.log}")
    out["pipeline_eps"] = round(opts.events / done.window) if done.window else None
    out["pipeline_wall_eps"] = round(opts.events / done.wall)
    out["ratio"] = round(out["pipeline_eps"] / out["raw_consume_eps"], 3) if out["pipeline_eps"] else None
    out["worker_rss_mb"] = done.peak_rss_mb
    sizes = [b.size for b in done.batches]
    details["drain"] = {"batches": len(sizes), "mean_batch": round(sum(sizes) / len(sizes), 1),
                        "processing_seconds": round(done.window, 2), "wall_seconds": round(done.wall, 2),
                        "startup_seconds": round(done.batches[0].started - done.spawned, 2),
                        "batch_handling_ms_total": round(sum(b.ms for b in done.batches)),
                        "first_batch_ms": done.batches[0].ms,  # includes opening chDB in the worker
                        "eps_after_first_batch": _after_first(done),
                        "peak_rss_mb": done.peak_rss_mb,
                        "peak_rss_file_mb": done.peak_file_mb,
                        "worker_cpu_seconds": round(done.cpu_seconds, 1), "broker_cpu_seconds": round(broker_cpu, 1),
                        "worker_cpu_us_per_event": round(1e6 * done.cpu_seconds / opts.events, 1)}
    say(f"touchpulse: {out['pipeline_eps']:,} events/s while processing "
        f"({opts.events / done.wall:,.0f}/s including {details['drain']['startup_seconds']:.1f} s of start-up)")

    if not opts.skip_reads:
        _under_reads(bh, opts, out, registry)

    if opts.profile_dir:
        details["profile"] = _profile(bh, opts.profile_dir)

    if not opts.skip_maintenance:
        _maintenance(bh, opts, out)

    end = datetime.now(timezone.utc).date()
    if not (opts.skip_freshness and opts.skip_queries):
        say(f"live: writing a year of synthetic facts ({opts.query_rows:,} survey answers, {opts.query_rows:,} calls, "
            f"13 touchpoints) into the database the live worker will use, and their derived data")
        details["history"] = _child(bh, "history", {"rows": opts.query_rows, "end": end.isoformat()},
                                    timeout=6 * 3600, TOUCHPULSE_DATABASE=LIVE_DATABASE)
        # A live system's year of history has long been merged; a year written a moment ago has
        # not, and the live worker would spend the run merging it (measured: batches stalled up
        # to 11 s). The year is merged first, as it would be; the worker's own parts stay unmerged.
        say("live: merging the year just written, as a live system's history would be")
        details["history"]["settle"] = _child(bh, "settle", {}, timeout=6 * 3600)

    if not opts.skip_freshness:
        details["freshness"] = _freshness(bh, opts, registry, topics)
        out["freshness_p50_s"] = details["freshness"]["p50_s"]
        out["freshness_p99_s"] = details["freshness"]["p99_s"]
        out["view_freshness_p50_s"] = details["freshness"]["view_p50_s"]
        out["view_freshness_p99_s"] = details["freshness"]["view_p99_s"]
        out["worker_rss_mb"] = max(out["worker_rss_mb"], details["freshness"]["worker_peak_rss_mb"])

    if not opts.skip_queries:
        say("queries: the dashboards' queries over the year, as the live worker left it (unmerged parts)")
        q = _child(bh, "queries", {"end": end.isoformat(), "repeats": opts.query_repeats,
                                   "budget_seconds": opts.query_budget_seconds},
                   timeout=6 * 3600, TOUCHPULSE_DATABASE=LIVE_DATABASE)
        out["query_p50_ms"] = q["p50_ms"]
        out["query_p95_ms"] = q["p95_ms"]
        details["queries"] = q

    if not opts.skip_idle:
        details["idle"] = _idle(bh, opts.idle_seconds)
        out["idle_worker_cpu_pct"] = details["idle"]["cpu_pct"]


LIVE_DATABASE = "bench_live"
FACTS_PER_ROW = 2.055  # build_data(rows) writes rows answers, rows calls, rows/20 orders, rows/200 reviews


def _maintenance(bh: BenchHome, opts: Options, out: dict) -> None:
    end = datetime.now(timezone.utc).date()
    results = {}
    # The JSON keys are fixed (_1m, _10m) for the two sizes, whatever --maintenance-facts says.
    for label, facts in zip(("1m", "10m"), opts.maintenance_facts):
        say(f"maintenance: {facts:,} facts of history, then {opts.maintenance_batches} batches of 5,000 events")
        results[label] = _child(bh, "maintenance", {"rows": round(facts / FACTS_PER_ROW), "end": end.isoformat(),
                                                    "batches": opts.maintenance_batches, "size": 5000},
                                timeout=6 * 3600, TOUCHPULSE_CLICKHOUSE=bh.chdb_dir(f"maintenance-{label}"),
                                TOUCHPULSE_DATABASE="bench_maintenance")
        out[f"batch_maintenance_ms_{label}"] = results[label]["p50_ms"]
    out["details"]["maintenance"] = results
    if out.get("batch_maintenance_ms_1m") and out.get("batch_maintenance_ms_10m"):
        out["history_cost_ratio"] = round(out["batch_maintenance_ms_10m"] / out["batch_maintenance_ms_1m"], 2)


def _idle(bh: BenchHome, seconds: float) -> dict:
    """CPU of a started worker with nothing to consume, over `seconds`, as a share of one core."""
    say(f"idle: a worker with nothing to consume, CPU over {seconds:.0f} s")
    # A new process takes over the merges the earlier steps left (measured: 16.8 % of a core for
    # the first idle worker after the query step, 4.2 % for the next): merged first, so the figure
    # is the worker's own.
    _child(bh, "settle", {}, timeout=6 * 3600)
    worker = Worker([*CLI, "worker"], bh.env(TOUCHPULSE_GROUP=_group_at_the_end(bh, "idle")), bh.home,
                    bh.root / "idle.log")
    try:
        time.sleep(10)  # started, joined the group, recovered, prepared
        before, t0 = cpu_of(worker.proc.pid), time.monotonic()
        time.sleep(seconds)
        used, wall = cpu_of(worker.proc.pid) - before, time.monotonic() - t0
    finally:
        worker.stop()
    return {"seconds": round(wall, 1), "cpu_seconds": round(used, 2), "cpu_pct": round(100 * used / wall, 1)}


def _group_at_the_end(bh: BenchHome, name: str) -> str:
    """A consumer group of its own for a long-running worker, starting at the end of every topic:
    what earlier steps left there is not its stream (bench/env.py: skip_earlier)."""
    group = f"{GROUP}-{name}"
    skip_earlier(bh.settings(TOUCHPULSE_GROUP=group), events=True)
    return group


def _under_reads(bh: BenchHome, opts: Options, out: dict, registry) -> None:
    from touchpulse.bench.reads import drain_under_reads
    say("under reads: `worker --drain` over the same messages again (fresh group and database) while a thread "
        "runs the dashboards' queries in a loop through the worker's read endpoint")
    reads = drain_under_reads(bh, opts.events, registry, _cli, rounds=opts.reads_rounds,
                              settle=lambda: _child(bh, "settle", {}))
    out["details"]["reads"] = reads
    if "failure" in reads:
        raise BenchError(f"under reads: {reads['failure']}")
    reads["ratio_vs_quiet_again"] = round(reads["eps"] / reads["quiet_again_eps"], 3)
    out["pipeline_eps_under_reads"] = reads["eps"]
    out["under_reads_ratio"] = round(reads["eps"] / out["pipeline_eps"], 3) if out.get("pipeline_eps") else None
    out["worker_rss_mb"] = max(out["worker_rss_mb"], reads["peak_rss_mb"])


def _after_first(done) -> int | None:
    """Throughput once the first batch (which opens ClickHouse) is done."""
    if len(done.batches) < 2:
        return None
    rest = done.batches[1:]
    return round(sum(b.size for b in rest) / max(rest[-1].logged - done.batches[0].logged, 1e-9))


def _freshness(bh: BenchHome, opts: Options, registry, topics: Topics) -> dict:
    settings = bh.settings(TOUCHPULSE_GROUP=_group_at_the_end(bh, "live"))
    total = int(opts.freshness_rate * opts.freshness_seconds)
    warmup = 200
    say(f"freshness: generating {total:,} more events")
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    records = generate(total + warmup, registry, topics, seed=2, end_day=yesterday)
    env = bh.env(TOUCHPULSE_LOG_LEVEL="DEBUG", TOUCHPULSE_DATABASE=LIVE_DATABASE, TOUCHPULSE_GROUP=settings.group)
    worker = Worker([*CLI, "worker"], env, bh.home, bh.root / "freshness.log")
    try:
        produce(settings, records[:warmup])
        if not worker.wait_processed(warmup, timeout=300):
            raise BenchError(f"the worker did not process the warm-up events; see {worker.log}")
        base = worker.processed
        say(f"freshness: the worker is running; producing {opts.freshness_rate:,} events/s "
            f"for {opts.freshness_seconds:.0f} s")
        sent, first, last = steady(settings, records[warmup:], opts.freshness_rate)
        caught_up = worker.wait_processed(base + sent, timeout=300)
        lag_after = time.time() - last
    finally:
        run = worker.stop()
    if not caught_up:
        raise BenchError(f"the worker processed {run.events - base} of the {sent} events produced; see {run.log}")
    say(f"freshness: produce-to-commit and produce-to-view lag of the {sent:,} events")
    lag = _child(bh, "freshness", {"start_ms": int(first * 1000) - 1, "stop_ms": int(last * 1000) + 1000},
                 TOUCHPULSE_DATABASE=LIVE_DATABASE)
    view = _child(bh, "view_freshness", {}, TOUCHPULSE_DATABASE=LIVE_DATABASE)
    rate = sent / (last - first) if last > first else 0.0
    return {"produced": sent, "achieved_rate": round(rate), "caught_up_after_s": round(lag_after, 2),
            "rows": lag["rows"], "p50_s": round(lag["p50_s"], 3), "p99_s": round(lag["p99_s"], 3),
            "max_s": round(lag["max_s"], 3), "view_events": view["events"], "view_p50_s": round(view["p50_s"], 3),
            "view_p99_s": round(view["p99_s"], 3), "view_max_s": view["max_s"],
            "worker_peak_rss_mb": run.peak_rss_mb, "worker_peak_rss_file_mb": run.peak_file_mb}


def _profile(bh: BenchHome, profile_dir: Path) -> dict:
    from touchpulse.bench import profile
    profile_dir.mkdir(parents=True, exist_ok=True)
    env = bh.env(TOUCHPULSE_DATABASE="bench_profile", TOUCHPULSE_GROUP="touchpulse-bench-profile")
    _cli(bh, "up", env=env)
    raw = profile_dir / "worker-drain.raw"
    say(f"profile: `worker --drain` again under py-spy (fresh consumer group), stacks in {raw}")
    t0 = time.perf_counter()
    proc = profile.record([*CLI, "worker", "--drain"], env, bh.home, raw)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not raw.exists():
        raise BenchError(f"py-spy record failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    with open(raw, encoding="utf-8") as f:
        summary = profile.summarise(profile.parse(f))
    text = profile.format_summary(summary)
    (profile_dir / "worker-drain.txt").write_text(text, encoding="utf-8")
    say("profile summary:\n" + text)
    return {"raw": str(raw), "summary": str(profile_dir / "worker-drain.txt"), "wall_seconds": round(wall, 1),
            "samples": summary["samples"], "categories": summary["categories"], "top_self": summary["self"][:15]}


def _cli(bh: BenchHome, *args: str, env: dict | None = None) -> None:
    proc = subprocess.run([*CLI, *args], env=env or bh.env(), cwd=bh.home, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise BenchError(f"`touchpulse {' '.join(args)}` failed: {proc.stderr.decode().strip()[-500:]}")


def _child(bh: BenchHome, step: str, args: dict, timeout: float = 3600, **env: str) -> dict:
    proc = subprocess.run(CHILD, input=json.dumps({"step": step, **args}).encode(), stdout=subprocess.PIPE,
                          env=bh.env(**env), cwd=bh.home, timeout=timeout)
    if proc.returncode != 0:
        raise BenchError(f"the {step} step failed (exit {proc.returncode}); its messages are above")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def machine_info() -> dict:
    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return {"cpu_count": os.cpu_count(), "cpu_model": model, "memory_gb": mem,
            "python": platform.python_version(), "platform": platform.platform(), "touchpulse": __version__,
            "date": date.today().isoformat(), "loadavg_start": list(os.getloadavg())}
