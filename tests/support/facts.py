"""Fill a ClickHouse database with simulated traffic in-process, without Kafka.

Runs the same path the worker runs (parse -> process_batch -> FactWriter), so metric
tests query realistic facts: rejects land in dead_letters, low scores raise follow-ups.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Iterable, Iterator

import orjson

from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.clickhouse.writer import FactWriter, LocalNotices
from touchpulse.core.timestamps import TimestampError, parse_timestamp
from touchpulse.core.touchpoints import Registry, load_registry
from touchpulse.simulate import simulate
from touchpulse.streams.batch import Message, process_batch

TOPIC_OF = {"call": "touchpulse.calls", "purchase": "touchpulse.purchases",
            "review": "touchpulse.reviews", "survey": "touchpulse.surveys",
            "followup_update": "touchpulse.followup_updates"}
TOPIC_TYPES = {topic: etype for etype, topic in TOPIC_OF.items()}
CHUNK = 5000
FOLLOWUP_BELOW = 8


def load_simulated(client, database: str, *, days: int = 14, seed: int = 7, end_day: date,
                   timezone: str = "UTC", registry: Registry | None = None) -> dict[str, int]:
    """Apply the schema to `database` and write `days` of simulated traffic ending `end_day`.

    Returns {"accepted", "rejected", "followups"} counts.
    """
    registry = registry or load_registry()
    apply_schema(client, SchemaOptions(database, timezone), registry)
    writer = LocalNotices(FactWriter(client, database))
    counts = {"accepted": 0, "rejected": 0, "followups": 0}
    stream = simulate(days, seed, end_day, registry, timezone)
    for chunk in _chunks(to_messages(stream), CHUNK):
        outcome = process_batch(chunk, TOPIC_TYPES, registry, followup_below=FOLLOWUP_BELOW,
                                now=chunk[-1].timestamp)
        writer.write(outcome)
        counts["accepted"] += outcome.accepted_count
        counts["rejected"] += len(outcome.dead_letters)
        counts["followups"] += len(outcome.followups)
    return counts


def to_messages(stream: Iterable[tuple[str, bytes]]) -> Iterator[Message]:
    """Kafka records as a broker would hand them out: one partition per topic, offsets from 0.

    The record timestamp is the latest event time seen so far (a broker stamps arrival),
    so late events and broken messages get the time they would have arrived at.
    """
    offsets = dict.fromkeys(TOPIC_OF.values(), 0)
    clock = datetime(1970, 1, 1, tzinfo=timezone.utc)
    for etype, raw in stream:
        topic = TOPIC_OF[etype]
        clock = max(clock, _occurred_at(raw) or clock)
        yield Message(topic, 0, offsets[topic], None, raw, clock)
        offsets[topic] += 1


def _occurred_at(raw: bytes) -> datetime | None:
    try:
        doc = orjson.loads(raw)
        return parse_timestamp(doc["occurred_at"]) if isinstance(doc, dict) else None
    except (orjson.JSONDecodeError, KeyError, TimestampError):
        return None


def _chunks(messages: Iterable[Message], size: int) -> Iterator[list[Message]]:
    chunk: list[Message] = []
    for m in messages:
        chunk.append(m)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
