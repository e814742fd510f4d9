"""Realistic events for the bench (the simulator's four types, with its ~1 % of broken,
duplicate and late messages), and producing them with the project's producer (kafka/emit.py)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import orjson

from touchpulse.core.touchpoints import Registry
from touchpulse.kafka.emit import producer
from touchpulse.kafka.topics import Topics
from touchpulse.settings import Settings
from touchpulse.simulate import MESSAGES_PER_DAY, simulate

Record = tuple[str, bytes | None, bytes]  # topic, key, value
_ENTITY_KEYS = ("call_id", "order_id", "review_id", "response_id", "followup_id")


def generate(n: int, registry: Registry, topics: Topics, seed: int = 1, end_day: date | None = None,
             tz: str = "UTC") -> list[Record]:
    """The first `n` messages of a simulation long enough to hold them, keyed by entity id."""
    end_day = end_day or (datetime.now(timezone.utc).date() - timedelta(days=1))
    days = math.ceil(n / (MESSAGES_PER_DAY * 0.9)) + 1
    out: list[Record] = []
    for etype, value in simulate(days, seed, end_day, registry, tz, errors=True):
        out.append((topics.for_type(etype), entity_key(value), value))
        if len(out) >= n:
            break
    return out


def entity_key(value: bytes) -> bytes | None:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for k in _ENTITY_KEYS:
            if isinstance(doc.get(k), str):
                return doc[k].encode()
    return None


@dataclass(frozen=True)
class Produced:
    count: int
    seconds: float
    bytes: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def produce(settings: Settings, records: list[Record]) -> Produced:
    """Send everything and wait for the broker's acks (acks=all, as `touchpulse simulate`)."""
    p = producer(settings, "touchpulse-bench")
    started = time.perf_counter()
    p.send_all(records)
    p.flush()
    seconds = time.perf_counter() - started
    return Produced(len(records), seconds, sum(len(value) for _, _, value in records))


def steady(settings: Settings, records: list[Record], rate: float, tick: float = 0.01) -> tuple[int, float, float]:
    """Send at a steady `rate` per second (a burst every `tick` s) until `records` run out.
    Returns (sent, first send epoch, last send epoch); record timestamps are set at send time."""
    p = producer(settings, "touchpulse-bench")
    per_tick = rate * tick
    started = time.monotonic()
    first = time.time()
    sent, k, due = 0, 0, 0.0
    while sent < len(records):
        k += 1
        due += per_tick
        upto = min(len(records), int(due))
        p.send_all(records[sent:upto])
        p.poll(0)
        sent = upto
        delay = started + k * tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    last = time.time()
    p.flush()
    return sent, first, last
