"""What the worker does with one processed batch, in the order that makes replays harmless:

1. drop follow-ups already raised for the same event_id at another Kafka position
   (a duplicate survey never yields a second follow-up);
2. publish dead letters and follow-ups and wait for the broker's acks, and meanwhile
3. write facts, dead letters and follow-ups to ClickHouse, retrying with backoff while it
   is unavailable (the consumer takes at most one more batch meanwhile: backpressure);
4. return, and only then the batch's offsets are acknowledged to Faust (in batch order, see
   streams/pipeline.py; the next batch may be validated while this one is written).

A crash anywhere re-delivers the batch: facts collapse on their Kafka position, and a
re-sent follow-up carries the same id.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable

import orjson

from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.refresh import refresh_pending
from touchpulse.clickhouse.setup import views_timezone
from touchpulse.clickhouse.writer import FactWriter
from touchpulse.settings import Settings
from touchpulse.streams.batch import BatchOutcome, DeadLetter, Followup

log = logging.getLogger("touchpulse.worker")

# Enqueue one record; the awaitable it returns resolves when the broker has acknowledged it.
Publish = Callable[[str, bytes | None, bytes, list[tuple[str, bytes]]], Awaitable[Awaitable]]


class ClickHouseSink:
    """Owns the ClickHouse client on one dedicated thread (clients are not thread-safe)."""

    def __init__(self, settings: Settings, max_backoff: float = 30.0, thread_name: str = "clickhouse"):
        self.settings = settings
        self.max_backoff = max_backoff
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._local = threading.local()

    def _writer(self) -> FactWriter:
        if getattr(self._local, "writer", None) is None:
            self._local.writer = FactWriter(connect(self.settings), self.settings.database)
        return self._local.writer

    def warm_up(self) -> None:
        """Open ClickHouse (chDB starts its engine: ~1 s) and prepare the inserts on the
        ClickHouse thread now, while the worker joins its group, instead of in the first batch.
        A failure here is only logged: the first write retries as usual."""
        def prepare():
            try:
                self._writer().prepare()
            except Exception as exc:
                self._drop_writer()
                log.warning("could not prepare ClickHouse inserts yet: %s", _first_line(exc))
        self._executor.submit(prepare)

    def _drop_writer(self) -> None:
        self._local.writer = None

    async def call(self, what: str, fn: Callable[[FactWriter], object]):
        """Run fn(writer) on the ClickHouse thread, retrying with backoff until it succeeds."""
        loop = asyncio.get_running_loop()
        delay, attempt = 0.5, 0

        def run():
            try:
                return fn(self._writer())
            except Exception:
                self._drop_writer()  # reconnect next time
                raise

        while True:
            try:
                result = await loop.run_in_executor(self._executor, run)
                if attempt:
                    log.warning("ClickHouse is back: %s succeeded after %d failed attempts", what, attempt)
                return result
            except Exception as exc:
                attempt += 1
                log.warning("ClickHouse unavailable while trying to %s (attempt %d): %s; "
                            "holding this batch and pausing consumption, retrying in %.1f s",
                            what, attempt, _first_line(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class FollowupLedger:
    """Remembers which Kafka position raised each follow-up (recent ones in memory, all in ClickHouse)."""

    def __init__(self, sink: ClickHouseSink, capacity: int = 1_000_000):
        self.sink = sink
        self.capacity = capacity
        self._recent: OrderedDict[str, tuple[str, int, int]] = OrderedDict()

    async def keep_new(self, followups: list[Followup]) -> list[Followup]:
        if not followups:
            return []
        unknown = [f.event_id for f in followups if f.event_id not in self._recent]
        stored = await self.sink.call("look up earlier follow-ups", lambda w: w.followed_up(unknown)) if unknown else {}
        kept = []
        for f in followups:
            position = f.message.position
            first = self._recent.get(f.event_id)
            if first is None:
                earlier = stored.get(f.event_id, set()) - {position}
                first = min(earlier) if earlier else position
                self._remember(f.event_id, first)
            if first == position:
                kept.append(f)
        return kept

    def _remember(self, event_id: str, position: tuple[str, int, int]) -> None:
        self._recent[event_id] = position
        if len(self._recent) > self.capacity:
            self._recent.popitem(last=False)


class Refresher:
    """Brings the views' tables up to date with what was written (rollups.py), off the batch path:
    on its own thread and ClickHouse connection (so writes go on meanwhile), at most every
    `refresh_seconds`, and never more than a tenth of the time, so a refresh that grows slow
    with history cannot starve ingestion."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.sink = ClickHouseSink(settings, thread_name="refresh")
        self.wanted = True  # batches queued by an earlier run may still be waiting
        self._last_end = 0.0
        self._last_seconds = 0.0
        self._timezone: str | None = None

    def due(self) -> bool:
        wait = max(self.settings.refresh_seconds, 10 * self._last_seconds)
        return self.wanted and time.monotonic() - self._last_end >= wait

    async def run(self) -> None:
        self.wanted = False
        started = time.monotonic()
        try:
            result = await self.sink.call("refresh the views' tables", self._refresh)
        except BaseException:
            self.wanted = True
            raise
        self._last_end = time.monotonic()
        self._last_seconds = self._last_end - started
        if result:
            log.info("refreshed the views' tables from %s", result.describe())

    def _refresh(self, writer: FactWriter):
        if self._timezone is None:  # the zone the views were made for, which is what they read in
            self._timezone = views_timezone(writer.client, self.settings.database) or self.settings.timezone
        return refresh_pending(writer.client, writer.database, self._timezone)


