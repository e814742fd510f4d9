"""The machine's limit for this data: a bare aiokafka consumer (the client Faust uses) that
reads every message of the event topics and only decodes its JSON. No validation, no writes,
no offsets committed: whatever the pipeline does beyond this is its own cost."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class Consumed:
    count: int
    seconds: float
    undecodable: int

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def raw_consume(bootstrap: str, topics: list[str]) -> Consumed:
    return asyncio.run(_consume(bootstrap, topics))


async def _consume(bootstrap: str, topics: list[str]) -> Consumed:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()  # metadata for partitions_for_topic
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        count = bad = 0
        loads = orjson.loads
        started = time.perf_counter()
        while remaining:
            batches = await consumer.getmany(timeout_ms=1000)
            for tp, records in batches.items():
                for r in records:
                    try:
                        loads(r.value)
                    except orjson.JSONDecodeError:
                        bad += 1
                count += len(records)
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return Consumed(count, time.perf_counter() - started, bad)
    finally:
        await consumer.stop()
