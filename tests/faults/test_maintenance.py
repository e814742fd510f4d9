"""The per-batch maintenance of touchpulse/derived/maintenance.py against the real engine (chDB):
a batch interrupted at any statement, completed by the same worker after a restart or by another
worker that took its partitions over, replayed with other batch boundaries, or completed twice at
once, leaves every view exactly as a calm run does, and `reconcile` finds nothing to repair.

A "crash" is the writer's client refusing every statement from the k-th on, so the batch stops
exactly there, as a kill -9 would leave it (ClickHouse commits each statement on its own).
"""

from __future__ import annotations

import threading
import zlib
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from tests.oracle.compare import KEYS, mismatches
from tests.oracle.reference import compute
from tests.oracle.streams import build_stream, oracle_input, registry_targets
from touchpulse.clickhouse.queries import query_view
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.clickhouse.writer import FactWriter, LocalNotices
from touchpulse.core.touchpoints import load_registry
from touchpulse.derived.rebuild import reconcile
from touchpulse.settings import load_settings
from touchpulse.streams.batch import Message, process_batch
from touchpulse.streams.notices import single as notice_value

TOPIC_TYPES = {f"touchpulse.{t}": e for e, t in
               {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
                "followup_update": "followup_updates"}.items()}
REGISTRY = load_registry()
TARGETS, DEFAULTS = registry_targets()
TZ = "Europe/Moscow"
STREAM = build_stream(424242, TZ, size=120)


class Crash(Exception):
    """The process died here."""


class CrashingClient:
    """The writer's client, dying at its `at`-th statement (commands, queries and inserts alike)."""

    def __init__(self, client, at: int | None):
        self._client, self.at, self.count = client, at, 0

    def _tick(self):
        self.count += 1
        if self.at is not None and self.count >= self.at:
            raise Crash(f"statement {self.count}")

    def command(self, *a, **k):
        self._tick()
        return self._client.command(*a, **k)

    def query(self, *a, **k):
        self._tick()
        return self._client.query(*a, **k)

    def insert(self, *a, **k):
        self._tick()
        return self._client.insert(*a, **k)

    def __getattr__(self, name):
        return getattr(self._client, name)


def messages(partitions: int = 2, salt: bytes = b"") -> list[Message]:
    """The stream as Kafka would deliver it: each record on the partition of its key."""
    clock = datetime(2024, 6, 1, tzinfo=timezone.utc)
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for topic, value, key in STREAM:
        t = f"touchpulse.{topic}"
        p = zlib.crc32(salt + key) % partitions if key else 0
        clock += timedelta(milliseconds=1)
        out.append(Message(t, p, offsets.setdefault((t, p), 0), key, value, clock))
        offsets[(t, p)] += 1
    return out


def fresh_db(client) -> str:
    db = f"m_{uuid.uuid4().hex[:10]}"
    apply_schema(client, SchemaOptions(db, TZ), REGISTRY)
    return db


def write(client, db: str, batch: list[Message], worker: str = "w1", loop: bool = True):
    """Write a batch as a worker owning every partition would: its customer notices come back to
    it as the next batch (LocalNotices stands in for the customers topic), unless `loop` is off."""
    outcome = process_batch(batch, TOPIC_TYPES, REGISTRY, followup_below=8,
                            now=batch[-1].timestamp if batch else None)
    writer = FactWriter(client, db, worker=worker)
    return (LocalNotices(writer) if loop else writer).write(outcome)


def views(client, db: str) -> dict[str, list[dict]]:
    settings = load_settings(env={"TOUCHPULSE_DATABASE": db, "TOUCHPULSE_TIMEZONE": TZ}, dotenv=None)
    out = {}
    for view in KEYS:
        columns, rows = query_view(settings, view, client=client)
        out[view] = [dict(zip(columns, r)) for r in rows]
    return out