class BatchSink:
    def __init__(self, settings: Settings, publish: Publish, dlq_topic: str, followups_topic: str):
        self.sink = ClickHouseSink(settings)
        self.ledger = FollowupLedger(self.sink)
        self.refresher = Refresher(settings)
        self.publish = publish
        self.dlq_topic = dlq_topic
        self.followups_topic = followups_topic

    def warm_up(self) -> None:
        self.sink.warm_up()

    async def start(self, outcome: BatchOutcome) -> asyncio.Future:
        """Steps 1-3 started: returns once known follow-ups are dropped, the ClickHouse write is
        queued and every record is handed to the producer; the future it returns is done when
        the broker has acknowledged them all and the write has succeeded. Meanwhile the worker
        may validate the next batch (the write runs on the ClickHouse thread, and chDB releases
        the GIL while it inserts)."""
        # Batches are started one after another, so the ledger has remembered every earlier
        # batch's follow-ups even while their ClickHouse write is still queued.
        outcome.followups = await self.ledger.keep_new(outcome.followups)
        # Kafka and ClickHouse work in parallel; the batch is done (and acknowledged) when both are.
        write = asyncio.ensure_future(self.sink.call("write a batch", lambda w: w.write(outcome)))
        try:
            acks = []
            for d in outcome.dead_letters:
                acks.append(await self.publish(self.dlq_topic, d.message.key, d.message.value or b"",
                                               dead_letter_headers(d)))
            for f in outcome.followups:
                acks.append(await self.publish(self.followups_topic, f.body["followup_id"].encode(),
                                               orjson.dumps(f.body), []))
        except BaseException:
            write.cancel()
            raise
        return asyncio.ensure_future(self._finish(write, acks, bool(outcome.accepted_count)))

    async def _finish(self, write: asyncio.Future, acks: list, refresh: bool) -> None:
        try:
            if acks:
                await asyncio.gather(*acks)
        except BaseException:
            write.cancel()
            raise
        await write
        if refresh:  # only now is the batch's queue entry sure to be visible to a refresh
            self.refresher.wanted = True

    async def handle(self, outcome: BatchOutcome) -> None:
        """The whole batch, start to finish."""
        await (await self.start(outcome))

    def close(self) -> None:
        self.sink.close()
        self.refresher.sink.close()


def dead_letter_headers(d: DeadLetter) -> list[tuple[str, bytes]]:
    """The value stays the original bytes; why and where it came from travel in headers."""
    m = d.message
    return [
        ("touchpulse.reason", d.reason.encode()),
        ("touchpulse.field", d.field.encode()),
        ("touchpulse.source_topic", m.topic.encode()),
        ("touchpulse.source_partition", str(m.partition).encode()),
        ("touchpulse.source_offset", str(m.offset).encode()),
        ("touchpulse.source_timestamp", m.timestamp.isoformat().encode()),
    ]


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
