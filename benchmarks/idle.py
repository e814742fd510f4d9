"""CPU of an idle `touchpulse worker`, and how soon it picks up an event after idling.

    .venv/bin/python benchmarks/idle.py [SECONDS]

A private home (temporary TOUCHPULSE_HOME, embedded broker, chDB), `touchpulse up`, then a
worker with TOUCHPULSE_BATCH_WAIT=0.01 (so a batch is handed over as soon as it is fetched).
After one warm-up event, its CPU seconds (user + system, all threads, /proc/<pid>/stat) over
SECONDS of idling (default 20); then five times: 2 s idle, one event produced, and the time from
the broker's acknowledgement to the worker's "batch of 1" line minus the batch's own handling
time ("pickup"), and minus nothing ("latency"). Used for the numbers in commit messages.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from touchpulse.bench.env import CLI, BenchHome
from touchpulse.bench.worker import Worker, cpu_of
from touchpulse.kafka import broker
from touchpulse.kafka.emit import Sender
from touchpulse.kafka.topics import Topics


def survey(i: int) -> bytes:
    return orjson.dumps({"event_id": f"idle-{i}", "type": "survey", "version": 1,
                         "occurred_at": "2024-05-01T10:00:00Z", "touchpoint": "web",
                         "response_id": f"r-{i}", "score": 9})


def main(seconds: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="touchpulse-idle-"))
    bh = BenchHome(root, {"TOUCHPULSE_BATCH_WAIT": "0.01"})
    worker = None
    try:
        subprocess.run([*CLI, "up"], env=bh.env(), cwd=bh.home.parent, check=True, capture_output=True)
        settings = bh.settings()
        topic = Topics(settings.topic_prefix).for_type("survey")
        worker = Worker([*CLI, "worker"], bh.env(TOUCHPULSE_LOG_LEVEL="DEBUG"), root, root / "worker.log")
        sender = Sender(settings)
        sender.send(topic, survey(0), b"r-0")
        sender.flush()
        if not worker.wait_processed(1, timeout=120):
            raise SystemExit(f"the worker processed nothing; see {root / 'worker.log'}")
        time.sleep(3)
        pid = worker.proc.pid
        cpu0, t0 = cpu_of(pid), time.monotonic()
        time.sleep(seconds)
        cpu, wall = cpu_of(pid) - cpu0, time.monotonic() - t0
        print(f"idle worker: {cpu:.2f} CPU-seconds in {wall:.1f} s = {100 * cpu / wall:.1f} % of one core",
              flush=True)
        for i in range(1, 6):
            time.sleep(2)
            sent = time.monotonic()
            sender.send(topic, survey(i), f"r-{i}".encode())
            sender.flush()
            acked = time.monotonic()
            if not worker.wait_processed(i + 1, timeout=30):
                raise SystemExit("the worker did not process the event")
            batch = worker.batches[-1]
            print(f"event {i}: acked {1000 * (acked - sent):.0f} ms after send; batch logged "
                  f"{1000 * (batch.logged - acked):.0f} ms after the ack, pickup "
                  f"{1000 * (batch.started - acked):.0f} ms (handling {batch.ms:.0f} ms)", flush=True)
    finally:
        if worker is not None:
            worker.stop()
        broker.stop(bh.home)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 20.0)
