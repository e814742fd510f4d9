"""Schema versions: `touchpulse up` upgrades a version-2 database with its facts kept and every
view exact, and a database of a newer version is refused by `up` and the worker alike.

The version-2 database is built by hand (the old code cannot be checked out): the raw tables with
the columns of version 2 (today's minus `batch_id`; follow-ups sorted by event_id), a few of its
refreshed tables and views, and `schema_info` saying 2. Its facts are those of a generated stream
that really went through the broker: the test reads the records back from Kafka and stores each
one, validated by touchpulse's own validator, at its real Kafka position and timestamp, exactly as
a version-2 worker did, and commits the group's offsets as that worker would have, except for the
last few messages of some partitions (it died before committing them). So after the upgrade a
worker re-reads those, and only the rebuilt `positions` stop it from applying them twice; new
events produced afterwards must all be applied.
"""

from __future__ import annotations

import json
import pickle
import re
import pytest

from tests.oracle.streams import TOPIC as ALL_TOPICS, build_stream
from tests.support.oracle_views import kafka_messages, view_problems
from touchpulse.clickhouse.schema import FACT_TABLES as ALL_FACT_TABLES, SCHEMA_VERSION, raw_columns
from touchpulse.clickhouse.setup import RAW_TABLES, V2_TABLES
from touchpulse.clickhouse.writer import DEAD_LETTER_COLUMNS, FOLLOWUP_COLUMNS, POSITION_COLUMNS
from touchpulse.core.events import COMMON_COLUMNS, ENTITY_KEY, TYPE_COLUMNS
from touchpulse.core.timestamps import parse_timestamp
from touchpulse.core.touchpoints import load_registry
from touchpulse.derived.tables import DERIVED_TABLES
from touchpulse.streams.batch import Message, process_batch

# Version 2 knew no follow-up updates: neither their topic nor their table.
FACT_TABLES = {e: t for e, t in ALL_FACT_TABLES.items() if e != "followup_update"}
TOPIC = {e: t for e, t in ALL_TOPICS.items() if e in FACT_TABLES}


def v2_stream(seed: int, tz: str, size: int) -> list:
    return [r for r in build_stream(seed, tz, size=size) if r[0] in TOPIC.values()]


pytestmark = pytest.mark.integration

TZ = "America/New_York"
UNCOMMITTED = {"surveys": 3, "calls": 2}  # per partition: written by the v2 worker, never committed

CREATE_TOPICS = """
from touchpulse.kafka.topics import create_topics
from touchpulse.settings import load_settings
create_topics(load_settings())
"""

# DDL, then inserts of Python values (as the writer inserts them), in one process on the pipeline's chDB.
LOAD = """
import pickle, sys
from touchpulse.clickhouse.client import connect
from touchpulse.settings import load_settings
job = pickle.loads(sys.stdin.buffer.read())
client = connect(load_settings())
for statement in job["statements"]:
    client.command(statement)
for table, columns, rows in job["inserts"]:
    if rows:
        client.insert(table, rows, column_names=list(columns), database=job["database"])
"""


def v2_columns(table: str) -> str:
    columns = raw_columns(table)
    v2 = columns.replace(",\n    batch_id String", "")
    assert v2 != columns, "raw tables no longer end with batch_id: update this test's version-2 schema"
    return v2


