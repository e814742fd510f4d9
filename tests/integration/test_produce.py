"""The producers (touchpulse/kafka/emit.py) on the real local broker: every record arrives once,
with its key, on the partition Kafka's default partitioner (kafka-python's, which the project used
before) picks for that key, since workers rely on entity-keyed partitions; and a message Kafka
never acknowledges is an error, not silence."""

from __future__ import annotations

from collections import Counter
from datetime import date

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.partitioner.default import murmur2

from touchpulse.bench.load import entity_key, generate, produce
from touchpulse.core.touchpoints import load_registry
from touchpulse.kafka.emit import ProduceFailed, Sender
from touchpulse.kafka.topics import KafkaUnavailable, Topics, create_topics
from touchpulse.settings import load_settings

pytestmark = pytest.mark.integration


def settings_of(pipeline, **extra):
    return load_settings({**pipeline.env, **extra}, dotenv=None)


def read_back(bootstrap: str, topics: list[str]) -> list:
    """Every record on these topics, with kafka-python (which must read lz4 too)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        out = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=3000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()


def assert_on_default_partitions(records, partitions: int) -> None:
    """kafka-python's DefaultPartitioner (the Java client's) for a keyed record."""
    keyed = [r for r in records if r.key is not None]
    assert keyed
    for r in keyed:
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % partitions, (r.topic, r.key)


def test_bench_produce_delivers_every_record_keyed_on_its_default_partition(pipeline):
    settings = settings_of(pipeline, TOUCHPULSE_PARTITIONS="4")
    create_topics(settings)
    topics = Topics(settings.topic_prefix)
    records = generate(3000, load_registry(), topics, end_day=date(2024, 5, 31))
    produced = produce(settings, records)
    assert produced.count == 3000
    got = read_back(pipeline.bootstrap, list(topics.events))
    assert Counter((r.topic, r.key, r.value) for r in got) == Counter(records)
    assert_on_default_partitions(got, 4)
    assert {r.partition for r in got} == {0, 1, 2, 3}


def test_simulate_keys_every_event_by_its_entity(pipeline):
    settings = settings_of(pipeline, TOUCHPULSE_PARTITIONS="3")
    create_topics(settings)
    pipeline.run("simulate", "--days", "1", "--end", "2024-05-31", extra_env={"TOUCHPULSE_PARTITIONS": "3"})
    got = read_back(pipeline.bootstrap, list(Topics(settings.topic_prefix).events))
    assert len(got) > 1000
    for r in got:
        assert r.key == entity_key(r.value)  # None only for the simulator's broken messages
    assert sum(r.key is None for r in got) < 0.02 * len(got)
    assert_on_default_partitions(got, 3)


def test_emit_sends_valid_lines_keyed_by_entity(pipeline, tmp_path):
    settings = settings_of(pipeline)
    create_topics(settings)
    survey = {"event_id": "e1", "type": "survey", "version": 1, "occurred_at": "2024-05-01T10:00:00Z",
              "touchpoint": "web", "response_id": "r-42", "score": 9}
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(orjson.dumps(survey) + b"\n" + orjson.dumps({**survey, "event_id": "e2"}) + b"\n")
    pipeline.run("emit", str(lines))
    got = read_back(pipeline.bootstrap, [pipeline.topic("surveys")])
    assert [(r.key, orjson.loads(r.value)["event_id"]) for r in got] == [(b"r-42", "e1"), (b"r-42", "e2")]


def test_a_message_kafka_never_acknowledges_is_an_error(pipeline, tmp_path):
    from touchpulse.kafka.broker import free_port
    settings = settings_of(pipeline, TOUCHPULSE_KAFKA=f"127.0.0.1:{free_port()}")  # nobody listens
    with pytest.raises(KafkaUnavailable):
        Sender(settings, connect_timeout=1.0)
    sender = Sender(settings, config={"message.timeout.ms": 500}, connect_timeout=None)
    sender.send("anything", b"{}", b"k")
    with pytest.raises(ProduceFailed, match="1 message"):
        sender.flush()
