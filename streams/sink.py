"""What the worker does with one processed batch, in the order that makes replays harmless:

1. drop follow-ups already raised for the same event_id at another Kafka position
   (a duplicate survey never yields a second follow-up);
2. publish dead letters and follow-ups and wait for the broker's acks, and meanwhile
3. write facts, dead letters and follow-ups to ClickHouse and bring every view up to date with
   them (touchpulse/derived/maintenance.py), retrying with backoff while ClickHouse is
   unavailable (the consumer takes at most one more batch meanwhile: backpressure);
4. return, and only then the batch's offsets are acknowledged to Faust (in batch order, see
   streams/pipeline.py; the next batch may be validated while this one is written).

A crash anywhere re-delivers the batch: offsets already applied are skipped, a batch left half
applied is completed when the worker starts again, and a re-sent follow-up carries the same id.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable, Protocol

import orjson

from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.memory import MemoryReturn
from touchpulse.clickhouse.setup import views_timezone
from touchpulse.clickhouse.writer import FactWriter
from touchpulse.errors import UserError
from touchpulse.settings import Settings
from touchpulse.streams import notices as notice_messages
from touchpulse.streams.batch import BatchOutcome, DeadLetter, Followup

log = logging.getLogger("touchpulse.worker")
RECENT_FOLLOWUPS = 100_000  # the follow-up ledger's memory, at least (FollowupLedger)

class Publish(Protocol):
    """Enqueue one record; the awaitable it returns resolves when the broker has acknowledged it."""

    def __call__(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]],
                 partition: int | None = None) -> Awaitable[Awaitable]: ...


# How many partitions a topic has now.
Partitions = Callable[[str], Awaitable[int]]


# ClickHouse errors that no retry can fix: the schema is not what this worker writes.
SCHEMA_ERRORS = ("UNKNOWN_TABLE", "UNKNOWN_DATABASE", "NO_SUCH_COLUMN_IN_TABLE", "THERE_IS_NO_COLUMN",
                 "UNKNOWN_IDENTIFIER", "NUMBER_OF_COLUMNS_DOESNT_MATCH", "TYPE_MISMATCH")


class SchemaMismatch(UserError):
    """The database's schema does not match this worker's: stop, with one line, never retry."""


class ClickHouseSink:
    """Owns the ClickHouse client on one dedicated thread (clients are not thread-safe)."""

    def __init__(self, settings: Settings, max_backoff: float = 30.0, thread_name: str = "clickhouse",
                 worker: str = "cli"):
        self.settings = settings
        self.max_backoff = max_backoff
        self.worker = worker
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=thread_name)
        self._local = threading.local()
        self._recovered = False

    def _writer(self) -> FactWriter:
        if getattr(self._local, "writer", None) is None:
            client = connect(self.settings)
            timezone = views_timezone(client, self.settings.database) or self.settings.timezone
            writer = FactWriter(client, self.settings.database, timezone, self.worker)
            if not self._recovered:  # a batch a crash left half applied is finished first
                n = writer.recover()
                if n:
                    log.warning("completed %d batch(es) left half applied by an earlier run", n)
                self._recovered = True
            self._local.writer = writer
        return self._local.writer

    def warm_up(self) -> None:
        """Open ClickHouse (chDB starts its engine: ~1 s), complete any batch a crash left open and
        prepare the inserts on the ClickHouse thread now, while the worker joins its group, instead
        of in the first batch. A failure here is only logged: the first write retries as usual."""
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
                if any(code in str(exc) for code in SCHEMA_ERRORS):
                    raise SchemaMismatch(f"cannot {what}: the ClickHouse schema of database "
                                         f"{self.settings.database!r} is not the one this worker writes "
                                         f"({_first_line(exc)[:160]}); run `touchpulse up`") from None
                attempt += 1
                log.warning("ClickHouse unavailable while trying to %s (attempt %d): %s; "
                            "holding this batch and pausing consumption, retrying in %.1f s",
                            what, attempt, _first_line(exc), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


class FollowupLedger:
    """Remembers which Kafka position raised each follow-up (recent ones in memory, all in ClickHouse).

    Memory is needed only for the follow-ups of batches whose write is still queued (at most two
    batches of `TOUCHPULSE_BATCH_SIZE`); any other id is looked up in ClickHouse with the batch's new
    ones, in the same query. So `capacity` only saves lookups of recent duplicates, at about 270
    bytes an entry: a million entries would have grown a long-running worker by 270 MB."""

    def __init__(self, sink: ClickHouseSink, capacity: int = RECENT_FOLLOWUPS):
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


class BatchSink:
    def __init__(self, settings: Settings, publish: Publish, dlq_topic: str, followups_topic: str,
                 worker: str = "cli", customers_topic: str = "", partitions: Partitions | None = None):
        self.sink = ClickHouseSink(settings, worker=worker)
        self.ledger = FollowupLedger(self.sink, capacity=max(RECENT_FOLLOWUPS, 2 * settings.batch_size))
        self.memory = MemoryReturn(embedded=settings.embedded_clickhouse)
        self._last_write: asyncio.Future | None = None
        self.publish = publish
        self.dlq_topic = dlq_topic
        self.followups_topic = followups_topic
        self.customers_topic = customers_topic
        self.partitions = partitions

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
        write = asyncio.ensure_future(self._after_previous(self._last_write, outcome))
        self._last_write = write
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
        return asyncio.ensure_future(self._finish(write, acks))

    async def _after_previous(self, previous: asyncio.Future | None, outcome: BatchOutcome):
        """Batches are applied strictly in the order they were taken from Kafka, each after the
        one before succeeded: offsets already applied are skipped as replays, so a later batch
        of a partition applied before an earlier one (while that one waits on a ClickHouse outage)
        would make the earlier one look applied."""
        if previous is not None:
            await asyncio.wait({previous})
            if previous.cancelled():
                raise asyncio.CancelledError
            if previous.exception() is not None:
                raise previous.exception()
        def write(w: FactWriter):
            applied = w.write(outcome)
            self.memory.after_write(w.client)  # on the ClickHouse thread, before the next batch's write
            return applied
        return await self.sink.call("write a batch", write)

    async def on_assigned(self, partitions: set[tuple[str, int]]) -> None:
        """Before the first batch of newly assigned partitions: complete any batch of theirs that
        another worker left half applied (it may have crashed), after this worker's own writes."""
        previous = self._last_write
        if previous is not None:
            await asyncio.wait({previous})
        done = await self.sink.call("complete batches left open on the new partitions",
                                    lambda w: w.maintainer.recover(partitions=partitions))
        if done:
            log.warning("completed %d batch(es) another worker left half applied on the partitions just assigned",
                        done)
        leftover = await self.sink.call("read notices not yet published", lambda w: w.maintainer.outbox())
        if leftover:
            log.info("publishing %d customer notice(s) left unpublished by an earlier run", len(leftover))
            await self._notify(leftover)

    async def _finish(self, write: asyncio.Future, acks: list) -> None:
        try:
            if acks:
                await asyncio.gather(*acks)
        except BaseException:
            write.cancel()
            raise
        applied = await write
        if applied is not None and applied.replayed:
            log.info("skipped %d message(s) at offsets already applied (a replay after a restart or a rebalance)",
                     applied.replayed)
        if applied is not None and applied.notices:
            await self._notify(applied.notices)

    async def _notify(self, notices: list[tuple[str, str, str]]) -> None:
        """Hand customer notices to the worker that owns each customer (the customer's partition
        of the customers topic, many notices to a message), then clear them from the outbox; a
        crash in between publishes them again."""
        count = await self.partitions(self.customers_topic)
        acks = [await self.publish(self.customers_topic, None, value, [], partition=partition)
                for partition, value in notice_messages.grouped(notices, count)]
        await asyncio.gather(*acks)
        await self.sink.call("clear published notices", lambda w: w.published(notices))

    async def handle(self, outcome: BatchOutcome) -> None:
        """The whole batch, start to finish."""
        await (await self.start(outcome))

    def close(self) -> None:
        self.sink.close()


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