def v2_schema(db: str, tz: str) -> list[str]:
    """The tables and views of a version-2 database that matter to the upgrade."""
    out = [f"CREATE DATABASE {db}"]
    for etype, table in FACT_TABLES.items():
        k = ENTITY_KEY[etype]
        out.append(f"CREATE TABLE {db}.{table} ({v2_columns(table)}) ENGINE = ReplacingMergeTree "
                   f"PARTITION BY toYYYYMM(occurred_at) ORDER BY ({k}, event_id, src_topic, src_partition, src_offset)")
    out.append(f"CREATE TABLE {db}.followups ({v2_columns('followups')}) ENGINE = ReplacingMergeTree "
               "PARTITION BY toYYYYMM(occurred_at) ORDER BY (event_id, src_topic, src_partition, src_offset)")
    out.append(f"CREATE TABLE {db}.dead_letters ({v2_columns('dead_letters')}) ENGINE = ReplacingMergeTree "
               "PARTITION BY toYYYYMM(src_timestamp) ORDER BY (src_topic, src_partition, src_offset)")
    out.append(f"CREATE TABLE {db}.touchpoint_targets (touchpoint String, name String, channel String, "
               "sla_answer_seconds Float64, short_abandon_seconds Float64, review_reply_hours Float64, "
               "followup_hours Float64) ENGINE = MergeTree ORDER BY touchpoint")
    # Refreshed tables of version 2 and their bookkeeping, and views that read them.
    out.append(f"CREATE TABLE {db}.calls_current (call_id String, event_id String, queued_at DateTime64(6, 'UTC'), "
               "touchpoint LowCardinality(String), version UInt64, is_deleted UInt8, refresh_id UUID) "
               "ENGINE = ReplacingMergeTree(version, is_deleted) PARTITION BY toYYYYMM(queued_at) "
               "ORDER BY (toDate32(queued_at), call_id)")
    out.append(f"CREATE TABLE {db}.followups_current ({v2_columns('followups')}, version UInt64, is_deleted UInt8, "
               "refresh_id UUID) ENGINE = ReplacingMergeTree(version, is_deleted) ORDER BY (toDate32(occurred_at), "
               "followup_id)")
    out.append(f"CREATE TABLE {db}.survey_days (day Date32, sentinel UInt8, touchpoint LowCardinality(String), "
               "brand LowCardinality(String), kind LowCardinality(String), n UInt64, p UInt64, pa UInt64, d UInt64, "
               "version UInt64) ENGINE = ReplacingMergeTree(version) PARTITION BY toYear(day) "
               "ORDER BY (day, sentinel, touchpoint, brand, kind)")
    out.append(f"CREATE TABLE {db}.refresh_queue (batch_id UUID, fact_table LowCardinality(String), keys Array(String), "
               "event_ids Array(String), queued_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY batch_id "
               "TTL queued_at + INTERVAL 30 DAY")
    out.append(f"CREATE TABLE {db}.purchases_daily_snapshot (day Date32, touchpoint String, currency String, "
               "orders UInt64) ENGINE = MergeTree ORDER BY (day, touchpoint, currency)")
    out.append(f"CREATE VIEW {db}.nps_daily AS SELECT day, touchpoint, brand, kind, n AS responses "
               f"FROM {db}.survey_days FINAL WHERE sentinel = 0")
    out.append(f"CREATE VIEW {db}.calls_latest AS SELECT * FROM {db}.calls_current FINAL")
    out.append(f"CREATE VIEW {db}.followups_latest AS SELECT * FROM {db}.followups_current FINAL")
    out.append(f"CREATE VIEW {db}.purchases_daily AS SELECT * FROM {db}.purchases_daily_snapshot")
    out.append(f"CREATE VIEW {db}.ingest_freshness AS SELECT 'followup' AS type, max(ingested_at) AS last_ingested_at "
               f"FROM {db}.followups UNION ALL SELECT 'dead_letter', max(ingested_at) FROM {db}.dead_letters")
    out.append(f"INSERT INTO {db}.survey_days VALUES ('2024-03-30', 0, 'call_centre', 'own', 'transactional', "
               "3, 1, 1, 1, 1)")
    out.append(f"INSERT INTO {db}.refresh_queue (batch_id, fact_table, keys, event_ids) VALUES "
               "(generateUUIDv4(), 'surveys', ['r1'], ['e1'])")
    out.append(f"INSERT INTO {db}.touchpoint_targets VALUES ('retired', 'Retired', 'voice', 1, 1, 1, 1)")
    out.append(f"CREATE VIEW {db}.schema_info AS SELECT '{tz}' AS timezone, 2 AS schema_version")
    return out


