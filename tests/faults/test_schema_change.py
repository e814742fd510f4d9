"""The schema changes under a running worker: it stops on its own, at once, with one line saying
what is wrong and to run `touchpulse up`, a non-zero exit and no retries, and acknowledges
nothing it could not write.

How the schema is changed while the worker runs: chDB is one process per data directory, so no
other process (the test, `touchpulse up`, a second client) can open the worker's chDB while it
runs, and nothing inside ClickHouse drops a table or a column on a timer. The worker is therefore
started as `touchpulse worker` through its own entry point (`touchpulse.cli.main(["worker"])`)
in a process that also runs one extra thread: it waits for a trigger file, then opens a second
client on the same chDB, in the same process (chDB allows that) and runs the DDL. To the worker
this is exactly an operator's DDL on a ClickHouse server: another session changed the schema
between two of its batches. The test only creates the trigger file and produces events.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.faults.test_crash_and_outages import committed, wait_until
from tests.oracle.streams import build_stream
from tests.support.oracle_views import view_problems

pytestmark = pytest.mark.integration

WORKER_WITH_DDL = """
import os, sys, threading, time
trigger, statement = sys.argv[1], sys.argv[2]

def change_schema():
    while not os.path.exists(trigger):
        time.sleep(0.05)
    from touchpulse.clickhouse.client import connect
    from touchpulse.settings import load_settings
    connect(load_settings()).command(statement)
    open(trigger + ".done", "w").close()

threading.Thread(target=change_schema, daemon=True).start()
from touchpulse.cli import main
sys.exit(main(["worker"]))
"""
RETRY = "ClickHouse unavailable while trying to"
STOP_WITHIN = 30.0  # seconds from the first events after the change to the worker's exit


@pytest.mark.parametrize("ddl, names, repairable", [
    ("DROP TABLE {db}.sums", "sums", True),
    # `up` cannot bring back a dropped fact column (nor its data): only the stop is checked.
    ("ALTER TABLE {db}.surveys DROP COLUMN comment", "columns", False),
], ids=["sums-dropped", "fact-column-dropped"])
def test_a_worker_whose_schema_changes_under_it_stops_with_one_line(pipeline, ddl, names, repairable):
    p = pipeline
    db = p.env["TOUCHPULSE_DATABASE"]
    p.up()
    stream = build_stream(77, "UTC", size=160)
    surveys = [r for r in stream if r[0] == "surveys"]
    before, after = stream[:80], surveys[-20:]  # after the change: surveys, so both changes bite
    trigger = p.home / "change-schema"
    log_path = p.home / "worker-with-ddl.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-c", WORKER_WITH_DDL, str(trigger), ddl.format(db=db)],
                                  env={**p.env, "TOUCHPULSE_BATCH_WAIT": "0.1"}, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=p.home)
    try:
        p.produce(before)
        wait_until(lambda: committed(p) >= len(before), 90, "the worker applying the first events")
        trigger.touch()
        wait_until(lambda: (p.home / "change-schema.done").exists() or worker.poll() is not None, 30,
                   "the schema change")
        assert worker.poll() is None, "the worker stopped before any event met the changed schema"
        p.produce(after)
        produced = time.monotonic()
        try:
            code = worker.wait(STOP_WITHIN + 30)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - produced
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(30)
    text = log_path.read_text(errors="replace")
    assert code is not None, f"the worker still ran {STOP_WITHIN + 30:.0f} s after the change:\n{text[-3000:]}"
    assert code != 0, text[-3000:]
    assert took < STOP_WITHIN, f"stopped only after {took:.0f} s"
    retries = text.count(RETRY)
    assert retries == 0, f"{retries} retries of a write no retry can fix:\n{text[-3000:]}"
    assert "Traceback" not in text, text[-5000:]
    errors = [line for line in text.splitlines() if line.startswith("touchpulse: error:")]
    assert len(errors) == 1, text[-3000:]
    [line] = errors
    assert "run `touchpulse up`" in line and names in line.lower() and db in line, line
    # Nothing it could not write was acknowledged: the group is where the first events left it.
    assert committed(p) == len(before)
    if not repairable:
        return

    # Doing what it says: `up` recomputes the derived data from the facts, and a worker carries on
    # (the batch it could not finish is re-delivered) with every view exact.
    up = p.run("up").stderr.decode()
    p.drain()
    problems = view_problems(p, before + after, "UTC")
    assert not problems, "\n".join(problems[:30])
    p.run("reconcile")
    assert "derived table(s) sums were missing" in up, up[-2000:]
