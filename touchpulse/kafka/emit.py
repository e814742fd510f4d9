"""Producing events: the `emit` and `simulate` commands, and the bench's load (bench/load.py).

With librdkafka (confluent-kafka), not kafka-python. kafka-python spends ~100 µs of Python per
record (a future, murmur2 in Python, and its accumulator's lock, contended by its sender
thread): ~9,000 events/s with acks=all on the embedded broker, whatever its batch settings.
librdkafka partitions, batches, compresses and sends in C threads; the Python cost is one
`produce` call per record: ~300,000 events/s on the same broker (benchmarks/produce.py).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
from datetime import date
from typing import IO, Iterable, Iterator

import orjson

from touchpulse.core.events import EVENT_TYPES, Rejected, parse_event
from touchpulse.errors import UserError
from touchpulse.kafka.topics import KafkaUnavailable, Topics, bootstrap, librdkafka_config
from touchpulse.settings import Settings

log = logging.getLogger("touchpulse")

PRODUCER_CONFIG = {
    "acks": "all",
    # Retries can then neither reorder the versions of an entity nor write one twice.
    "enable.idempotence": True,
    # What Kafka's Java client and kafka-python do with a key (murmur2, positive, modulo the
    # partition count): every entity keeps the partition its earlier versions went to, which
    # the workers rely on. Records without a key go to a random partition, as before.
    "partitioner": "murmur2_random",
    "linger.ms": 20,
    # lz4: a third of the bytes for the broker to store and serve (JSON compresses well); with
    # the embedded broker both producing and a bare aiokafka consumer got faster (~1.1x and
    # ~2x). aiokafka reads it with cramjam, kafka-python with lz4 (both dependencies).
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
    "message.max.bytes": 2 * 1024 * 1024,  # `emit --raw` may send what the contract refuses
    "message.timeout.ms": 120_000,  # then a message counts as not delivered (kafka-python's default)
    "delivery.report.only.error": True,  # no Python callback per delivered record
}


class ProduceFailed(RuntimeError):
    """Kafka did not acknowledge every message."""


class Sender:
    """A producer for one run of sends: `send` records, then `flush`, which returns once every
    message is acknowledged by all in-sync replicas and raises `ProduceFailed` if any was not."""

    def __init__(self, settings: Settings, client_id: str = "touchpulse-producer", config: dict | None = None,
                 connect_timeout: float | None = 15.0):
        from confluent_kafka import KafkaException, Producer
        self.failed = 0
        self.first_error: str | None = None
        servers = bootstrap(settings)
        self._producer = Producer({"bootstrap.servers": servers, "client.id": client_id, **PRODUCER_CONFIG,
                                   **librdkafka_config(settings), **(config or {}),
                                   "on_delivery": self._on_delivery,
                                   "logger": logging.getLogger("touchpulse.kafka.librdkafka")})
        self._produce = self._producer.produce
        self.poll = self._producer.poll  # serves failure reports and librdkafka's log lines
        if connect_timeout is not None:  # fail now, as kafka-python did, not after message.timeout.ms
            try:
                self._producer.list_topics(timeout=connect_timeout)
            except KafkaException as exc:
                raise KafkaUnavailable(f"no Kafka broker answered at {servers}: {exc}") from None

    def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        try:
            self._produce(topic, value, key)
        except BufferError:
            self._send_when_room(topic, value, key)

    def send_all(self, records: Iterable[tuple[str, bytes | None, bytes | None]]) -> int:
        """Send (topic, key, value) records; returns how many. The loop of `send`, inlined."""
        produce = self._produce
        sent = 0
        for topic, key, value in records:
            try:
                produce(topic, value, key)
            except BufferError:
                self._send_when_room(topic, value, key)
            sent += 1
        return sent

    def _send_when_room(self, topic: str, value: bytes | None, key: bytes | None) -> None:
        """librdkafka's queue is full: wait for acknowledgements to make room (backpressure)."""
        while True:
            self._producer.poll(0.05)
            try:
                self._produce(topic, value, key)
                return
            except BufferError:
                continue

    def flush(self) -> None:
        self._producer.flush()
        if self.failed:
            raise ProduceFailed(f"Kafka did not acknowledge {self.failed} message(s): {self.first_error}")

    def _on_delivery(self, err, msg) -> None:
        if err is not None:
            self.failed += 1
            if self.first_error is None:
                self.first_error = f"{err.str()} (topic {msg.topic()})"


def producer(settings: Settings, client_id: str = "touchpulse-producer") -> Sender:
    return Sender(settings, client_id)


@contextlib.contextmanager
def open_lines(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        yield f


def plan_lines(lines: Iterable[bytes], raw: bool, fallback_type: str | None) -> list[tuple[str, bytes, bytes | None]]:
    """(type, value, key) for every non-blank line; refuses the whole input on the first broken line."""
    planned = []
    for number, line in enumerate(lines, start=1):
        value = line.rstrip(b"\r\n")
        if not value.strip():
            continue
        etype = _type_of(value) or fallback_type
        if raw:
            if etype not in EVENT_TYPES:
                raise UserError(f"line {number}: cannot tell which topic it belongs to "
                                "(no readable \"type\"); pass --type")
            planned.append((etype, value, None))
            continue
        try:
            event = parse_event(value)
        except Rejected as exc:
            raise UserError(f"line {number}: {exc.reason} (nothing was sent; --raw sends lines as they are)") from None
        planned.append((event.type, value, event.entity_id.encode()))
    return planned


def emit_lines(settings: Settings, lines: Iterable[bytes], raw: bool = False, fallback_type: str | None = None) -> int:
    planned = plan_lines(lines, raw, fallback_type)
    topics = Topics(settings.topic_prefix)
    p = producer(settings, "touchpulse-emit")
    for etype, value, key in planned:
        p.send(topics.for_type(etype), value, key)
    p.flush()
    return len(planned)


def produce_simulation(settings: Settings, days: int, seed: int, end_day: date, errors: bool = True) -> int:
    from tqdm import tqdm

    from touchpulse.services import registry
    from touchpulse.simulate import estimate_count, simulate

    topics = Topics(settings.topic_prefix)
    topic_of = {etype: topics.for_type(etype) for etype in EVENT_TYPES}
    p = producer(settings, "touchpulse-simulate")
    sent = 0
    with tqdm(total=estimate_count(days), unit="ev", desc="simulate", disable=None) as bar:
        records = ((topic_of[etype], _key_of(value), value)
                   for etype, value in simulate(days, seed, end_day, registry(settings), settings.timezone,
                                                errors=errors))
        while True:
            chunk = p.send_all(itertools.islice(records, 2000))
            sent += chunk
            bar.update(chunk)
            p.poll(0)
            if chunk < 2000:
                break
        p.flush()
    log.info("simulated %d days ending %s: %d messages produced", days, end_day, sent)
    return sent


_KEYS = ("call_id", "order_id", "review_id", "response_id", "followup_id")


def _key_of(value: bytes) -> bytes | None:
    """Key by entity id, as the contract asks producers to, so versions stay ordered."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for k in _KEYS:
            if isinstance(doc.get(k), str):
                return doc[k].encode()
    return None


def _type_of(value: bytes) -> str | None:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    t = doc.get("type") if isinstance(doc, dict) else None
    return t if t in EVENT_TYPES else None
