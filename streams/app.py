"""The Faust app: the four event topics consumed in batches (streams/consumer.py), each handed
to the pure batch processor and the sink. All business rules live outside Faust."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time

import faust

from touchpulse.core.touchpoints import load_registry
from touchpulse.errors import UserError
from touchpulse.kafka.topics import Topics, bootstrap, client_config
from touchpulse.settings import Settings
from touchpulse.streams.batch import process_batch
from touchpulse.streams.consumer import Batch, new_transport
from touchpulse.streams.drain import DrainTracker
from touchpulse.streams.pipeline import InOrder
from touchpulse.streams.sink import BatchSink

log = logging.getLogger("touchpulse.worker")
# Read by `touchpulse bench` (touchpulse/bench/worker.py): keep the wording.
BATCH_LINE = "batch of %d: %d accepted, %d dead letters, %d follow-ups, %d customer notices in %d messages in %.0f ms"


def faust_credentials(settings: Settings):
    """Map the Kafka security settings onto Faust's credential objects."""
    proto = settings.kafka_security_protocol
    if proto == "PLAINTEXT":
        return None
    ssl_context = None
    if proto in ("SSL", "SASL_SSL"):
        import ssl
        ssl_context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
    if proto == "SSL":
        return faust.SSLCredentials(ssl_context)
    mechanism = (settings.kafka_sasl_mechanism or "PLAIN").upper()
    if mechanism.startswith("SCRAM"):
        return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                     mechanism=mechanism, ssl_context=ssl_context)
    return faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                 ssl_context=ssl_context)


class WorkerApp(faust.App):
    """A Faust app whose consumer hands whole batches to one handler (streams/consumer.py)
    instead of running every event through Faust's streams: same group, commits, lifecycle."""

    def _new_transport(self):
        return new_transport(self)


def build_app(settings: Settings, drain: DrainTracker | None = None, progress=None) -> faust.App:
    servers = bootstrap(settings)
    topics = Topics(settings.topic_prefix)
    app = WorkerApp(
        settings.group,
        broker=[f"kafka://{s.strip()}" for s in servers.split(",")],
        broker_credentials=faust_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        store="memory://",
        topic_partitions=settings.partitions,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_every=max(settings.batch_size, 1000),
        broker_commit_interval=1.0,
        broker_session_timeout=10.0,
        consumer_group_instance_id=worker_instance_id(settings),
        broker_heartbeat_interval=2.0,
        broker_rebalance_timeout=30.0,
        producer_acks=-1,
        # A batch raises up to a few thousand follow-ups: 16 KiB producer batches meant dozens of
        # round trips to the broker (acks=all) per worker batch, most of its time.
        producer_max_batch_size=512 * 1024,
        producer_max_request_size=4 * 1024 * 1024,
        stream_wait_empty=False,  # never wait on a batch held back by a ClickHouse outage
        broker_max_poll_records=settings.batch_size,
        datadir=str(settings.home / "faust"),
    )
    registry = load_registry(settings.touchpoints)
    topic_types = topics.events
    source = app.topic(*topic_types, topics.customers, key_type=bytes, value_type=bytes, partitions=settings.partitions,
                       key_serializer="raw", value_serializer="raw", internal=False)

    async def publish(topic: str, key, value: bytes, headers, partition: int | None = None):
        # Straight to the producer: Faust's topic.send machinery costs ~0.5 ms a record.
        return await app.producer.send(topic, key, value, partition, None, headers)

    async def partitions(topic: str) -> int:
        return len(await app.producer._ensure_producer().partitions_for(topic))

    sink = BatchSink(settings, publish, topics.dlq, topics.followups, worker=worker_instance_id(settings),
                     customers_topic=topics.customers, partitions=partitions)
    app.touchpulse_fatal = None  # an error no retry can fix, raised by the runner once Faust stopped
    totals = {"accepted": 0, "rejected": 0, "followups": 0}

    pipeline = InOrder(depth=2)

    async def ingest(batch: Batch) -> None:
        """One batch: validate (pure), start its writes and publishes, and return while they run
        (the next batch is validated meanwhile); it is acknowledged when they are done and every
        earlier batch is acknowledged. Cancelled (shutdown during an outage), it acknowledges nothing."""
        started = time.perf_counter()
        messages = batch.messages
        outcome = process_batch(messages, topic_types, registry, settings.followup_below,
                                notices_topic=topics.customers)
        finished = asyncio.ensure_future(_fatal_stops(await sink.start(outcome)))
        consumer = app.consumer

        async def acknowledge() -> None:
            consumer.ack_batch(batch)
            totals["accepted"] += outcome.accepted_count
            totals["rejected"] += len(outcome.dead_letters)
            totals["followups"] += len(outcome.followups)
            log.debug(BATCH_LINE, len(messages), outcome.accepted_count, len(outcome.dead_letters),
                      len(outcome.followups), len(outcome.notices), outcome.notice_messages,
                      1000 * (time.perf_counter() - started))
            if progress is not None:
                progress(len(messages) - outcome.notice_messages)
            if drain is not None:
                drain.processed(messages)
            await consumer.maybe_commit()

        await pipeline.submit(finished, acknowledge)

    async def _fatal_stops(work: asyncio.Future) -> None:
        try:
            await work
        except UserError as exc:  # e.g. the schema changed under the worker: stop, do not retry
            if app.touchpulse_fatal is None:
                app.touchpulse_fatal = exc
                log.error("stopping: %s", exc)
                os.kill(os.getpid(), signal.SIGTERM)
            raise

    @app.on_partitions_assigned.connect
    async def _complete_open_batches(app_, assigned, **kwargs) -> None:
        await sink.on_assigned({(tp.topic, tp.partition) for tp in assigned})

    ingest.cancel = pipeline.cancel  # the consumer abandons unfinished batches when it stops
    app.touchpulse_batch_handler = ingest
    app.touchpulse_batch_size = settings.batch_size
    app.touchpulse_batch_wait = settings.batch_wait
    app.touchpulse_notices_topic = topics.customers  # its messages weigh as the notices they carry
    app.topics.add(source)  # subscribed without an agent: the batch consumer delivers to `ingest`

    if drain is not None:
        async def finish_drain() -> None:
            await app.consumer.commit()
            log.info("drained: %d events accepted, %d dead letters, %d follow-ups; committed offsets",
                     totals["accepted"], totals["rejected"], totals["followups"])
            log.info("drain finished, stopping")
            os.kill(os.getpid(), signal.SIGTERM)

        async def settle() -> None:
            """The event topics are done: wait for the customer notices this drain published."""
            more = await asyncio.get_running_loop().run_in_executor(
                None, lambda: kafka_end_offsets(settings, [topics.customers]))
            drain.settled = not drain.extend(more)
            drain.stopping = False

        @app.timer(0.2)
        async def drained() -> None:
            if drain.done() and not drain.stopping:
                drain.stopping = True
                if not drain.settled:
                    app.touchpulse_settling = asyncio.ensure_future(settle())
                    return
                app.touchpulse_finishing = asyncio.ensure_future(finish_drain())  # not in the timer: it takes a while

    @app.timer(60.0)
    async def report() -> None:
        log.info("worker running: %d accepted, %d dead letters, %d follow-ups so far",
                 totals["accepted"], totals["rejected"], totals["followups"])

    app.touchpulse_sink = sink  # closed by the runner
    return app


