"""Ingestion while the dashboards read through the worker (`pipeline_eps_under_reads`).

The same pre-loaded events are drained once more (a consumer group and database of their own), while
one thread of the bench runs every dashboard panel's SQL in a loop against the draining worker's read
endpoint, over the database the first drain filled: what a Grafana on the same laptop does to a
worker. Compared with the quiet `pipeline_eps` of the same run (`under_reads_ratio`; the target is to
stay within 20 %), and with a quiet drain just before it (`quiet_again_eps`: the same chDB directory
and the same moment, for a machine whose load changes during the run). The bench process reads over
HTTP only: it never opens chDB.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from datetime import datetime, timedelta, timezone

from touchpulse.bench.env import CLI, DATABASE, BenchHome, say, skip_earlier
from touchpulse.bench.worker import Worker

READS_DATABASE = "bench_reads"
READS_GROUP = "touchpulse-bench-reads"
RANGE_DAYS = 30


class DashboardLoop(threading.Thread):
    """Every panel of every dashboard, again and again, through one HTTP client, until stopped."""

    def __init__(self, host: str, port: int, user: str, password: str, database: str, registry):
        super().__init__(name="bench-dashboards", daemon=True)
        self.address = (host, port, user, password)
        self.database = database
        self.registry = registry
        self.stopping = threading.Event()
        self.latencies_ms: list[float] = []
        self.errors: dict[str, str] = {}
        self.passes = 0
        self.failure: str | None = None
        self.disconnected: str | None = None  # the worker stopped answering (it exits after draining)

    def run(self) -> None:
        import logging

        import clickhouse_connect

        # The drain ends under the loop's feet: its last queries find the port closed. Not news.
        for name in ("urllib3", "clickhouse_connect"):
            logging.getLogger(name).setLevel(logging.ERROR)

        from touchpulse.dashboards.build import build_all
        from touchpulse.dashboards.check import run_dashboard

        host, port, user, password = self.address
        try:
            client = clickhouse_connect.get_client(interface="http", host=host, port=port, username=user,
                                                   password=password, autogenerate_session_id=False)
        except Exception as exc:
            self.failure = str(exc).splitlines()[0][:300]
            return
        models = build_all(self.registry.slugs, database=self.database, timezone="UTC").values()
        end = datetime.combine(datetime.now(timezone.utc).date(), datetime.min.time(), timezone.utc)
        start = end - timedelta(days=RANGE_DAYS)

        def query(sql: str) -> list[tuple]:
            if self.stopping.is_set():
                raise _Stopped
            t0 = time.perf_counter()
            rows = client.query(sql).result_rows
            self.latencies_ms.append(1000 * (time.perf_counter() - t0))
            return rows

        try:
            while not self.stopping.is_set():
                for model in models:
                    try:
                        results = run_dashboard(model, query, start, end)
                    except _Stopped:
                        raise
                    except Exception as exc:  # a variable's own query failed: the worker stopped, or a bug
                        text = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                        if "Code: " not in text or "Code: 236." in text:
                            self.stopping.set()
                            self.disconnected = text
                            break
                        self.errors[f"{model['uid']} variables"] = text
                        continue
                    for r in results:
                        if r.error and "_Stopped" in r.error:
                            continue
                        if r.error and ("Code: " not in r.error or "Code: 236." in r.error):
                            # no answer at all, or ABORTED (the worker is stopping): the drain is over
                            self.stopping.set()
                            self.disconnected = r.error[:300]
                        elif r.error:
                            self.errors[r.label] = r.error
                    if self.stopping.is_set():
                        break
                else:
                    self.passes += 1
        except _Stopped:
            pass
        finally:
            client.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(120)


class _Stopped(Exception):
    pass


def drain_under_reads(bh: BenchHome, events: int, registry, cli, rounds: int = 1, settle=None) -> dict:
    """Drain the pre-loaded events again, quietly and then with the dashboards querying the worker,
    `rounds` times (each drain with a consumer group and database of its own, so that both see the
    same conditions: the chDB directory and the machine as they are now). The bench's figures come
    from the median of the drains under reads; the quiet ones are reported beside them."""
    quiet, loud, settled = [], [], []
    for n in range(rounds):
        if settle is not None:  # the earlier drains' merges done, as the first drain found it
            settled.append(settle())
        quiet.append(_drain(bh, events, f"{READS_DATABASE}_quiet_{n}", registry, cli, reads=False))
        if "failure" in quiet[-1]:
            return quiet[-1]
        if settle is not None:
            settled.append(settle())
        loud.append(_drain(bh, events, f"{READS_DATABASE}_{n}", registry, cli, reads=True))
        if "failure" in loud[-1]:
            return loud[-1]
    out = dict(sorted(loud, key=lambda d: d["eps"])[len(loud) // 2])
    out["quiet_again_eps"] = round(statistics.median(d["eps"] for d in quiet))
    out["rounds"] = [{"quiet_eps": q["eps"], "under_reads_eps": u["eps"], "quiet_worker_cpu_s": q["worker_cpu_seconds"],
                      "under_reads_worker_cpu_s": u["worker_cpu_seconds"], "queries": u["queries"]}
                     for q, u in zip(quiet, loud)]
    out["settle"] = settled
    say(f"under reads: {out['eps']:,} events/s while {out['queries']:,} dashboard queries ran through the worker "
        f"(p50 {out['query_p50_ms']} ms, p95 {out['query_p95_ms']} ms, {len(out['errors'])} failing panels); "
        f"{out['quiet_again_eps']:,} events/s quietly just before")
    return out


def _drain(bh: BenchHome, events: int, database: str, registry, cli, reads: bool) -> dict:
    env = bh.env(TOUCHPULSE_LOG_LEVEL="DEBUG", TOUCHPULSE_DATABASE=database, TOUCHPULSE_GROUP=f"{READS_GROUP}-{database}",
                 TOUCHPULSE_SERVE="127.0.0.1:0")
    cli(bh, "up", env=env)
    skip_earlier(bh.settings(TOUCHPULSE_GROUP=env["TOUCHPULSE_GROUP"]))
    drain = Worker([*CLI, "worker", "--drain"], env, bh.home, bh.root / f"drain-{database}.log")
    loop = None
    if reads:
        address = _wait_address(bh.home / "serve.json", drain, timeout=120)
        if address is None:
            drain.stop()
            return {"failure": f"the worker did not serve reads; see {drain.log}"}
        password = (bh.home / "serve-password").read_text(encoding="utf-8").strip()
        loop = DashboardLoop(address["host"], address["port"], address["user"], password, DATABASE, registry)
        loop.start()
    done = drain.wait(timeout=3 * 3600)
    if loop is not None:
        loop.stop()
    out: dict = {"returncode": done.returncode, "events": done.events, "log": str(done.log)}
    if done.returncode != 0 or done.events != events or not done.window:
        out["failure"] = f"`worker --drain` ({database}) exited {done.returncode} after {done.events} events"
        return out
    out.update({"eps": round(events / done.window), "processing_seconds": round(done.window, 2),
                "peak_rss_mb": done.peak_rss_mb, "peak_rss_file_mb": done.peak_file_mb,
                "worker_cpu_seconds": round(done.cpu_seconds, 1)})
    if loop is None:
        return out
    lat = loop.latencies_ms
    out.update({
        "queries": len(lat), "passes": loop.passes, "errors": loop.errors, "client_failure": loop.failure,
        "queries_per_second": round(len(lat) / done.window, 1),
        "query_p50_ms": round(statistics.median(lat), 1) if lat else None,
        "query_p95_ms": round(_pct(lat, 95), 1) if lat else None,
        "query_max_ms": round(max(lat), 1) if lat else None,
        "readers": 1, "range_days": RANGE_DAYS, "database_read": DATABASE,
    })
    return out


def _wait_address(path, drain: Worker, timeout: float) -> dict | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and drain.proc.poll() is None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("pid") == drain.proc.pid:
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return None


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]
