"""Customer notices on the internal customers topic: their format and where each one goes.

A batch that changes a customer's orders, calls, promoter answers or closed follow-ups (or a
follow-up's updates) tells the worker owning the customer's (or follow-up's) partition to re-read
them (touchpulse/derived/maintenance.py). One Kafka message per notice
cost about a fifth of the worker's CPU (a produce, a fetch and a parse each), so notices bound
for one partition travel together, many to a message. The partition is the one Kafka's default
partitioner gives the customer id as a key, so owners stay the same whichever form a worker
publishes, and a message of the older one-notice form is still read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import orjson
from aiokafka.partitioner import murmur2

# What a notice names -> the fact type of that entity. "queue" notices are keyed by the follow-up
# they name (its owner combines it with its updates: touchpulse/derived/loop.py), so their
# "customer_id" is the followup_id; the others by customer.
NOTICE_KINDS = {"order": "purchase", "call": "call", "survey": "survey", "closure": "followup", "queue": "followup"}
PER_MESSAGE = 2000  # about 100 KB, far below the broker's default 1 MB message limit


@lru_cache(maxsize=65536)
def _hash(customer_id: str) -> int:
    return murmur2(customer_id.encode()) & 0x7FFFFFFF


def customer_partition(customer_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for the customer id as a key."""
    return _hash(customer_id) % partitions


def grouped(notices: Iterable[tuple[str, str, str]], partitions: int) -> list[tuple[int, bytes]]:
    """(partition, value) messages carrying the notices, at most PER_MESSAGE each."""
    by_partition: dict[int, list[tuple[str, str, str]]] = {}
    for n in notices:
        by_partition.setdefault(customer_partition(n[0], partitions), []).append(n)
    out = []
    for partition, items in sorted(by_partition.items()):
        for i in range(0, len(items), PER_MESSAGE):
            out.append((partition, orjson.dumps({"notices": items[i:i + PER_MESSAGE]})))
    return out


def weight(value: bytes | None) -> int:
    """About how many notices a message carries, from its size alone (a notice takes at least ~32
    bytes): what a batch counts it as, so that a batch of N messages never applies far more than N
    notices (a backlog of grouped notices would otherwise make one huge batch)."""
    return 1 + len(value or b"") // 32


def parse(value: bytes | None) -> list[tuple[str, str, str]] | str:
    """The notices in a message, or why it is not a notice message (the topic is internal: only
    a bug or a stranger's producer gets there)."""
    try:
        doc = orjson.loads(value or b"")
        if isinstance(doc, dict) and "notices" in doc:
            items = [(c, k, e) for c, k, e in doc["notices"]]
        else:
            items = [(doc["customer_id"], doc["kind"], doc["id"])]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return ('not a customer notice: expected {"notices": [[customer_id, kind, id], ...]} '
                'or {"customer_id": ..., "kind": ..., "id": ...}')
    for customer, kind, entity in items:
        if not (isinstance(customer, str) and isinstance(entity, str) and customer and entity):
            return "not a customer notice: customer_id and id must be non-empty strings"
        if kind not in NOTICE_KINDS:
            return f"not a customer notice: kind must be one of {', '.join(NOTICE_KINDS)}"
    return items


def single(customer_id: str, kind: str, entity_id: str) -> bytes:
    """The older one-notice form (still read; tests use it to stand for another worker)."""
    return orjson.dumps({"customer_id": customer_id, "kind": kind, "id": entity_id})
