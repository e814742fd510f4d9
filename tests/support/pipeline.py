"""Pipeline fixtures shared by the integration and fault suites.

One real local broker per session; per test its own topic prefix, consumer group, ClickHouse database and chDB directory, so tests cannot see each other.

The worker and the CLI run as subprocesses, exactly as users run them (chDB also allows only
one process per data directory, so the test process never opens the pipeline's chDB).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from touchpulse.kafka import broker

CLI = [sys.executable, "-m", "touchpulse.cli"]
_CONNECT = textwrap.dedent("""
    import sys, orjson
    from touchpulse.settings import load_settings
    from touchpulse.clickhouse.client import connect
    c = connect(load_settings())
""")
_QUERY = _CONNECT + "sys.stdout.buffer.write(orjson.dumps([list(x) for x in c.query(sys.stdin.read()).result_rows], default=str))\n"
_COMMAND = _CONNECT + "c.command(sys.stdin.read())\n"


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory):
    home = tmp_path_factory.mktemp("broker")
    b = broker.start(home)
    yield b
    broker.stop(home)


@dataclass
class Pipeline:
    """A touchpulse installation for one test, driven through its CLI."""
    home: Path
    bootstrap: str
    env: dict = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return self.env["TOUCHPULSE_TOPIC_PREFIX"]

    def topic(self, name: str) -> str:
        return self.prefix + name

    def run(self, *args: str, input: bytes | None = None, check: bool = True, timeout: float = 300,
            extra_env: dict | None = None) -> subprocess.CompletedProcess:
        env = {**self.env, **(extra_env or {})}
        proc = subprocess.run([*CLI, *args], input=input, capture_output=True, env=env, timeout=timeout,
                              cwd=self.home)
        if check and proc.returncode != 0:
            raise AssertionError(f"touchpulse {' '.join(args)} exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout.decode()[-3000:]}\nstderr: {proc.stderr.decode()[-5000:]}")
        return proc

    def spawn(self, *args: str, extra_env: dict | None = None, log_name: str = "worker") -> subprocess.Popen:
        log = open(self.home / f"{log_name}-{uuid.uuid4().hex[:6]}.log", "wb")
        return subprocess.Popen([*CLI, *args], env={**self.env, **(extra_env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, cwd=self.home)

    def up(self) -> None:
        self.run("up")

    def drain(self, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.run("worker", "--drain", timeout=timeout)

    def query(self, view: str, *args: str) -> list[dict]:
        return json.loads(self.run("query", view, "--format", "json", *args).stdout)

    def sql(self, sql: str, extra_env: dict | None = None) -> list[list]:
        """Run a query against this pipeline's ClickHouse in a subprocess (chDB: one process per directory)."""
        return json.loads(self._clickhouse(_QUERY, sql, extra_env))

    def command(self, sql: str, extra_env: dict | None = None) -> None:
        """Run a statement (DDL, INSERT ... FROM INFILE) the same way."""
        self._clickhouse(_COMMAND, sql, extra_env)

    def python(self, code: str, *args: str, input: bytes | None = None, extra_env: dict | None = None,
               timeout: float = 120) -> bytes:
        """Run a Python snippet with this pipeline's environment (its chDB: one process per
        directory) and return its stdout; a failing snippet fails the test with its stderr."""
        proc = subprocess.run([sys.executable, "-c", code, *args], input=input, capture_output=True,
                              env={**self.env, **(extra_env or {})}, timeout=timeout, cwd=self.home)
        if proc.returncode != 0:
            raise AssertionError(proc.stderr.decode()[-3000:])
        return proc.stdout

    def _clickhouse(self, script: str, sql: str, extra_env: dict | None) -> bytes:
        proc = subprocess.run([sys.executable, "-c", script], input=sql.encode(), capture_output=True,
                              env={**self.env, **(extra_env or {})}, timeout=120, cwd=self.home)
        if proc.returncode != 0:
            raise AssertionError(proc.stderr.decode()[-3000:])
        return proc.stdout

    def produce(self, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
        """Send (topic name without prefix, value, key) with a plain kafka-python producer."""
        from kafka import KafkaProducer
        p = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=10)
        try:
            for topic, value, key in records:
                p.send(self.topic(topic), value=value, key=key)
            p.flush()
        finally:
            p.close()

    def notices_applied(self) -> bool:
        """Every message on the customers topic is committed by the group, twice in a row: the
        customer-level numbers (repeat customers, won back, ...) follow the events through it."""
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=self.env["TOUCHPULSE_GROUP"],
                          enable_auto_commit=False)
        try:
            for _ in range(2):
                tps = [TopicPartition(self.topic("customers"), n)
                       for n in c.partitions_for_topic(self.topic("customers")) or ()]
                ends = c.end_offsets(tps)
                if any((c.committed(tp, timeout_ms=5000) or 0) < ends[tp] for tp in tps):
                    return False
                time.sleep(0.5)
            return True
        finally:
            c.close()

    def consume(self, topic: str, timeout_ms: int = 3000) -> list:
        """Every record now on a topic (all partitions), read with a group-less kafka-python consumer."""
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                          auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
        try:
            parts = c.partitions_for_topic(self.topic(topic)) or set()
            tps = [TopicPartition(self.topic(topic), p) for p in parts]
            c.assign(tps)
            ends = c.end_offsets(tps)
            c.seek_to_beginning(*tps)
            out = []
            while any(c.position(tp) < ends[tp] for tp in tps):
                batch = c.poll(timeout_ms=timeout_ms)
                if not batch:
                    break
                for recs in batch.values():
                    out.extend(recs)
            return out
        finally:
            c.close()


def make_pipeline(bootstrap: str, base: Path) -> Pipeline:
    """A fresh, isolated touchpulse installation on an existing broker."""
    name = "t" + uuid.uuid4().hex[:10]
    home = base / "home"
    home.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
    env.update({
        "TOUCHPULSE_HOME": str(home),
        "TOUCHPULSE_KAFKA": bootstrap,
        "TOUCHPULSE_TOPIC_PREFIX": f"{name}.",
        "TOUCHPULSE_GROUP": f"{name}-workers",
        "TOUCHPULSE_DATABASE": name,
        "TOUCHPULSE_BATCH_WAIT": "0.2",
        # Workers serve reads on a port of their own (found through serve.json): tests run in
        # parallel (pytest-xdist), and two workers cannot both have the default port.
        "TOUCHPULSE_SERVE": "127.0.0.1:0",
        "PYTHONUNBUFFERED": "1",
    })
    return Pipeline(home=home, bootstrap=bootstrap, env=env)


@pytest.fixture
def pipeline(local_broker, tmp_path) -> Pipeline:
    return make_pipeline(local_broker.bootstrap, tmp_path)