def v2_facts(p, messages: list[Message]) -> list[tuple[str, tuple, list]]:
    """(table, columns, rows) as a version-2 worker stored these messages: validated, each at its
    Kafka position; dead letters with their reason; follow-ups of low scores."""
    types = {p.topic(t): e for e, t in TOPIC.items()}
    outcome = process_batch(messages, types, load_registry(), followup_below=8, now=messages[-1].timestamp)

    def position(m: Message) -> list:
        return [m.topic, m.partition, m.offset, m.timestamp]

    inserts = []
    for etype, table in FACT_TABLES.items():
        names = COMMON_COLUMNS + TYPE_COLUMNS[etype]
        rows = [[a.event.values[n] for n in names] + position(a.message) for a in outcome.accepted[etype]]
        inserts.append((table, names + POSITION_COLUMNS, rows))
    rows = [[d.type, d.reason, d.field, d.message.key or b"", d.message.value or b""] + position(d.message)
            for d in outcome.dead_letters]
    inserts.append(("dead_letters", DEAD_LETTER_COLUMNS + POSITION_COLUMNS, rows))
    rows = []
    for f in outcome.followups:
        body = {n: ("" if f.body[n] is None else f.body[n]) for n in FOLLOWUP_COLUMNS}
        for n in ("occurred_at", "due_at", "created_at"):
            body[n] = parse_timestamp(body[n])
        rows.append([body[n] for n in FOLLOWUP_COLUMNS] + position(f.message))
    inserts.append(("followups", FOLLOWUP_COLUMNS + POSITION_COLUMNS, rows))
    assert all(rows for _, _, rows in inserts), "the stream should fill every raw table"
    return inserts


def commit(p, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for the workers' group, as a worker of it would have."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata
    c = KafkaConsumer(bootstrap_servers=p.bootstrap, group_id=p.env["TOUCHPULSE_GROUP"], enable_auto_commit=False)
    try:
        c.commit({TopicPartition(t, part): OffsetAndMetadata(o, "", -1) for (t, part), o in offsets.items()})
    finally:
        c.close()


def positions(p, db: str) -> dict[str, list]:
    """Per raw table, the Kafka positions it holds (as JSON-able lists)."""
    union = " UNION ALL ".join(f"SELECT '{t}', src_topic, src_partition, src_offset FROM {db}.{t}" for t in RAW_TABLES)
    out: dict[str, list] = {t: [] for t in RAW_TABLES}
    for table, *position in p.sql(f"SELECT * FROM ({union}) ORDER BY ALL"):
        out[table].append(position)
    return out


SNAPSHOT = """
import json, sys
from touchpulse.clickhouse.client import connect
from touchpulse.settings import load_settings
db = sys.argv[1]
client = connect(load_settings())
tables = client.query("SELECT name, engine, create_table_query FROM system.tables WHERE database = {db:String} "
                      "ORDER BY name", parameters={"db": db}).result_rows
content = {}
for name, engine, _ in tables:
    if engine != "View":
        final = " FINAL" if engine.startswith(("Replacing", "Aggregating")) else ""
        content[name] = list(client.query(f"SELECT count(), sum(cityHash64(*)) FROM `{db}`.`{name}`{final}").result_rows[0])
print(json.dumps({"tables": [list(t) for t in tables], "content": content}, default=str))
"""


def snapshot(p, db: str) -> dict:
    """Everything `up` could change: tables and views with their definitions, and the content of
    every table (FINAL: the same however background merges have combined parts)."""
    return json.loads(p.python(SNAPSHOT, db))


def one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert "Traceback" not in err, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("touchpulse: error:")]
    assert len(errors) == 1, err[-3000:]
    return errors[0]


