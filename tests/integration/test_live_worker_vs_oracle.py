"""The views match the reference on a generated stream processed by a long-running worker, as in
production: `touchpulse worker` (not `--drain`) started first, the stream produced in bursts with
pauses while it runs, small batches (50 events, 0.1 s wait) so that many batches, the
maintenance of each, offset commits and fetching interleave; then the worker is stopped with
SIGTERM and every view is compared with tests/oracle/reference.py, and `touchpulse reconcile`
must find nothing to repair.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.faults.test_crash_and_outages import committed, wait_until
from tests.oracle.streams import build_stream
from tests.support.oracle_views import view_problems

pytestmark = pytest.mark.integration

TZ = "Europe/Moscow"
SEED = 20260311
BURSTS = 5


def test_every_view_matches_the_reference_with_a_long_running_worker(pipeline):
    p = pipeline
    p.env["TOUCHPULSE_TIMEZONE"] = TZ
    p.up()
    stream = build_stream(SEED, TZ, size=400)
    rng = random.Random(SEED)
    cuts = sorted(rng.sample(range(1, len(stream)), BURSTS - 1))
    bursts = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    worker = p.spawn("worker", extra_env={"TOUCHPULSE_BATCH_WAIT": "0.1", "TOUCHPULSE_BATCH_SIZE": "50",
                                          "TOUCHPULSE_LOG_LEVEL": "DEBUG"}, log_name="live")
    try:
        sent = 0
        for i, burst in enumerate(bursts):
            p.produce(burst)
            sent += len(burst)
            if i == 0:  # the worker has joined its group and applied a batch: the rest meets it running
                wait_until(lambda: committed(p) >= sent, 90, "the worker applying the first burst")
            else:
                time.sleep(rng.uniform(0.2, 0.8))
        wait_until(lambda: committed(p) >= len(stream), 120, "the group committing every end offset")
        # Customers' lists and the follow-ups' queue follow through notices on the internal
        # customers topic (one or two hops after the events): let the worker apply those too.
        wait_until(p.notices_applied, 60, "the worker applying every customer notice")
        assert worker.poll() is None, "the worker stopped on its own"
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        code = worker.wait(60)
    log = b"".join(f.read_bytes() for f in p.home.glob("live-*.log")).decode(errors="replace")
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "ClickHouse unavailable" not in log, log[-3000:]
    batches = log.count("touchpulse.worker: batch of ")
    assert batches >= len(stream) // 50, f"only {batches} batches: the test no longer interleaves many of them"

    problems = view_problems(p, stream, TZ)
    assert not problems, f"seed={SEED} tz={TZ}\n" + "\n".join(problems[:30])
    p.run("reconcile")  # exit 0: every derived table equals its recomputation from the facts
