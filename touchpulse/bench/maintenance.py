"""What keeping the views current costs per batch, at a given size of history: realistic batches
(the simulator's mix of the four types, a tenth of them new versions of entities already in the
history) applied with the worker's own writer against a database holding that history."""

from __future__ import annotations

import random
import statistics
import time
from datetime import date, datetime, timedelta, timezone

import orjson

from touchpulse.bench.env import say
from touchpulse.clickhouse.schema import q
from touchpulse.clickhouse.writer import FactWriter, LocalNotices
from touchpulse.core.touchpoints import load_registry
from touchpulse.simulate import simulate
from touchpulse.streams.batch import Message, process_batch

PREFIX = "touchpulse."
TOPIC_TYPES = {f"{PREFIX}{t}": e for e, t in
               {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys"}.items()}


def batches(client, database: str, count: int, size: int, end: date, seed: int = 5) -> list[list[Message]]:
    """`count` batches of `size` messages: simulated traffic of the last days, and new versions of
    entities of the history (survey answers and calls) at random."""
    registry = load_registry()
    rng = random.Random(seed)
    db = q(database)
    from touchpulse.simulate import MESSAGES_PER_DAY
    days = count * size // int(MESSAGES_PER_DAY * 0.8) + 2
    stream = simulate(days, seed, end - timedelta(days=1), registry, "UTC")
    old_surveys = [r[0] for r in client.query(f"SELECT response_id FROM {db}.surveys LIMIT 100000").result_rows]
    old_calls = [r[0] for r in client.query(f"SELECT call_id FROM {db}.calls LIMIT 100000").result_rows]
    offsets: dict[str, int] = {}
    base = _next_offsets(client, database)
    out: list[list[Message]] = []
    clock = datetime.combine(end, datetime.min.time(), timezone.utc)
    batch: list[Message] = []
    for etype, raw in stream:
        try:
            doc = _maybe_version(orjson.loads(raw), etype, rng, old_surveys, old_calls)
        except orjson.JSONDecodeError:  # the simulator's broken messages stay broken
            doc = None
        value = orjson.dumps(doc) if doc is not None else raw
        topic = f"{PREFIX}{etype}s"
        offset = base.get((topic, 0), 0) + offsets.get(topic, 0)
        offsets[topic] = offsets.get(topic, 0) + 1
        clock += timedelta(milliseconds=1)
        batch.append(Message(topic, 0, offset, None, value, clock))
        if len(batch) == size:
            out.append(batch)
            batch = []
            if len(out) == count:
                break
    return out


def _maybe_version(doc, etype: str, rng: random.Random, surveys: list[str], calls: list[str]):
    if not isinstance(doc, dict) or rng.random() >= 0.1:
        return doc
    if etype == "survey" and surveys:
        doc["response_id"] = rng.choice(surveys)
    elif etype == "call" and calls:
        doc["call_id"] = rng.choice(calls)
    return doc


def _next_offsets(client, database: str) -> dict[tuple[str, int], int]:
    rows = client.query(f"SELECT k, next_offset FROM {q(database)}.positions").result_rows
    out = {}
    for k, n in rows:
        topic, _, partition = k.rpartition("#")
        out[(topic, int(partition))] = int(n)
    return out


def measure(client, database: str, count: int = 20, size: int = 5000, end: date | None = None,
            warmup: int = 2) -> dict:
    """Apply `warmup` + `count` batches; per-batch milliseconds of the writer (facts and every
    derived table), validation excluded."""
    end = end or datetime.now(timezone.utc).date()
    history = int(client.query(
        f"SELECT (SELECT count() FROM {q(database)}.surveys) + (SELECT count() FROM {q(database)}.calls) "
        f"+ (SELECT count() FROM {q(database)}.purchases) + (SELECT count() FROM {q(database)}.reviews)"
    ).result_rows[0][0])
    registry = load_registry()
    writer = FactWriter(client, database, worker="bench-maintenance")
    writer.prepare()
    local = LocalNotices(writer)
    ms = []
    changed = 0
    for i, messages in enumerate(batches(client, database, count + warmup, size, end)):
        outcome = process_batch(messages, TOPIC_TYPES, registry, followup_below=8, now=messages[-1].timestamp)
        t0 = time.perf_counter()
        applied = local.write(outcome)  # and the customer notices it leaves, as the next batch
        if i >= warmup:
            ms.append(1000 * (time.perf_counter() - t0))
            changed += sum(applied.changed.values())
    writer.maintainer.drop_working_tables()
    result = {"history_facts": history, "batches": len(ms), "batch_events": size,
              "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(sorted(ms)[int(0.95 * (len(ms) - 1))], 1),
              "mean_ms": round(statistics.fmean(ms), 1), "entities_changed_per_batch": round(changed / len(ms))}
    say(f"maintenance: {result['p50_ms']:.0f} ms per batch of {size:,} at {history:,} facts of history "
        f"(p95 {result['p95_ms']:.0f} ms)")
    return result
