"""Run the Faust worker in this process, forever or in drain (batch) mode."""

from __future__ import annotations

import gc
import logging

import faust

from touchpulse.settings import Settings
from touchpulse.streams import shutdown
from touchpulse.streams.app import build_app, kafka_end_offsets
from touchpulse.streams.drain import DrainTracker

log = logging.getLogger("touchpulse.worker")


def run_worker(settings: Settings, drain: bool = False, progress=None) -> int:
    """Returns the process exit code."""
    require_schema(settings)
    tracker = None
    if drain:
        ends = kafka_end_offsets(settings)
        tracker = DrainTracker(ends)
        total = sum(ends.values())
        if tracker.done():
            log.info("drain: the event topics are empty, nothing to do")
            return 0
        log.info("drain: processing the %d messages now on %d partitions, then stopping", total, len(ends))
    app = build_app(settings, tracker, progress)
    def exit_code() -> int:  # what this function returns, for a stop that overruns its bound
        return 1 if app.touchpulse_fatal is not None or (tracker is not None and not tracker.done()) else 0

    worker = BoundedStopWorker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                               override_logging=False)
    worker.touchpulse_exit_code = exit_code
    worker.spinner = None  # our logs say what happens; the spinner only leaves escape codes in them
    # On the embedded default, readers cannot open the chDB this process holds: serve them (threads
    # of their own, read-only sessions; touchpulse/serve/). Before the sink opens chDB on its thread.
    from touchpulse.serve import server as serve
    reads = serve.start(settings, busy=_track_batches(app))
    app.touchpulse_sink.warm_up()
    tune_gc()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    else:  # pragma: no cover - execute_from_commandline always exits
        code = 0
    finally:
        serve.stop(settings, reads)
        app.touchpulse_sink.close()
    if app.touchpulse_fatal is not None:
        raise app.touchpulse_fatal
    if tracker is not None and not tracker.done():
        log.error("drain stopped before reaching the end offsets of %s", sorted(tracker.remaining))
        return code or 1
    return code


class BoundedStopWorker(faust.Worker):
    """Faust's worker, whose stop (on a signal, or the drain's and a fatal error's own SIGTERM)
    cannot last forever: see streams/shutdown.py."""

    touchpulse_exit_code = staticmethod(lambda: 0)

    def _schedule_shutdown(self, signum) -> None:
        if not self._signal_stop_time:
            shutdown.arm(self.touchpulse_exit_code)
        super()._schedule_shutdown(signum)


def _track_batches(app, recent: float = 2.0):
    """A `busy()` for the read endpoint: whether the worker started a batch in the last `recent` s
    (the batch handler is wrapped; the consumer calls it, and its `cancel`, as before)."""
    import time

    handler = app.touchpulse_batch_handler
    last = [float("-inf")]

    async def handle(batch) -> None:
        last[0] = time.monotonic()
        await handler(batch)

    handle.cancel = handler.cancel
    app.touchpulse_batch_handler = handle
    return lambda: time.monotonic() - last[0] < recent


def tune_gc() -> None:
    """The worker allocates ~30 objects per event, which all live until their batch is written,
    so the collector's default thresholds mean a young-generation pass every 700 allocations and
    repeated full passes over everything Faust, aiokafka and chDB's client loaded at start.
    Freezing what exists at start and collecting the young generation less often removes most
    of that work (measured: ~15 µs of CPU per event); cycles are still collected, less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


def require_schema(settings: Settings) -> None:
    """Fail at once, in one line, rather than retrying writes into a database that does not exist
    or holds another version of the schema."""
    from touchpulse.clickhouse.client import connect
    from touchpulse.clickhouse.schema import SCHEMA_VERSION
    from touchpulse.clickhouse.setup import installed
    from touchpulse.errors import UserError

    client = connect(settings)
    try:
        found = installed(client, settings.database)
    finally:
        client.close()
    if found is None:
        raise UserError(f"ClickHouse database {settings.database!r} has no touchpulse schema: "
                        "run `touchpulse up` first")
    if found.version != SCHEMA_VERSION:
        raise UserError(f"ClickHouse database {settings.database!r} holds schema version {found.version}, this "
                        f"worker writes version {SCHEMA_VERSION}: run `touchpulse up` "
                        + ("(it migrates the schema and rebuilds derived data from the facts)"
                           if found.version < SCHEMA_VERSION else "with the newer touchpulse"))