def test_up_upgrades_a_version_2_database_keeping_facts_and_every_view_exact(pipeline):
    p = pipeline
    p.env["TOUCHPULSE_TIMEZONE"] = TZ
    p.env["TOUCHPULSE_BATCH_SIZE"] = "100"
    db = p.env["TOUCHPULSE_DATABASE"]
    p.python(CREATE_TOPICS)

    # What a version-2 installation holds: events in Kafka, their facts in ClickHouse, offsets committed.
    old = v2_stream(20240602, TZ, size=300)
    p.produce(old)
    messages = kafka_messages(p)
    assert len(messages) == len(old)
    inserts = v2_facts(p, messages)
    p.python(LOAD, input=pickle.dumps({"database": db, "statements": v2_schema(db, TZ), "inserts": inserts}))
    ends: dict[tuple[str, int], int] = {}
    for m in messages:
        ends[(m.topic, m.partition)] = max(ends.get((m.topic, m.partition), 0), m.offset + 1)
    lag = {tp: min(UNCOMMITTED.get(tp[0][len(p.prefix):], 0), end) for tp, end in ends.items()}
    commit(p, {tp: end - lag[tp] for tp, end in ends.items()})
    replayed = sum(lag.values())
    assert replayed >= 3
    facts = positions(p, db)
    assert sum(map(len, facts.values())) == sum(len(rows) for _, _, rows in inserts)

    # The worker refuses the old schema, in one line, and touches nothing.
    refused = p.run("worker", "--drain", check=False, timeout=120)
    assert refused.returncode != 0
    line = one_line_error(refused)
    assert "schema version 2" in line and "run `touchpulse up`" in line, line
    assert positions(p, db) == facts

    # The upgrade.
    up = p.run("up")
    log = up.stderr.decode()
    assert f"from schema version 2 to {SCHEMA_VERSION}" in log, log[-2000:]
    tables = dict(p.sql(f"SELECT name, sorting_key FROM system.tables WHERE database = '{db}'"))
    assert not set(tables) & set(V2_TABLES), set(tables) & set(V2_TABLES)
    assert not [t for t in tables if t.endswith("_v2")], tables
    assert set(DERIVED_TABLES) <= set(tables)
    assert tables["followups"].startswith("occurred_at"), tables["followups"]
    assert p.sql(f"SELECT (SELECT tuple(*) FROM {db}.schema_info), (SELECT groupUniqArray(batch_id) FROM {db}.calls), "
                 f"(SELECT countIf(touchpoint = 'retired') FROM {db}.touchpoint_targets)") == [[[TZ, SCHEMA_VERSION], [""], 0]]
    assert positions(p, db) == facts, "facts were lost or doubled by the upgrade"

    p.run("reconcile")  # exit 0: the rebuilt derived data equals its recomputation
    problems = view_problems(p, old, TZ)
    assert not problems, "\n".join(problems[:30])

    # A second `up` changes nothing.
    before = snapshot(p, db)
    again = p.run("up").stderr.decode()
    assert "upgrading" not in again and "computing the derived data" not in again, again[-2000:]
    assert snapshot(p, db) == before

    # A worker after the upgrade: the uncommitted tail of the old messages is skipped (the rebuilt
    # positions know it was applied), every new event is applied.
    new = build_stream(20240603, TZ, size=200)
    p.produce(new)
    drained = p.drain().stderr.decode()
    problems = view_problems(p, old + new, TZ)
    assert not problems, "\n".join(problems[:30])
    skipped = sum(int(n) for n in re.findall(r"skipped (\d+) message\(s\) at offsets already applied", drained))
    assert skipped == replayed, f"{replayed} messages re-delivered, {skipped} recognised as applied"


def test_a_newer_schema_is_refused_by_up_and_worker_and_left_untouched(pipeline):
    p = pipeline
    db = p.env["TOUCHPULSE_DATABASE"]
    newer = SCHEMA_VERSION + 1
    p.python(CREATE_TOPICS)
    p.python(LOAD, input=pickle.dumps({"database": db, "inserts": [], "statements": [
        f"CREATE DATABASE {db}",
        f"CREATE TABLE {db}.surveys (event_id String, response_id String, score UInt8, facets Array(String)) "
        "ENGINE = MergeTree ORDER BY response_id",
        f"INSERT INTO {db}.surveys VALUES ('e1', 'r1', 9, ['fast']), ('e2', 'r2', 3, [])",
        f"CREATE TABLE {db}.sums (metric String, day Date32, n Int64) ENGINE = MergeTree ORDER BY (metric, day)",
        f"CREATE VIEW {db}.schema_info AS SELECT 'UTC' AS timezone, {newer} AS schema_version"]}))
    p.produce([("surveys", json.dumps({"event_id": "e3", "type": "survey", "version": 1,
                                       "occurred_at": "2024-03-01T10:00:00Z", "touchpoint": "call_centre",
                                       "response_id": "r3", "score": 10}).encode(), b"r3")])
    before = snapshot(p, db)

    for args in (["up"], ["worker"], ["worker", "--drain"]):
        proc = p.run(*args, check=False, timeout=120)
        assert proc.returncode != 0, args
        line = one_line_error(proc)
        assert f"schema version {newer}" in line and "newer" in line, line
        assert snapshot(p, db) == before, f"`touchpulse {' '.join(args)}` changed the database"
    from tests.faults.test_crash_and_outages import committed
    assert committed(p) == 0, "a worker consumed from a database it refused"
