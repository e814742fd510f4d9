"""Nothing lost, nothing doubled: worker kill -9, ClickHouse refusing writes, broker restart,
two workers in one group. Each run is compared with the same scenario processed calmly.

Everything is real: the local broker over TCP, the Faust worker as a subprocess, chDB.
"""

from __future__ import annotations

import json
import random
import signal
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from touchpulse.core.touchpoints import load_registry
from touchpulse.kafka import broker
from touchpulse.kafka.topics import TYPE_TOPICS as TOPIC
from touchpulse.simulate import simulate

pytestmark = pytest.mark.integration

VIEWS = ("nps_daily", "calls_daily", "calls_hourly", "reviews_daily", "purchases_daily", "ingest_daily")
FACTS = ("calls", "purchases", "reviews", "surveys", "followups", "followup_updates", "dead_letters")


def scenario(days: int = 3, seed: int = 11) -> list[tuple[str, bytes, bytes | None]]:
    """A few days of realistic traffic, with broken messages, re-sends and late events."""
    out = []
    for etype, raw in simulate(days, seed, date(2026, 5, 20), load_registry(), "Europe/Moscow", errors=True):
        out.append((TOPIC[etype], raw, None))
    return out


def views(pipeline) -> dict[str, list[dict]]:
    return {v: pipeline.query(v) for v in VIEWS}


def followups(pipeline) -> dict[str, dict]:
    """followup_id -> body; asserts every copy of an id (re-sent after a crash) is the same follow-up."""
    seen: dict[str, dict] = {}
    for rec in pipeline.consume("followups"):
        body = json.loads(rec.value)
        body.pop("created_at")
        if body["followup_id"] in seen:
            assert seen[body["followup_id"]] == body
        seen[body["followup_id"]] = body
    return seen


def dead_letters(pipeline) -> list[bytes]:
    """The original bytes of every dead letter, once per source message (a crash may re-publish one)."""
    by_position = {}
    for rec in pipeline.consume("dlq"):
        h = dict(rec.headers)
        position = (h["touchpulse.source_topic"], h["touchpulse.source_partition"], h["touchpulse.source_offset"])
        by_position[position] = rec.value
    return sorted(by_position.values())


def committed(pipeline) -> int:
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=pipeline.bootstrap, group_id=pipeline.env["TOUCHPULSE_GROUP"],
                      enable_auto_commit=False)
    try:
        total = 0
        for name in TOPIC.values():
            for p in c.partitions_for_topic(pipeline.topic(name)) or ():
                total += _committed_or_zero(c, TopicPartition(pipeline.topic(name), p))
        return total
    finally:
        c.close()


def _committed_or_zero(consumer, tp) -> int:
    """Bounded: while the group rebalances the coordinator may not answer; count that as 0."""
    from kafka.errors import KafkaTimeoutError
    try:
        return consumer.committed(tp, timeout_ms=5000) or 0
    except KafkaTimeoutError:
        return 0


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_kill_minus_9_mid_stream_changes_nothing(pipeline, reference):
    records, expected = reference
    pipeline.up()
    pipeline.produce(records)
    small = {"TOUCHPULSE_BATCH_SIZE": "300", "TOUCHPULSE_BATCH_WAIT": "0.05"}
    rng = random.Random(5)
    for share in (0.25, 0.6):
        worker = pipeline.spawn("worker", extra_env=small)
        try:
            wait_until(lambda: committed(pipeline) >= share * len(records), 120, f"{share:.0%} committed")
            time.sleep(rng.uniform(0.0, 0.4))  # land anywhere: mid-batch, mid-write, mid-commit
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
    pipeline.drain()

    assert views(pipeline) == expected["views"]
    assert followups(pipeline) == expected["followups"]
    assert dead_letters(pipeline) == expected["dead_letters"]


def test_clickhouse_refusing_writes_pauses_and_resumes_without_loss(pipeline, reference):
    records, expected = reference
    pipeline.up()
    db = pipeline.env["TOUCHPULSE_DATABASE"]
    pipeline.produce(records)
    # The real engine refuses every insert into two fact tables until a moment 20 s from now
    # (the worker needs a few seconds to start, so it meets the outage with its first batches).
    until_at = datetime.now(timezone.utc) + timedelta(seconds=20)
    until = until_at.strftime("%Y-%m-%d %H:%M:%S")
    for table in ("surveys", "calls"):
        pipeline.command(f"ALTER TABLE {db}.{table} ADD CONSTRAINT outage CHECK now() >= toDateTime('{until}', 'UTC')")
    proc = pipeline.run("worker", "--drain")
    log = proc.stderr.decode()
    assert datetime.now(timezone.utc) >= until_at, "the worker finished while ClickHouse was refusing writes"
    assert "ClickHouse unavailable while trying to write a batch" in log and "retrying in" in log
    assert "ClickHouse is back" in log
    for table in ("surveys", "calls"):
        pipeline.command(f"ALTER TABLE {db}.{table} DROP CONSTRAINT outage")
    assert views(pipeline) == expected["views"]
    assert followups(pipeline) == expected["followups"]


