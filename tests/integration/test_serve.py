"""Issue 15 end to end: a real `touchpulse worker` on the embedded default (real local broker, chDB) answers
reads while it runs. Events streaming in show up in `touchpulse query` within seconds; a real clickhouse-connect
HTTP client runs every dashboard panel's SQL through it (Native and JSON, query parameters, compression) and gets
what chDB itself gives once the worker has stopped; writes and a wrong password fail with ClickHouse's codes;
nothing listens beyond loopback; writers are told to stop the worker; a file left by a killed worker misleads
no one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import clickhouse_connect
import orjson
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support.pipeline import CLI
from touchpulse.bench.worker import Worker
from touchpulse.core.touchpoints import load_registry
from touchpulse.dashboards.build import build_all
from touchpulse.dashboards.check import run_dashboard

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

REGISTRY = load_registry()
_DIRECT = """
import sys, orjson
from datetime import datetime
from touchpulse.settings import load_settings
from touchpulse.clickhouse.client import connect, reads_through_worker
from touchpulse.dashboards.build import build_all
from touchpulse.dashboards.check import run_dashboard
from touchpulse.core.touchpoints import load_registry
s = load_settings()
c = connect(s, read_only=True)
assert not reads_through_worker(c)
start, end = (datetime.fromisoformat(x) for x in sys.argv[1:3])
out = {}
def run(sql):
    rows = c.query(sql).result_rows
    out[sql] = rows
    return rows
for model in build_all(load_registry().slugs, database=s.database, timezone=s.timezone).values():
    run_dashboard(model, run, start, end)
sys.stdout.buffer.write(orjson.dumps(out, default=str))
"""


def survey(i: int, day: str, score: int = 10) -> bytes:
    return orjson.dumps({"event_id": f"live-{i}", "type": "survey", "version": 1, "occurred_at": f"{day}T10:00:00Z",
                         "touchpoint": "call_centre", "response_id": f"live-r-{i}", "score": score})


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def listening_addresses(pid: int) -> list[str]:
    """Local addresses of the TCP sockets in LISTEN state that process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                out.append(fields[1])
    return out


def loopback(address: str) -> bool:
    host = address.split(":")[0]
    return host == "0100007F" or host == "00000000000000000000000001000000"


def rows_of(result) -> list:
    """Rows as JSON values, in a fixed order, floats to 9 significant digits (the order of ties, and of a float
    sum's terms, may differ between one thread and several)."""
    def plain(v):
        if isinstance(v, float):
            return float(f"{v:.9g}")
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    return sorted((plain(r) for r in json.loads(orjson.dumps(result, default=str))), key=json.dumps)