def worker_instance_id(settings: Settings) -> str:
    """Static group membership (KIP-345): a worker restarted after a crash takes its old place
    at once instead of waiting for the dead member to be expired."""
    import hashlib
    import socket
    where = hashlib.blake2b(str(settings.home).encode(), digest_size=4).hexdigest()
    return os.environ.get("TOUCHPULSE_WORKER_ID") or f"{settings.group}-{socket.gethostname()}-{where}"


def kafka_end_offsets(settings: Settings, names: list[str] | None = None) -> dict[tuple[str, int], int]:
    """The end offset of every partition of the topics the worker reads (default: the event topics
    and the customers topic) that the group has not yet committed up to: what `--drain` must reach."""
    from kafka import KafkaConsumer, TopicPartition

    topics = Topics(settings.topic_prefix)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(settings), group_id=None,
                             enable_auto_commit=False, **client_config(settings))
    try:
        tps = []
        for name in names or [*topics.events, topics.customers]:
            parts = consumer.partitions_for_topic(name)
            if not parts:
                raise UserError(f"topic {name} does not exist: run `touchpulse up` first")
            tps += [TopicPartition(name, p) for p in parts]
        ends = consumer.end_offsets(tps)
    finally:
        consumer.close()
    # What this consumer group has already committed needs no draining.
    group = KafkaConsumer(bootstrap_servers=bootstrap(settings), group_id=settings.group,
                          enable_auto_commit=False, **client_config(settings))
    try:
        remaining = {}
        for tp, end in ends.items():
            committed = _committed(group, tp) or 0
            remaining[(tp.topic, tp.partition)] = end if committed < end else 0
        return remaining
    finally:
        group.close()


def _committed(group, tp, attempts: int = 3, timeout_ms: int = 10_000) -> int | None:
    """The group's committed offset, bounded in time: a coordinator stuck in a rebalance must
    give a clear error, not a drain that hangs."""
    from kafka.errors import KafkaTimeoutError

    for attempt in range(1, attempts + 1):
        try:
            return group.committed(tp, timeout_ms=timeout_ms)
        except KafkaTimeoutError:
            log.warning("reading the committed offset of %s/%d timed out (attempt %d of %d)",
                        tp.topic, tp.partition, attempt, attempts)
    raise UserError(f"cannot read consumer group {group.config['group_id']}'s committed offsets "
                    f"(is it rebalancing after a worker died?); try again in a minute")