def expected(msgs: list[Message]) -> dict[str, list[dict]]:
    return compute(oracle_input(STREAM), TZ, TARGETS, DEFAULTS, arrived_at=[m.timestamp for m in msgs])


def assert_exact(client, db: str, msgs: list[Message], check_reconcile: bool = True) -> None:
    got, want = views(client, db), expected(msgs)
    problems = [p for view in KEYS for p in mismatches(view, got[view], want[view])]
    assert not problems, "\n".join(problems[:20])
    if check_reconcile:
        assert reconcile(client, db, TZ) == []


def halves(msgs: list[Message]) -> tuple[list[Message], list[Message]]:
    half = len(msgs) // 2
    return msgs[:half], msgs[half:]


def statements_of_one_batch(chdb_client) -> int:
    db = fresh_db(chdb_client)
    first, second = halves(messages())
    write(chdb_client, db, first)
    counting = CrashingClient(chdb_client, None)
    write(counting, db, second, loop=False)
    return counting.count


def test_a_calm_run_is_exact(chdb_client):
    db = fresh_db(chdb_client)
    msgs = messages()
    for batch in halves(msgs):
        write(chdb_client, db, batch)
    assert_exact(chdb_client, db, msgs)


def test_a_batch_replayed_whole_or_with_other_boundaries_changes_nothing(chdb_client):
    db = fresh_db(chdb_client)
    msgs = messages()
    first, second = halves(msgs)
    write(chdb_client, db, first)
    write(chdb_client, db, second)
    # After a crash Kafka re-delivers from the committed offset, in batches cut elsewhere.
    applied = write(chdb_client, db, msgs[len(msgs) // 3:])
    assert applied.fresh == 0 and applied.replayed == len(msgs) - len(msgs) // 3
    assert_exact(chdb_client, db, msgs)


@pytest.fixture(scope="module")
def statements(chdb_client) -> int:
    n = statements_of_one_batch(chdb_client)
    assert n < MAX_STATEMENTS, f"a batch now takes {n} statements: raise MAX_STATEMENTS"
    return n


MAX_STATEMENTS = 110


@pytest.mark.parametrize("step", range(1, MAX_STATEMENTS))
def test_a_crash_at_any_statement_then_a_restart_leaves_the_views_exact(chdb_client, statements, step):
    """The worker dies at statement `step` of its second batch; the restarted worker completes the
    open batch before anything else, then Kafka re-delivers the second half in other batches."""
    if step > statements:
        pytest.skip(f"a batch takes {statements} statements")
    db = fresh_db(chdb_client)
    msgs = messages()
    first, second = halves(msgs)
    write(chdb_client, db, first)
    try:
        write(CrashingClient(chdb_client, step), db, second, loop=False)
    except Crash:
        pass
    restarted = FactWriter(chdb_client, db, worker="w1")
    restarted.recover()
    for part in (second[:7], second[7:]):  # re-delivered, cut differently
        outcome = process_batch(part, TOPIC_TYPES, REGISTRY, followup_below=8, now=part[-1].timestamp)
        LocalNotices(restarted).write(outcome)
    LocalNotices(restarted).write(process_batch([], TOPIC_TYPES, REGISTRY, followup_below=8))  # notices left over
    assert_exact(chdb_client, db, msgs, check_reconcile=step % 10 == 0)


def test_the_worker_taking_over_the_partitions_completes_the_batch_left_open_first(chdb_client):
    """Worker w1 dies half way through a batch; its partitions go to w2, which must complete w1's
    batch before it processes the re-delivered messages, or they would count twice."""
    db = fresh_db(chdb_client)
    msgs = messages()
    first, second = halves(msgs)
    write(chdb_client, db, first, worker="w1")
    total = statements_of_one_batch(chdb_client)
    try:  # deltas in, state not yet moved: the worst moment
        write(CrashingClient(chdb_client, total - 4), db, second, worker="w1", loop=False)
    except Crash:
        pass
    w2 = FactWriter(chdb_client, db, worker="w2")
    assert w2.recover() == 0, "a live worker's fresh batch is not taken over unasked"
    assigned = {(m.topic, m.partition) for m in second}
    assert w2.maintainer.recover(partitions=assigned) == 1
    outcome = process_batch(second, TOPIC_TYPES, REGISTRY, followup_below=8, now=second[-1].timestamp)
    assert LocalNotices(w2).write(outcome).fresh == 0  # and w2 delivers the notices left in the outbox
    assert_exact(chdb_client, db, msgs)


def test_completing_a_batch_while_its_own_worker_still_does_is_harmless(chdb_client, chdb_path):
    """A slow worker and the one that took its partitions over finish the same batch at once
    (separate clients, two threads, every interleaving the scheduler picks)."""
    import clickhouse_connect
    db = fresh_db(chdb_client)
    msgs = messages()
    first, second = halves(msgs)
    write(chdb_client, db, first, worker="w1")
    total = statements_of_one_batch(chdb_client)
    try:  # stalls between its deltas and its state
        write(CrashingClient(chdb_client, total - 6), db, second, worker="w1", loop=False)
    except Crash:
        pass
    other = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    errors = []

    def finish(client, worker, kw):
        try:
            FactWriter(client, db, worker=worker).maintainer.recover(**kw)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=finish, args=(chdb_client, "w1", {})),
               threading.Thread(target=finish, args=(other, "w2", {"everyone": True}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert write(chdb_client, db, second, worker="w2").fresh == 0, "the batch was completed"
    write(chdb_client, db, [], worker="w2")  # the notices it left
    assert_exact(chdb_client, db, msgs)


def test_an_earlier_copy_arriving_later_takes_its_event_id_over(chdb_client):
    """Two copies of one event_id with different content; the copy with the earlier Kafka
    timestamp arrives second (another partition): it is the one that counts, on its own entity,
    and ingest_daily moves the accepted message to its arrival day."""
    db = fresh_db(chdb_client)

    def survey(entity: str, score: int) -> bytes:
        return orjson.dumps({"event_id": "ev-1", "type": "survey", "version": 1,
                             "occurred_at": "2024-05-10T10:00:00Z", "touchpoint": "call_centre",
                             "response_id": entity, "score": score})

    late = Message("touchpulse.surveys", 1, 0, None, survey("r-late", 3), datetime(2024, 5, 12, tzinfo=timezone.utc))
    early = Message("touchpulse.surveys", 0, 0, None, survey("r-early", 10), datetime(2024, 5, 11, tzinfo=timezone.utc))
    write(chdb_client, db, [late])
    write(chdb_client, db, [early])
    got = views(chdb_client, db)
    [row] = got["nps_daily"]
    assert (row["responses"], row["promoters"], row["detractors"]) == (1, 1, 0)
    ingest = {(str(r["day"]), r["accepted"], r["duplicates"]) for r in got["ingest_daily"]}
    assert ingest == {("2024-05-11", 1, 0), ("2024-05-12", 0, 1)}
    assert reconcile(chdb_client, db, TZ) == []


def test_reconcile_reports_a_derived_table_that_went_wrong(chdb_client):
    db = fresh_db(chdb_client)
    msgs = messages()
    write(chdb_client, db, msgs)
    assert reconcile(chdb_client, db, TZ) == []
    chdb_client.command(f"INSERT INTO {db}.sums (metric, day, touchpoint, d1, d2, c1) "
                        "VALUES ('survey', '2024-06-01', 'call_centre', 'own', 'transactional', 1)")
    [diff] = reconcile(chdb_client, db, TZ)
    assert diff.table == "sums" and diff.cells == 1


def _purchase(i: int, order: str, customer: str, day: int, amount: str, status: str = "completed") -> bytes:
    return orjson.dumps({"event_id": f"p{i}", "type": "purchase", "version": 1,
                         "occurred_at": f"2024-05-{day:02d}T{8 + i % 10:02d}:{i % 60:02d}:00+03:00",
                         "touchpoint": "retail_store" if i % 3 else "website", "customer_id": customer,
                         "order_id": order, "amount": amount, "currency": "EUR", "status": status})


def test_two_workers_touching_one_customer_at_the_same_moment_stay_exact(chdb_client, chdb_path):
    """Workers w0 and w1 own partitions 0 and 1 of every topic (as Kafka would assign them). Orders
    are keyed by order id, so one customer's orders sit on both partitions and both workers apply
    them at the same moment, in two threads with their own clients. Each batch leaves notices for
    the customer's partition of the customers topic; only its owner applies them. Repeat customers
    and loyalty then match the reference exactly."""
    import clickhouse_connect
    db = fresh_db(chdb_client)
    records, clock = [], datetime(2024, 5, 20, tzinfo=timezone.utc)
    for i in range(240):
        customer = f"cust-{i % 12}"
        order = f"ord-{i % 150}"  # later versions of an order: refunds, another customer, another day
        status = "refunded" if i >= 150 and i % 4 == 0 else "completed"
        if i >= 150 and i % 5 == 0:
            customer = f"cust-{(i + 1) % 12}"
        records.append(("purchases", _purchase(i, order, customer, 1 + i % 18, f"{10 + i % 7}.50", status),
                        order.encode()))
    offsets: dict[tuple[str, int], int] = {}
    batches: dict[int, list[Message]] = {0: [], 1: []}
    for topic, value, key in records:
        p = zlib.crc32(key) % 2
        clock += timedelta(milliseconds=1)
        t = f"touchpulse.{topic}"
        batches[p].append(Message(t, p, offsets.setdefault((t, p), 0), key, value, clock))
        offsets[(t, p)] += 1
    notices: dict[int, list[tuple[str, str, str]]] = {0: [], 1: []}
    lock = threading.Lock()
    clients = {0: chdb_client, 1: clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")}
    errors = []

    def own_orders(p: int) -> None:
        try:
            writer = FactWriter(clients[p], db, worker=f"w{p}")
            msgs = batches[p]
            for k in range(0, len(msgs), 15):  # small batches: many interleavings
                part = msgs[k:k + 15]
                applied = writer.write(process_batch(part, TOPIC_TYPES, REGISTRY, followup_below=8,
                                                     now=part[-1].timestamp))
                with lock:  # the customers topic, partitioned by customer
                    for notice in applied.notices:
                        notices[zlib.crc32(notice[0].encode()) % 2].append(notice)
                writer.published(applied.notices)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def own_customers(p: int) -> None:
        try:
            writer = FactWriter(clients[p], db, worker=f"w{p}")
            mine = [Message("touchpulse.customers", p, k, c.encode(), notice_value(c, kind, e), clock)
                    for k, (c, kind, e) in enumerate(notices[p])]
            for k in range(0, len(mine), 10):
                writer.write(process_batch(mine[k:k + 10], TOPIC_TYPES, REGISTRY, followup_below=8,
                                           notices_topic="touchpulse.customers"))
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    for stage in (own_orders, own_customers):
        threads = [threading.Thread(target=stage, args=(p,)) for p in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
    assert {n[0] for n in notices[0]} & {n[0] for n in notices[1]} == set(), "a customer has one owner"
    got = views(chdb_client, db)
    want = compute([(t[:-1], v) for t, v, _ in records], TZ, TARGETS, DEFAULTS)
    problems = [p for view in ("purchases_daily", "loyalty_monthly") for p in mismatches(view, got[view], want[view])]
    assert not problems, "\n".join(problems[:20])


def test_a_rebuild_keeps_every_partition_position_where_the_worker_left_it(chdb_client):
    """`up` after a migration, `reconcile --repair` and the bench rebuild the derived data from
    the facts; the positions they rebuild must be those the worker kept, or a re-delivered message
    would be applied twice (or a new one skipped). A partition's messages are in two raw tables,
    its type's facts and dead_letters, and the later of the two decides."""
    from touchpulse.derived.rebuild import rebuild
    db = fresh_db(chdb_client)
    msgs = messages()
    for batch in halves(msgs):
        write(chdb_client, db, batch)
    dead = chdb_client.query(f"SELECT count() FROM {db}.dead_letters").result_rows[0][0]
    assert dead, "the stream should hold malformed messages"

    def positions():
        return chdb_client.query(f"SELECT k, next_offset FROM {db}.positions ORDER BY k").result_rows

    live = positions()
    ends: dict[str, int] = {}
    for m in msgs:
        ends[f"{m.topic}#{m.partition}"] = m.offset + 1
    assert {k: n for k, n in live if not k.startswith(LocalNotices.TOPIC)} == ends
    rebuild(chdb_client, db, TZ)
    assert positions() == live
    assert reconcile(chdb_client, db, TZ) == []


def _outbox(client, db: str) -> list[tuple[str, set]]:
    rows = client.query(f"SELECT k, arrayMap(n -> (n.1, n.2, n.3), notices) FROM {db}.outbox").result_rows
    return [(k, {tuple(n) for n in owed}) for k, owed in rows]


def test_a_batch_owes_its_notices_in_one_outbox_row_deleted_once_published(chdb_client):
    db = fresh_db(chdb_client)
    applied = write(chdb_client, db, messages()[:60], loop=False)
    assert len(applied.notices) > 1 and applied.notices.entries
    [(entry, owed)] = _outbox(chdb_client, db)
    assert entry == applied.notices.entries[0] and entry.startswith(applied.batch_id + "#")
    assert owed == set(applied.notices)
    FactWriter(chdb_client, db, worker="w1").published(applied.notices)
    assert _outbox(chdb_client, db) == []


def test_up_converts_a_version_4_outbox_in_place_without_recomputing_anything(chdb_client, caplog):
    """Version 4 kept a row per notice; `up` carries them over as one row per batch, publishes
    nothing itself and leaves the derived data as it is (no rebuild: only the outbox changed)."""
    db = fresh_db(chdb_client)
    msgs = messages()
    first, second = halves(msgs)
    write(chdb_client, db, first)
    applied = write(chdb_client, db, second, loop=False)  # its notices stay owed
    owed = set(applied.notices)
    chdb_client.command(f"DROP TABLE {db}.outbox")
    chdb_client.command(f"CREATE TABLE {db}.outbox (k String, customer_id String, kind String, entity_id String, "
                        "batch_id String) ENGINE = EmbeddedRocksDB PRIMARY KEY k")
    chdb_client.insert(f"{db}.outbox", [("|".join(n), *n, applied.batch_id) for n in owed],
                       column_names=["k", "customer_id", "kind", "entity_id", "batch_id"])
    chdb_client.command(f"CREATE OR REPLACE VIEW {db}.schema_info AS SELECT '{TZ}' AS timezone, 4 AS schema_version")
    sums = chdb_client.query(f"SELECT count(), sum(c1), sum(c2) FROM {db}.sums").result_rows
    with caplog.at_level("INFO", logger="touchpulse"):
        apply_schema(chdb_client, SchemaOptions(db, TZ), REGISTRY)
    assert "from schema version 4 to 5" in caplog.text
    assert "computing the derived data" not in caplog.text
    assert chdb_client.query(f"SELECT count(), sum(c1), sum(c2) FROM {db}.sums").result_rows == sums
    assert _outbox(chdb_client, db) == [(applied.batch_id + "#v4", owed)]
    LocalNotices(FactWriter(chdb_client, db, worker="w1")).write(process_batch([], TOPIC_TYPES, REGISTRY,
                                                                               followup_below=8))
    assert _outbox(chdb_client, db) == []
    assert_exact(chdb_client, db, msgs)
