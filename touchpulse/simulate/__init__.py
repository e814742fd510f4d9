"""Synthetic traffic for demos and tests: `touchpulse simulate --days N --seed S`.

Produces contract-v1 messages for a telecom's calls, purchases, reviews and NPS surveys
with the patterns the dashboards exist to reveal (see profiles.py), the call-back team's
updates on the follow-ups the low answers raise (loop.py), and, unless told not
to, the mess real producers send: broken messages, exact re-sends and late arrivals.
Pure and deterministic: one seeded `random.Random`, no wall clock, no I/O.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from datetime import date, datetime, time, timedelta
from typing import Iterator

import orjson

from touchpulse.core.business_time import business_zone
from touchpulse.core.touchpoints import Registry
from touchpulse.simulate import profiles as P
from touchpulse.simulate.loop import CallBackTeam
from touchpulse.simulate.world import World

BAD_SHARE = 0.003
DUPLICATE_SHARE = 0.005
LATE_SHARE = 0.002
# Measured average messages per simulated day (weekends included), for progress bars.
MESSAGES_PER_DAY = 4630

# The types a corrupted message may stray to (kept as they were before follow-up updates, so a
# seed yields the traffic it always did).
_CORE_TYPES = ("call", "purchase", "review", "survey")

__all__ = ["simulate", "estimate_count"]


def estimate_count(days: int) -> int:
    """Roughly how many messages `simulate(days, ...)` yields."""
    return max(0, days) * MESSAGES_PER_DAY


def simulate(days: int, seed: int, end_day: date, registry: Registry, timezone: str = "UTC",
             errors: bool = True) -> Iterator[tuple[str, bytes]]:
    """Yield (event_type, message) for the `days` business days ending with `end_day`, in time order.

    `event_type` is the type of topic the message is sent to. With `errors`, ~0.3 % of the
    messages are invalid, ~0.5 % are exact re-sends, and ~0.2 % are held back and yielded
    at the end, after newer events (late arrivals).
    """
    if days < 1:
        return
    zone = business_zone(timezone)
    first = end_day - timedelta(days=days - 1)
    end_ts = datetime.combine(end_day + timedelta(days=1), time(0), zone).timestamp()
    tag = hashlib.blake2b(f"{seed}|{end_day}|{days}|{timezone}".encode(), digest_size=3).hexdigest()
    rng = random.Random(f"touchpulse-simulate|{seed}")
    pending: list[tuple[float, int, str, bytes]] = []
    late: list[tuple[float, int, str, bytes]] = []
    seq = 0

    def push(t: float, etype: str, raw: bytes) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(pending, (t, seq, etype, raw))

    def emit(t: float, etype: str, doc: dict) -> None:
        nonlocal seq
        if t >= end_ts:
            return  # has not happened yet at the end of the window
        if not errors:
            push(t, etype, orjson.dumps(doc))
            if etype == "survey":
                team.answered(t, doc)
            return
        r = rng.random()
        if r < BAD_SHARE:
            push(t, *_corrupt(rng, etype, doc))
            return
        raw = orjson.dumps(doc)
        if r < BAD_SHARE + DUPLICATE_SHARE:
            push(t, etype, raw)
            push(min(t + rng.uniform(1, 900), end_ts - 1), etype, raw)
        elif r < BAD_SHARE + DUPLICATE_SHARE + LATE_SHARE:
            seq += 1
            late.append((t, seq, etype, raw))
        else:
            push(t, etype, raw)
        if etype == "survey":  # a valid answer: the call-back team sees its follow-up, if any
            team.answered(t, doc)

    def send(t: float, etype: str, doc: dict) -> None:
        """The team's messages: on time and intact (they do not draw on the traffic's randomness)."""
        if t < end_ts:
            push(t, etype, orjson.dumps(doc))

    team = CallBackTeam(seed, tag, lambda tp: registry.targets(tp).followup_hours, send)
    world = World(rng, zone, tag, first, emit, extra=[s for s in registry.slugs if s not in P.NPS_MIX])
    for i in range(days):
        d = first + timedelta(days=i)
        world.day(d)
        day_end = datetime.combine(d + timedelta(days=1), time(0), zone).timestamp()
        while pending and pending[0][0] < day_end:
            _, _, etype, raw = heapq.heappop(pending)
            yield etype, raw
    for _, _, etype, raw in sorted(late):
        yield etype, raw


def _corrupt(rng: random.Random, etype: str, doc: dict) -> tuple[str, bytes]:
    """One realistic way for a producer to get this message wrong."""
    kinds = ["not_json", "missing", "naive_ts", "wrong_topic"]
    if etype == "survey":
        kinds.append("score_11")
    if etype == "call":
        kinds.append("ended_before_queued")
    kind = kinds[rng.randrange(len(kinds))]
    bad = dict(doc)
    if kind == "not_json":
        raw = orjson.dumps(doc)
        return etype, raw[: rng.randrange(1, len(raw) - 1)]  # a truncated object is never valid JSON
    if kind == "missing":
        required = {"call": "call_id", "purchase": "amount", "review": "rating", "survey": "score"}
        del bad[rng.choice(["event_id", "occurred_at", "touchpoint", required[etype]])]
    elif kind == "naive_ts":
        bad["occurred_at"] = bad["occurred_at"][:23]  # YYYY-MM-DDTHH:MM:SS.mmm, offset lost
    elif kind == "wrong_topic":
        return rng.choice([t for t in _CORE_TYPES if t != etype]), orjson.dumps(doc)
    elif kind == "score_11":
        bad["score"] = 11
    else:
        bad["ended_at"], bad["queued_at"] = bad["queued_at"], bad["ended_at"]
    return etype, orjson.dumps(bad)

