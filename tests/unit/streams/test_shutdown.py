"""The bound on a worker's stop, in a real process: a stop stuck in a blocking join still ends."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

STUCK = textwrap.dedent("""
    import logging, threading, sys
    logging.basicConfig(level=logging.INFO)
    from touchpulse.streams import shutdown
    shutdown.arm(lambda: int(sys.argv[1]), grace=float(sys.argv[2]))
    forever = threading.Thread(target=threading.Event().wait)  # like mode's join of the consumer thread
    forever.start()
    forever.join()
""")
CLEAN = textwrap.dedent("""
    import sys
    from touchpulse.streams import shutdown
    shutdown.arm(lambda: 9, grace=30)
    sys.exit(3)
""")


def test_a_stuck_stop_ends_after_the_grace_period_saying_where_it_was():
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", STUCK, "0", "0.5"], capture_output=True, timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 0
    assert time.monotonic() - started < 30
    assert "stopping has taken more than 0.5 s" in err and "nothing is lost" in err
    assert "Thread 0x" in err and "in join" in err  # the stack of every thread, for the cause


def test_the_exit_code_is_the_one_the_worker_would_have_returned():
    proc = subprocess.run([sys.executable, "-c", STUCK, "1", "0.2"], capture_output=True, timeout=60)
    assert proc.returncode == 1


def test_a_stop_that_finishes_in_time_is_not_touched():
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CLEAN], capture_output=True, timeout=60)
    assert proc.returncode == 3 and proc.stderr == b""
    assert time.monotonic() - started < 25  # the daemon timer does not hold the process