def test_a_running_worker_serves_reads_to_commands_clients_and_dashboards(pipeline):
    pipeline.up()
    produced = pipeline.run("simulate", "--days", "4", "--clean").stderr.decode()
    sent = int(re.search(r"(\d+) messages produced", produced).group(1))
    db, home = pipeline.env["TOUCHPULSE_DATABASE"], pipeline.home
    env = {**pipeline.env, "TOUCHPULSE_LOG_LEVEL": "DEBUG"}
    env.pop("TOUCHPULSE_SERVE")  # the default, as a user has it (other tests' workers take port 0)
    worker = Worker([*CLI, "worker"], env, home, home / "serve-worker.log")
    log = lambda: (home / "serve-worker.log").read_text(errors="replace")[-4000:]  # noqa: E731
    try:
        assert worker.wait_processed(sent, timeout=180), log()
        address = wait_for(lambda: (home / "serve.json").exists() and json.loads((home / "serve.json").read_text()),
                           30, "serve.json")
        assert address["pid"] == worker.proc.pid and address["host"] == "127.0.0.1"
        assert all(loopback(a) for a in listening_addresses(worker.proc.pid)), listening_addresses(worker.proc.pid)
        assert listening_addresses(worker.proc.pid), "the worker listens nowhere"

        # `touchpulse query` reads through the worker, and sees events streaming in within seconds.
        before = pipeline.query("nps_daily", "--touchpoint", "call_centre")
        day = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
        base = sum(r["responses"] for r in before if r["day"] == day)
        t0 = time.monotonic()
        pipeline.produce([("surveys", survey(i, day), f"live-r-{i}".encode()) for i in range(40)])

        def seen():
            rows = pipeline.query("nps_daily", "--touchpoint", "call_centre", "--from", day, "--to", day)
            return sum(r["responses"] for r in rows) == base + 40

        wait_for(seen, 20, "the new answers in `touchpulse query`")
        assert time.monotonic() - t0 < 20

        # Customer-level numbers (won back, repeat customers) follow through the customers topic:
        # compared below with a read after the worker stops, they must have arrived first.
        wait_for(pipeline.notices_applied, 60, "the worker applying every customer notice")

        # A real clickhouse-connect client over HTTP: every dashboard panel through the worker.
        secret = (home / "serve-password").read_text().strip()
        client = clickhouse_connect.get_client(interface="http", host="127.0.0.1", port=address["port"],
                                               username=address["user"], password=secret)
        start = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=7), datetime.min.time(),
                                 timezone.utc)
        end = datetime.combine(datetime.now(timezone.utc).date() + timedelta(days=1), datetime.min.time(),
                               timezone.utc)
        through: dict[str, list] = {}

        def run(sql):
            rows = client.query(sql).result_rows
            through[sql] = rows
            return rows

        results = [r for model in build_all(REGISTRY.slugs, database=db, timezone="UTC").values()
                   for r in run_dashboard(model, run, start, end)]
        errors = [f"{r.label}: {r.error}" for r in results if r.error]
        assert not errors, "\n".join(errors)
        assert len(results) > 100 and sum(r.rows > 0 for r in results) > 0.8 * len(results)

        # Query parameters, JSON, compression.
        sql = f"SELECT touchpoint, sum(responses) AS n FROM {db}.nps_daily WHERE day >= {{d:Date}} GROUP BY touchpoint"
        native = dict(client.query(sql, parameters={"d": day}).result_rows)
        assert native["call_centre"] >= 40
        as_json = json.loads(client.raw_query(sql, parameters={"d": day}, fmt="JSON"))
        assert {r["touchpoint"]: int(r["n"]) for r in as_json["data"]} == native
        gz = clickhouse_connect.get_client(interface="http", host="127.0.0.1", port=address["port"],
                                           username=address["user"], password=secret, compress="gzip")
        assert dict(gz.query(sql, parameters={"d": day}).result_rows) == native

        # Writes fail with ClickHouse's READONLY; a wrong password with AUTHENTICATION_FAILED.
        tables = client.query(f"SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name").result_rows
        for stmt in (f"INSERT INTO {db}.surveys (event_id) VALUES ('x')", f"CREATE TABLE {db}.x (a UInt8) ENGINE = Log",
                     f"DROP TABLE {db}.nps_daily", "SYSTEM FLUSH LOGS", f"ALTER TABLE {db}.surveys DELETE WHERE 1",
                     f"TRUNCATE TABLE {db}.calls"):
            with pytest.raises(DatabaseError) as info:
                client.command(stmt)
            assert info.value.code == 164, (stmt, str(info.value))
        assert client.query(f"SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name").result_rows == tables
        with pytest.raises(DatabaseError) as info:
            clickhouse_connect.get_client(interface="http", host="127.0.0.1", port=address["port"],
                                          username=address["user"], password="not-" + secret)
        assert info.value.code == 516

        # Flows read through it; writers are told, in one line, to stop the worker first.
        report = pipeline.run("flow", "run", "daily-report", "--no-prefect")
        assert Path(report.stdout.decode().strip().splitlines()[-1]).exists()
        up = pipeline.run("up", check=False)
        err = up.stderr.decode()
        assert up.returncode != 0 and "Traceback" not in err and "stop the worker first" in err
        assert f"pid {worker.proc.pid}" in err

        views = {v: pipeline.query(v) for v in ("nps_daily", "calls_daily", "reviews_daily", "purchases_daily")}
    finally:
        run_ = worker.stop()
    assert run_.returncode == 0, log()
    assert not (home / "serve.json").exists(), "a clean stop removes the address file"

    # With the worker stopped, commands open chDB themselves and see exactly what the worker served.
    assert {v: pipeline.query(v) for v in views} == views
    proc = subprocess.run([sys.executable, "-c", _DIRECT, start.isoformat(), end.isoformat()], capture_output=True,
                          env=pipeline.env, cwd=home, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    direct = json.loads(proc.stdout)
    # Ages and lags against now() move on between the two runs.
    timeless = [s for s in through if not any(w in s.lower() for w in ("now", "ingest_freshness", "overdue"))]
    assert len(timeless) > 50
    assert {s: rows_of(through[s]) for s in timeless} == {s: rows_of(direct[s]) for s in timeless}


def test_a_file_left_by_a_killed_worker_misleads_no_one(pipeline):
    pipeline.up()
    env = {**pipeline.env, "TOUCHPULSE_SERVE": "127.0.0.1:0"}
    proc = pipeline.spawn("worker", extra_env=env)
    try:
        wait_for(lambda: (pipeline.home / "serve.json").exists(), 60, "serve.json")
        assert pipeline.query("nps_daily") == []  # through the worker
    finally:
        proc.kill()
        proc.wait()
    assert json.loads((pipeline.home / "serve.json").read_text())["pid"] == proc.pid  # left behind
    t0 = time.monotonic()
    assert pipeline.query("nps_daily") == []  # opens chDB itself: the pid is gone
    assert time.monotonic() - t0 < 30
    # A new worker replaces the file; and a second one on the same directory is told who holds it.
    second = pipeline.spawn("worker", extra_env=env)
    try:
        wait_for(lambda: json.loads((pipeline.home / "serve.json").read_text())["pid"] == second.pid, 60,
                 "the new worker's address")
        third = pipeline.run("worker", "--drain", check=False, extra_env=env)
        assert third.returncode != 0 and f"pid {second.pid}" in third.stderr.decode()
    finally:
        second.terminate()
        assert second.wait(60) == 0