def test_clickhouse_down_holds_offsets(pipeline, reference):
    """While writes fail, nothing is acknowledged to Kafka: a restart re-reads it all."""
    records, expected = reference
    pipeline.up()
    db = pipeline.env["TOUCHPULSE_DATABASE"]
    pipeline.command(f"ALTER TABLE {db}.surveys ADD CONSTRAINT outage CHECK 0")
    pipeline.produce(records)
    worker = pipeline.spawn("worker")
    try:
        time.sleep(8)
        survey_committed = _committed_on(pipeline, "surveys")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    surveys = sum(1 for t, _, _ in records if t == "surveys")
    assert survey_committed < surveys  # the batch holding surveys was never acknowledged
    pipeline.command(f"ALTER TABLE {db}.surveys DROP CONSTRAINT outage")
    pipeline.drain()
    assert views(pipeline) == expected["views"]


def _committed_on(pipeline, name: str) -> int:
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=pipeline.bootstrap, group_id=pipeline.env["TOUCHPULSE_GROUP"],
                      enable_auto_commit=False)
    try:
        return sum(_committed_or_zero(c, TopicPartition(pipeline.topic(name), p))
                   for p in c.partitions_for_topic(pipeline.topic(name)) or ())
    finally:
        c.close()


def test_broker_restart_worker_reconnects(own_broker_pipeline, reference):
    pipeline, home = own_broker_pipeline
    records, expected = reference
    half = len(records) // 2
    pipeline.up()
    pipeline.produce(records[:half])
    worker = pipeline.spawn("worker")
    try:
        wait_until(lambda: committed(pipeline) >= half - 50, 120, "the first half committed")
        time.sleep(1.5)  # the broker snapshots to disk about once a second
        broker.stop(home)
        time.sleep(2)
        broker.start(home, port=int(pipeline.bootstrap.rsplit(":", 1)[1]))
        pipeline.produce(records[half:])
        wait_until(lambda: committed(pipeline) >= len(records) - 100, 180, "everything committed after restart")
        assert worker.poll() is None, "the worker died when the broker restarted"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    pipeline.drain()
    assert views(pipeline) == expected["views"]
    assert followups(pipeline) == expected["followups"]


def _handled_a_batch(home, name: str) -> bool:
    return any(b"batch of" in log.read_bytes() for log in home.glob(f"{name}-*.log"))


def test_two_workers_equal_one_and_a_leaver_loses_nothing(pipeline, reference):
    """Scale-out needs one shared ClickHouse: chDB is one process per directory, so each worker
    writes its own chDB here and the facts of both are merged before computing the views."""
    records, expected = reference
    pipeline.up()
    db = pipeline.env["TOUCHPULSE_DATABASE"]
    homes = [pipeline.home / f"w{i}" for i in (1, 2)]
    workers = []
    for h in homes:
        h.mkdir()
        env = {"TOUCHPULSE_CLICKHOUSE": f"chdb://{h / 'clickhouse'}", "TOUCHPULSE_BATCH_SIZE": "300",
               "TOUCHPULSE_LOG_LEVEL": "DEBUG"}
        pipeline.run("up", extra_env=env)
        workers.append((h, env, pipeline.spawn("worker", extra_env=env, log_name=h.name)))
    half = len(records) // 2
    try:
        pipeline.produce(records[:half])
        # Both workers have handled a batch: the group is stable, each owns its partitions. (A
        # member killed in the middle of joining leaves the embedded broker's group waiting for
        # it forever; Apache Kafka would expire it after the session timeout.)
        wait_until(lambda: all(_handled_a_batch(pipeline.home, h.name) for h in homes), 180,
                   "both workers handling batches")
        workers[1][2].send_signal(signal.SIGTERM)  # one worker leaves mid-stream
        workers[1][2].wait(60)
        pipeline.produce(records[half:])
        # Every record committed, not nearly all: SIGTERM abandons a batch not yet written (Kafka
        # keeps it for the next start, which this test does not make), so a tail of 50 allowed
        # here once made the views differ in CI.
        wait_until(lambda: committed(pipeline) >= len(records), 180, "the remaining worker finishing")
    finally:
        for _, _, w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
                w.wait(60)
    # Merge both workers' facts into the pipeline's own ClickHouse, then compare the views.
    for h, env, _ in workers:
        dump = h / "facts.native"
        for table in FACTS:
            pipeline.command(f"SELECT * FROM {db}.{table} INTO OUTFILE '{dump}.{table}' TRUNCATE FORMAT Native",
                             extra_env=env)
    for h, _, _ in workers:
        for table in FACTS:
            pipeline.command(f"INSERT INTO {db}.{table} FROM INFILE '{h / 'facts.native'}.{table}' FORMAT Native")
    pipeline.run("reconcile", "--repair")  # facts that came in by other means than a worker
    assert views(pipeline) == expected["views"]
    assert followups(pipeline) == expected["followups"]
