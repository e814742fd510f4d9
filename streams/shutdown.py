"""A bound on how long the worker may take to stop.

Stopping is Faust's and aiokafka's business: the consumer thread is stopped and then joined with
a blocking wait on the event loop's own thread. Once in CI, a worker told to stop while its group
was rebalancing (the broker had just answered "unknown member") never finished that join, and
a second SIGTERM could not help, since the loop that handles signals was the one waiting. An
operator would have to `kill -9` it; a supervisor would wait out its whole grace period.

Stopping hard loses nothing here: a batch is acknowledged only after its writes, every write is
idempotent, and whatever was not committed is read again by the next worker (`kill -9` at any
moment is a tested fault). So once a stop has taken `grace` seconds, the worker writes where
every thread is (to find the cause) and exits.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
import threading
from typing import Callable

log = logging.getLogger("touchpulse.worker")

GRACE = 20.0  # a clean stop takes 1-3 s; below Kubernetes' default grace period of 30 s


def arm(exit_code: Callable[[], int], grace: float = GRACE) -> threading.Timer:
    """From the moment a stop begins: exit with `exit_code()` if the process is still here after
    `grace` seconds. A daemon timer, so a stop that finishes in time simply ends the process."""
    def overdue() -> None:
        code = exit_code()
        log.error("stopping has taken more than %g s (stuck in the Kafka client's shutdown; "
                  "where each thread is follows); exiting now with code %d: nothing is lost, "
                  "whatever was not committed is read again by the next worker", grace, code)
        for handler in logging.getLogger().handlers:
            handler.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(code)

    timer = threading.Timer(grace, overdue)
    timer.daemon = True
    timer.name = "touchpulse-stop-bound"
    timer.start()
    return timer
