"""Every view of a pipeline compared with the reference (tests/oracle) for the stream that was
produced into it, with each message's real Kafka timestamp as its arrival (ingest_daily)."""

from __future__ import annotations

from datetime import datetime, timezone

from tests.integration.test_views_vs_oracle import read_all
from tests.oracle.compare import KEYS, mismatches
from tests.oracle.reference import compute
from tests.oracle.streams import TOPIC, oracle_input, registry_targets
from touchpulse.streams.batch import Message

TARGETS, DEFAULTS = registry_targets()


def kafka_messages(p) -> list[Message]:
    """Every record now on the pipeline's event topics, as the worker's consumer hands them over,
    sorted by Kafka timestamp (then topic, partition, offset)."""
    out = []
    for name in TOPIC.values():
        for r in p.consume(name):
            out.append(Message(r.topic, r.partition, r.offset, r.key, r.value,
                               datetime.fromtimestamp(r.timestamp / 1000, timezone.utc)))
    return sorted(out, key=lambda m: (m.timestamp, m.topic, m.partition, m.offset))


def arrivals(stream, messages: list[Message], prefix: str) -> list[datetime]:
    """The Kafka timestamp of each produced record, in production order (copies with identical
    bytes take their timestamps in order)."""
    stamps: dict[tuple[str, bytes], list[datetime]] = {}
    for m in messages:
        stamps.setdefault((m.topic, m.value), []).append(m.timestamp)
    return [stamps[(prefix + topic, value)].pop(0) for topic, value, _ in stream]


def view_problems(p, stream, tz: str) -> list[str]:
    """Differences between every view and the reference for `stream` (everything produced, in
    order); empty when they match. The pipeline's chDB must be free (no worker running)."""
    got = read_all(p)
    want = compute(oracle_input(stream), tz, TARGETS, DEFAULTS,
                   arrived_at=arrivals(stream, kafka_messages(p), p.prefix))
    assert sum(len(want[v]) for v in KEYS) > 50, "the stream should fill the views"
    return [m for view in KEYS for m in mismatches(view, got[view], want[view])]
