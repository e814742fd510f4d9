"""A real `touchpulse worker` idling on the real local broker: little CPU (the embedded broker
answers empty fetches at once, and an idle worker used to spend ~90 % of a core asking again),
and still quick to pick up an event that arrives after a while of nothing."""

from __future__ import annotations

import time

import orjson
import pytest

from touchpulse.bench.worker import Worker, cpu_of
from tests.support.pipeline import CLI

pytestmark = pytest.mark.integration

IDLE_SECONDS = 5.0
MAX_SHARE_OF_A_CORE = 0.2  # ~0.02 measured; ~0.9 before the idle backoff


def survey(i: int) -> bytes:
    return orjson.dumps({"event_id": f"idle-{i}", "type": "survey", "version": 1,
                         "occurred_at": "2024-05-01T10:00:00Z", "touchpoint": "web",
                         "response_id": f"r-{i}", "score": 9})


def test_idle_worker_uses_little_cpu_and_picks_up_new_events_quickly(pipeline):
    pipeline.up()
    env = {**pipeline.env, "TOUCHPULSE_LOG_LEVEL": "DEBUG", "TOUCHPULSE_BATCH_WAIT": "0.01"}
    worker = Worker([*CLI, "worker"], env, pipeline.home, pipeline.home / "idle-worker.log")
    try:
        pipeline.produce([("surveys", survey(0), b"r-0")])
        assert worker.wait_processed(1, timeout=120), (pipeline.home / "idle-worker.log").read_text()[-3000:]
        time.sleep(1.0)  # the warm-up batch's writes and publishes settle

        cpu0, t0 = cpu_of(worker.proc.pid), time.monotonic()
        time.sleep(IDLE_SECONDS)
        share = (cpu_of(worker.proc.pid) - cpu0) / (time.monotonic() - t0)
        assert share < MAX_SHARE_OF_A_CORE, f"an idle worker used {share:.0%} of a core"

        pickups = []
        for i in (1, 2):
            time.sleep(1.0)
            pipeline.produce([("surveys", survey(i), f"r-{i}".encode())])  # returns once acknowledged
            acked = time.monotonic()
            assert worker.wait_processed(i + 1, timeout=30)
            pickups.append(worker.batches[-1].started - acked)  # fetched and batched, before handling
        assert max(pickups) < 1.0, pickups  # ~0.02-0.11 s measured
    finally:
        run = worker.stop()
    assert run.returncode == 0
