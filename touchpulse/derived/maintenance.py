"""Keeping every view right with each batch, at a cost that depends on the batch, not on history.

One batch, in an order that makes a crash at any point harmless:

1. drop messages at offsets already applied (`positions`: a replay after a crash or rebalance);
2. stage the rest in this worker's in-memory tables and copy them into the raw fact tables,
   tagged with the batch id;
3. record the batch as open (`open_batches`);
4. compute, against the state, what changes (changes.py), and insert every table's deltas
   (sums.py) with an insert_deduplication_token of the batch: nothing in the state has moved
   yet, so a retry computes the same deltas, and ClickHouse keeps one copy;
5. update the state, each step idempotent and in an order where a retry recomputes what is
   still missing: customers, then entities, then first copies, then positions;
6. close the batch.

A batch left open by a crash is completed before anything else (`recover`): its messages are
read back from the raw facts by batch id and steps 4-6 run again. Views read only the tables of
step 4, so they are right the moment a batch is acknowledged (after step 6), and a view never
counts a batch twice.

One writer per key: each worker applies the batches of the partitions it owns, one after
another. An order's batch cannot update its customer's list of orders (repeat customers,
loyalty, first-contact resolution) when another worker owns that customer: the batch leaves a
notice (customer, order or call) in
the outbox, the worker publishes it on the internal customers topic keyed by customer id, and
the worker that owns the customer's partition of that topic applies it in one of its batches,
reading the order as it stands then (docs/scaling.md).
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from touchpulse.clickhouse.quoting import literal, q
from touchpulse.clickhouse.schema import raw_columns
from touchpulse.derived.changes import (CUSTOMER_KIND_SET, changes_columns, changes_insert, claims_columns,
                                        claims_insert, customer_changes_insert, notices_insert, seen_key,
                                        state_table)
from touchpulse.derived.loop import (CLOSED_NEW, CLOSED_OLD, PROMOTER_NEW, PROMOTER_OLD, queue_changes_columns,
                                     queue_changes_insert, queue_names)
from touchpulse.derived.spec import FACT_TABLE, MESSAGE_TYPES, key, version_names
from touchpulse.derived.sums import (CALL, CLOSURE, CUSTOMER_LISTS, KEY_COLUMNS, MEASURE_COLUMNS, ORDER, PROMOTER,
                                     by_source, combine, contributions, physical, versions)

log = logging.getLogger("touchpulse.derived")

TYPES = tuple(FACT_TABLE)
STALE_SECONDS = 300  # another worker's open batch this old is taken over (its worker died)


@dataclass
class Applied:
    """What one batch did."""
    batch_id: str = ""
    fresh: int = 0  # messages not applied before
    replayed: int = 0  # messages at offsets already applied, skipped
    changed: dict[str, int] = field(default_factory=dict)  # entities whose winner changed, per type
    notices: "Owed" = field(default_factory=lambda: Owed())  # (customer, kind, id) to publish
    seconds: float = 0.0


@dataclass
class Owed:
    """Customer notices (customer, kind, id) owed to the customers topic, and the outbox rows
    that hold them until they are published (`Maintainer.published`). Iterates as the notices."""
    notices: list[tuple[str, str, str]] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.notices)

    def __iter__(self):
        return iter(self.notices)


def _token(batch_id: str, part: str) -> str:
    """The SETTINGS clause that makes a retried insert of the batch's deltas a no-op (inline: the
    client's per-call settings cost three more round trips). One thread, so the rows go in as
    one block: with a token, block i of an insert is deduplicated as `token_i`, and a retry that
    split its rows differently would let a second block through."""
    return (f"\nSETTINGS insert_deduplication_token = {literal(batch_id + ':' + part)}, max_threads = 1, "
            "max_insert_threads = 1")


def _messages(outcome):
    for items in outcome.accepted.values():
        for a in items:
            yield a.message
    for d in outcome.dead_letters:
        yield d.message
    for n in outcome.notices:
        yield n.message


# What each kind of entity change leaves as notices: (changed type, notice kind, owner column or
# "key", which old versions, which new ones concern the owner).
NOTICES = [("purchase", "order", "customer_id", "1", "1"), ("call", "call", "customer_id", "1", "1"),
           ("survey", "survey", "customer_id", PROMOTER_OLD, PROMOTER_NEW),
           ("followup", "queue", "key", "1", "1"), ("followup_update", "queue", "key", "1", "1")]


def worker_suffix(worker: str) -> str:
    return hashlib.blake2b(worker.encode(), digest_size=5).hexdigest()


class Maintainer:
    """Applies batches for one worker through one ClickHouse client (not thread-safe)."""

    def __init__(self, client, database: str, timezone_name: str, worker: str = "cli"):
        self.client = client
        self.database = database
        self.timezone = timezone_name
        self.worker = worker
        self._sfx = worker_suffix(worker)
        self._prepared = False

    # --- working tables ------------------------------------------------------------------------

    def work(self, name: str) -> str:
        """This worker's in-memory table `name` (per worker, so workers sharing a server never mix),
        quoted for SQL text."""
        return q(self.work_name(name))

    def work_name(self, name: str) -> str:
        return f"_w{self._sfx}_{name}"

    def prepare(self) -> None:
        """(Re)create the working tables: the stage tables follow the raw tables' columns as they
        are now (after a migration too), without their constraints."""
        if self._prepared:
            return
        self.drop_working_tables()
        stmts = []
        for etype, table in FACT_TABLE.items():
            stmts.append(f"CREATE TABLE {q(self.database)}.{self.work('stage_' + table)} ({raw_columns(table)}) "
                         "ENGINE = Memory")
            stmts.append(self._memory(f"claims_{etype}", claims_columns(etype)))
            stmts.append(self._memory(f"changes_{etype}", changes_columns(etype)))
        stmts.append(f"CREATE TABLE {q(self.database)}.{self.work('stage_dead_letters')} "
                     f"({raw_columns('dead_letters')}) ENGINE = Memory")
        stmts.append(f"CREATE TABLE {q(self.database)}.{self.work('stage_notices')} "
                     f"({raw_columns('customer_notices')}) ENGINE = Memory")
        lists = [("orders", ORDER), ("calls", CALL), ("promoters", PROMOTER), ("closures", CLOSURE)]
        stmts.append(self._memory("changes_customer", [("key", "String")] + [
            (f"{age}_{name}", f"Array({t})") for name, t in lists for age in ("old", "new")]))
        stmts.append(self._memory("changes_queue", queue_changes_columns()))
        stmts.append(self._memory("notices_out", [("customer_id", "String"), ("kind", "String"), ("entity_id", "String")]))
        stmts.append(self._memory("deltas", [(c, t) for c, t in KEY_COLUMNS] + [(c, t) for c, _, t in MEASURE_COLUMNS]))
        for s in stmts:
            self.client.command(s)
        self._prepared = True

    def _memory(self, name: str, columns: list[tuple[str, str]]) -> str:
        body = ", ".join(f"{q(n)} {t}" for n, t in columns)
        return f"CREATE TABLE IF NOT EXISTS {q(self.database)}.{self.work(name)} ({body}) ENGINE = Memory"

    def drop_working_tables(self) -> None:
        names = [f"stage_{t}" for t in FACT_TABLE.values()] + ["stage_dead_letters", "stage_notices",
                                                               "changes_customer", "changes_queue", "deltas",
                                                               "notices_out"]
        names += [f"{kind}_{etype}" for etype in TYPES for kind in ("claims", "changes")]
        for name in names:
            self.client.command(f"DROP TABLE IF EXISTS {q(self.database)}.{self.work(name)}")
        self._prepared = False

    def _truncate(self) -> None:
        self.client.command(f"TRUNCATE ALL TABLES FROM {q(self.database)} LIKE {literal(self.work_name('') + '%')}")

    # --- one batch -----------------------------------------------------------------------------

    def next_offsets(self, partitions: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """Per topic partition, the first offset not yet applied."""
        if not partitions:
            return {}
        keys = [f"{t}#{p}" for t, p in partitions]
        rows = self.client.query(f"SELECT k, next_offset FROM {q(self.database)}.positions WHERE k IN {{keys:Array(String)}}",
                                 parameters={"keys": keys}).result_rows
        found = dict(rows)
        return {(t, p): int(found.get(f"{t}#{p}", 0)) for t, p in partitions}

    def apply(self, stage_writer, outcome) -> Applied:
        """Apply one batch: `stage_writer(outcome, tables, batch_id)` inserts the batch's fresh
        accepted events and dead letters into the given stage tables (clickhouse/writer.py)."""
        started = time.perf_counter()
        self.prepare()
        total = outcome.accepted_count + len(outcome.dead_letters) + len(outcome.notices)
        outcome = self._fresh_only(outcome)
        done = Applied(fresh=outcome.accepted_count + len(outcome.dead_letters) + len(outcome.notices))
        done.replayed = total - done.fresh
        if not done.fresh:
            return done
        done.batch_id = batch_id = str(uuid.uuid4())
        self._truncate()
        stage_writer(outcome, self.stage_tables(), batch_id)
        present = [etype for etype in TYPES if outcome.accepted.get(etype) or (etype == "followup" and outcome.followups)]
        for etype in present:
            table = FACT_TABLE[etype]
            self.client.command(f"INSERT INTO {q(self.database)}.{table} SELECT * FROM {q(self.database)}.{self.work('stage_' + table)}")
        if outcome.dead_letters:
            self.client.command(f"INSERT INTO {q(self.database)}.dead_letters SELECT * FROM "
                                f"{q(self.database)}.{self.work('stage_dead_letters')}")
        if outcome.notices:
            self.client.command(f"INSERT INTO {q(self.database)}.customer_notices SELECT * FROM "
                                f"{q(self.database)}.{self.work('stage_notices')}")
        parts = sorted({f"{m.topic}#{m.partition}" for m in _messages(outcome)})
        self.client.command(f"INSERT INTO {q(self.database)}.open_batches (batch_id, worker, opened, partitions) "
                            f"VALUES ({literal(batch_id)}, {literal(self.worker)}, now64(3), "
                            f"[{', '.join(literal(p) for p in parts)}])")
        done.changed, entry = self._derive(batch_id, present, bool(outcome.dead_letters), bool(outcome.notices))
        self._close(batch_id)
        done.notices = self._owed(entry)
        done.seconds = time.perf_counter() - started
        return done

    def stage_tables(self) -> dict[str, str]:
        """Event type (and "dead_letters") -> this worker's stage table, unquoted database-relative."""
        out = {etype: self.work_name("stage_" + table) for etype, table in FACT_TABLE.items()}
        out["dead_letters"] = self.work_name("stage_dead_letters")
        out["notices"] = self.work_name("stage_notices")
        return out

    def _fresh_only(self, outcome):
        partitions = {(m.topic, m.partition) for m in _messages(outcome)}
        nxt = self.next_offsets(partitions)
        if all(v == 0 for v in nxt.values()):
            return outcome

        def fresh(m) -> bool:
            return m.offset >= nxt[(m.topic, m.partition)]

        outcome.accepted = {t: [a for a in items if fresh(a.message)] for t, items in outcome.accepted.items()}
        outcome.dead_letters = [d for d in outcome.dead_letters if fresh(d.message)]
        outcome.notices = [n for n in outcome.notices if fresh(n.message)]
        outcome.followups = [f for f in outcome.followups if fresh(f.message)]
        return outcome

    def _close(self, batch_id: str) -> None:
        self.client.command(f"DELETE FROM {q(self.database)}.open_batches WHERE batch_id = {literal(batch_id)}")

    def _derive(self, batch_id: str, present: list[str], dead: bool, notices: bool = False
                ) -> tuple[dict[str, int], str | None]:
        """Steps 3 to 5 for the staged batch."""
        db = q(self.database)
        c = self.client
        for etype in present:
            c.command(claims_insert(db, etype, self.work("stage_" + FACT_TABLE[etype]), self.work(f"claims_{etype}")))
        counts = " UNION ALL ".join(f"SELECT {literal(etype)}, countIf(displaces = 1) FROM {db}.{self.work('claims_' + etype)}"
                                    for etype in present)
        displaced = {etype: int(n) for etype, n in c.query(counts).result_rows} if present else {}
        for etype in present:
            c.command(changes_insert(db, etype, self.work(f"claims_{etype}"), self.work(f"changes_{etype}"),
                                     displaced[etype] > 0))
        if notices:  # the notices of the customers topic, against the state as it stands
            stage = self.work("stage_notices")
            kinds = set(c.query(f"SELECT groupUniqArray(kind) FROM {db}.{stage}").result_rows[0][0])
            if kinds & CUSTOMER_KIND_SET:
                c.command(customer_changes_insert(db, stage, self.work("changes_customer"), kinds))
            if "queue" in kinds:
                c.command(queue_changes_insert(db, stage, self.work("changes_queue")))
        counted = [(etype, self.work("changes_" + etype)) for etype in present]
        if notices:
            counted += [("customer", self.work("changes_customer")), ("queue", self.work("changes_queue"))]
        counts = " UNION ALL ".join(f"SELECT {literal(what)}, count() FROM {db}.{table}" for what, table in counted)
        changed = {what: int(n) for what, n in c.query(counts).result_rows} if counted else {}
        # Notices for the owners of customers and follow-ups, computed again if need be: nothing moved.
        # One outbox row holds them, under a key of this attempt (a batch completed twice, by a
        # recovery, keeps both attempts' notices: publishing one twice changes nothing).
        out = self.work("notices_out")
        owed = [notices_insert(db, self.work(f"changes_{etype}"), kind, out, owner, keep_old, keep_new)
                for etype, kind, owner, keep_old, keep_new in NOTICES if changed.get(etype)]
        if changed.get("queue"):
            owed.append(notices_insert(db, self.work("changes_queue"), "closure", out, "customer_id",
                                       CLOSED_OLD, CLOSED_NEW))
        entry = f"{batch_id}#{uuid.uuid4().hex[:12]}" if owed else None
        for stmt in owed:
            c.command(stmt)
        if owed:
            c.command(f"INSERT INTO {db}.outbox (k, batch_id, notices) SELECT {literal(entry)}, {literal(batch_id)}, "
                      f"groupUniqArray((customer_id, kind, entity_id)) FROM {db}.{out} HAVING count() > 0")
        # Step 4: every delta of the batch in one insert (one part), deduplicated by the batch's token.
        tz = literal(self.timezone)
        deltas = f"{db}.{self.work('deltas')}"
        for etype in present:
            if changed[etype] and by_source(etype):
                rows_of = versions(f"{db}.{self.work('changes_' + etype)}", version_names(etype))
                c.command(f"INSERT INTO {deltas} {contributions(etype, rows_of, tz)}")
        if changed.get("customer"):
            changes = f"{db}.{self.work('changes_customer')}"
            c.command(f"INSERT INTO {deltas} {contributions('customer', versions(changes, list(CUSTOMER_LISTS)), tz)}")
        if changed.get("queue"):
            rows_of = versions(f"{db}.{self.work('changes_queue')}", queue_names())
            c.command(f"INSERT INTO {deltas} {contributions('queue', rows_of, tz)}")
        messages = [etype for etype in present if etype in MESSAGE_TYPES]
        if messages or dead:
            c.command(f"INSERT INTO {deltas} {self._ingest_select(messages, dead)}")
        c.command(combine(db, "sums", deltas) + _token(batch_id, "sums"))
        # Step 5: state, in this order (see the module docstring).
        if changed.get("customer"):
            c.command(f"INSERT INTO {db}.customers_state (customer_id, {', '.join(CUSTOMER_LISTS)}) "
                      f"SELECT key, {', '.join('new_' + n for n in CUSTOMER_LISTS)} FROM {db}.{self.work('changes_customer')}")
        if changed.get("queue"):
            c.command(f"INSERT INTO {db}.queue_state (followup_id, {', '.join(queue_names())}) "
                      f"SELECT key, {', '.join('new_' + n for n in queue_names())} FROM {db}.{self.work('changes_queue')}")
        for etype in present:
            if changed[etype]:
                k = key(etype)
                names = version_names(etype)
                c.command(f"INSERT INTO {db}.{state_table(etype)} ({k}, {', '.join(names)}) "
                          f"SELECT key, {', '.join('new_' + n for n in names)} FROM {db}.{self.work(f'changes_{etype}')}")
        if present:
            firsts = " UNION ALL ".join(
                f"SELECT {seen_key(etype, 'event_id')} AS k, {key(etype)} AS entity, src_timestamp, src_topic, "
                f"src_partition, src_offset FROM {db}.{self.work('claims_' + etype)}" for etype in present)
            c.command(f"INSERT INTO {db}.seen (k, entity, src_timestamp, src_topic, src_partition, src_offset) {firsts}")
        self._positions(messages, dead, notices)
        return changed, entry

    def _owed(self, entry: str | None) -> Owed:
        """The notices the batch just derived put in its outbox row `entry`."""
        if entry is None:
            return Owed()
        rows = self.client.query(f"SELECT DISTINCT customer_id, kind, entity_id FROM "
                                 f"{q(self.database)}.{self.work('notices_out')}").result_rows
        return Owed([tuple(r) for r in rows], [entry]) if rows else Owed()

    def _stages(self, present: list[str], dead: bool) -> list[tuple[str, str]]:
        """The stage tables of events and dead letters (what pipeline health counts)."""
        out = [(etype, f"{q(self.database)}.{self.work('stage_' + FACT_TABLE[etype])}") for etype in present]
        if dead:
            out.append(("dead_letters", f"{q(self.database)}.{self.work('stage_dead_letters')}"))
        return out

    def _ingest_select(self, present: list[str], dead: bool) -> str:
        """Pipeline health per Kafka message: every fresh message once; the first copy of an
        event_id accepted on its arrival day (moved when a copy with an earlier position displaces
        it); dead letters rejected; touchpoint activity; the latest arrivals; and how long after it
        was produced each event became visible, which is now (the insert of the sums makes it so)."""
        db = q(self.database)
        tz = literal(self.timezone)
        stages = self._stages(present, dead)
        every = " UNION ALL ".join(
            f"SELECT {literal('dead_letter' if etype == 'dead_letters' else etype)} AS kind, "
            f"{'type' if etype == 'dead_letters' else literal(etype)} AS type, src_timestamp, "
            f"{'toDateTime64(src_timestamp, 6)' if etype == 'dead_letters' else 'occurred_at'} AS occurred_at, "
            f"{chr(39) * 2 if etype == 'dead_letters' else 'touchpoint'} AS touchpoint, ingested_at FROM {stage}"
            for etype, stage in stages)
        every = f"({every})"
        counts = ("accepted", "messages", "rejected")
        parts = [
            physical("ingest", f"SELECT toDate32(src_timestamp, {tz}) AS day, type, toInt64(0) AS accepted, "
                               f"toInt64(countIf(kind != 'dead_letter')) AS messages, "
                               f"toInt64(countIf(kind = 'dead_letter')) AS rejected FROM {every} GROUP BY day, type",
                     ("day", "type"), counts),
            physical("activity", f"SELECT toDate32(toDate(occurred_at, {tz})) AS day, touchpoint, type, "
                                 f"toInt64(count()) AS messages FROM {every} WHERE kind != 'dead_letter' "
                                 "GROUP BY day, touchpoint, type", ("day", "touchpoint", "type"), ("messages",)),
            physical("latest", f"SELECT kind AS type, max(ingested_at) AS last_ingested, "
                               f"max(occurred_at) AS last_occurred FROM {every} GROUP BY kind",
                     ("type",), ("last_ingested", "last_occurred")),
            physical("freshness", f"SELECT toDate32(now64(3), {tz}) AS day, kind AS type, "
                                  f"intDiv(greatest(dateDiff('millisecond', src_timestamp, now64(3)), 0), 10) AS lag_10ms, "
                                  f"toInt64(count()) AS events FROM {every} GROUP BY day, type, lag_10ms",
                     ("day", "type", "lag_10ms"), ("events",))]
        if present:
            claims = " UNION ALL ".join(
                f"SELECT {literal(etype)} AS type, toDate32(src_timestamp, {tz}) AS day, toInt64(1) AS a "
                f"FROM {db}.{self.work('claims_' + etype)} UNION ALL SELECT {literal(etype)}, toDate32(v_ts, {tz}), "
                f"toInt64(-1) FROM {db}.{self.work('claims_' + etype)} WHERE displaces = 1" for etype in present)
            parts.append(physical("ingest", f"SELECT day, type, sum(a) AS accepted, toInt64(0) AS messages, "
                                            f"toInt64(0) AS rejected FROM ({claims}) GROUP BY day, type",
                                  ("day", "type"), counts))
        return "\nUNION ALL\n".join(parts)

    def _positions(self, present: list[str], dead: bool, notices: bool) -> None:
        stages = [stage for _, stage in self._stages(present, dead)]
        if notices:
            stages.append(f"{q(self.database)}.{self.work('stage_notices')}")
        if not stages:
            return
        stages = " UNION ALL ".join(f"SELECT src_topic, src_partition, src_offset FROM {stage}" for stage in stages)
        self.client.command(f"""INSERT INTO {q(self.database)}.positions (k, next_offset)
SELECT s.k, greatest(s.next, p.next_offset)
FROM (
    SELECT concat(src_topic, '#', toString(src_partition)) AS k, max(src_offset) + 1 AS next
    FROM ({stages}) GROUP BY k
) AS s
LEFT JOIN {q(self.database)}.positions AS p ON p.k = s.k
SETTINGS join_algorithm = 'direct', join_use_nulls = 0""")

    def _count(self, sql: str) -> int:
        return int(self.client.query(sql).result_rows[0][0])

    # --- recovery ------------------------------------------------------------------------------

    def open_batches(self) -> list[tuple[str, str, datetime, list[str]]]:
        return [tuple(r) for r in self.client.query(
            f"SELECT batch_id, worker, opened, partitions FROM {q(self.database)}.open_batches ORDER BY opened"
        ).result_rows]

    def recover(self, everyone: bool = False, partitions: set[tuple[str, int]] = frozenset()) -> int:
        """Complete the open batches of this worker, of the topic partitions it was just given
        (whoever left them open), of any worker whose batch has been open STALE_SECONDS, or of
        everyone; returns how many. A batch left half applied must be finished before its
        messages are seen again. Finishing a batch its own worker is still finishing is harmless:
        the deltas go in once (the token), every state step is idempotent."""
        now = datetime.now(timezone.utc)
        mine = {f"{t}#{p}" for t, p in partitions}
        done = 0
        for batch_id, worker, opened, parts in self.open_batches():
            age = (now - opened.replace(tzinfo=timezone.utc)).total_seconds()
            if not (everyone or worker == self.worker or age >= STALE_SECONDS or mine & set(parts)):
                continue
            log.warning("completing batch %s, left open %.0f s ago by %s", batch_id, age,
                        "this worker" if worker == self.worker else worker)
            self.prepare()
            self._truncate()
            present = []
            for etype, table in FACT_TABLE.items():
                n = self._restage(table, self.work("stage_" + table), batch_id)
                if n:
                    present.append(etype)
            dead = self._restage("dead_letters", self.work("stage_dead_letters"), batch_id) > 0
            notices = self._restage("customer_notices", self.work("stage_notices"), batch_id) > 0
            self._derive(batch_id, present, dead, notices)
            self._close(batch_id)
            done += 1
        return done

    def outbox(self) -> Owed:
        """Every notice not yet published (after a crash they are published again: a notice
        applied twice changes nothing)."""
        rows = self.client.query(f"SELECT k, arrayMap(n -> [n.1, n.2, n.3], notices) FROM "
                                 f"{q(self.database)}.outbox").result_rows
        notices = sorted({tuple(n) for _, owed in rows for n in owed})
        return Owed(notices, [k for k, _ in rows])

    def published(self, owed: Owed) -> None:
        """The notices are on the customers topic: their outbox rows go (by key: a point delete)."""
        for entry in owed.entries:
            self.client.command(f"DELETE FROM {q(self.database)}.outbox WHERE k = {literal(entry)}")

    def _restage(self, table: str, stage: str, batch_id: str) -> int:
        self.client.command(f"INSERT INTO {q(self.database)}.{stage} SELECT * FROM {q(self.database)}.{table} "
                            f"WHERE batch_id = {literal(batch_id)} LIMIT 1 BY src_topic, src_partition, src_offset")
        return self._count(f"SELECT count() FROM {q(self.database)}.{stage}")
