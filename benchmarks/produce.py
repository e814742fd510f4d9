"""Events per second of the project's producer (`touchpulse.bench.load.produce`, acks=all)
against a fresh embedded broker, on simulated events.

    .venv/bin/python benchmarks/produce.py [N] [--check]

N simulated events (default 300,000, as the bench), produced once to a broker of a temporary
home with the bench's topics. `--check` then reads everything back and verifies that every
record landed on the partition Kafka's default partitioner picks for its key (murmur2), with
its key and value intact. Used for the numbers in commit messages.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from touchpulse.bench.env import BenchHome
from touchpulse.bench.load import generate, produce
from touchpulse.core.touchpoints import load_registry
from touchpulse.kafka import broker
from touchpulse.kafka.topics import Topics, create_topics


def main(n: int, check: bool) -> None:
    root = Path(tempfile.mkdtemp(prefix="touchpulse-produce-"))
    bh = BenchHome(root)
    try:
        broker.start(bh.home)
        settings = bh.settings()
        create_topics(settings)
        topics = Topics(settings.topic_prefix)
        t0 = time.perf_counter()
        records = generate(n, load_registry(), topics)
        print(f"generated {len(records):,} records in {time.perf_counter() - t0:.1f} s", flush=True)
        logging.getLogger("kafka").setLevel(logging.ERROR)
        produced = produce(settings, records)
        print(f"produced {produced.count:,} in {produced.seconds:.2f} s: {produced.rate:,.0f} events/s "
              f"({produced.bytes / 2**20:.1f} MB)", flush=True)
        if check:
            verify(settings, records)
    finally:
        broker.stop(bh.home)
        shutil.rmtree(root, ignore_errors=True)


def verify(settings, records) -> None:
    from kafka import KafkaConsumer
    from kafka.partitioner.default import murmur2

    from touchpulse.kafka.topics import bootstrap
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(settings), group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=5000, fetch_max_bytes=200 * 2**20,
                             max_partition_fetch_bytes=200 * 2**20)
    consumer.subscribe(sorted({t for t, _, _ in records}))
    got = []
    for m in consumer:
        got.append((m.topic, m.partition, m.key, m.value))
        if len(got) >= len(records):
            break
    consumer.close()
    parts = settings.partitions
    wrong = [g for g in got if g[2] is not None and g[1] != (murmur2(g[2]) & 0x7FFFFFFF) % parts]
    assert Counter((t, k, v) for t, _, k, v in got) == Counter(records), "records differ"
    assert not wrong, f"{len(wrong)} records on another partition than murmur2 picks, e.g. {wrong[0][:3]}"
    print(f"checked: {len(got):,} records back, each keyed record on its murmur2 partition", flush=True)


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 300_000, "--check" in sys.argv)
