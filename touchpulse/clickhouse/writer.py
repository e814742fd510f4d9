"""The ClickHouse sink: one columnar insert per table per batch, then the derived data.

Accepted events and dead letters go to this worker's stage tables, from which the maintainer
(touchpulse/derived/maintenance.py) copies them into the raw facts and updates everything the
views read; rows carry their Kafka position, so writing the same batch twice changes no number.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Iterable

from clickhouse_connect.datatypes.temporal import DateTime64

from touchpulse.clickhouse.schema import FACT_TABLES, q
from touchpulse.core.events import COMMON_COLUMNS, TYPE_COLUMNS
from touchpulse.core.timestamps import parse_timestamp
from touchpulse.derived.maintenance import Applied, Maintainer, Owed

log = logging.getLogger(__name__)

POSITION_COLUMNS = ("src_topic", "src_partition", "src_offset", "src_timestamp")
DEAD_LETTER_COLUMNS = ("type", "reason", "field", "message_key", "raw")
NOTICE_COLUMNS = ("customer_id", "kind", "entity_id")
FOLLOWUP_COLUMNS = ("followup_id", "event_id", "response_id", "customer_id", "touchpoint", "brand", "kind",
                    "score", "comment", "occurred_at", "due_at", "created_at")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class FactWriter:
    def __init__(self, client, database: str, timezone: str | None = None, worker: str = "cli"):
        """`timezone`: the business zone the derived data is kept in (default: the schema's)."""
        self.client = client
        self.database = database
        if timezone is None:
            from touchpulse.clickhouse.setup import views_timezone
            timezone = views_timezone(client, database) or "UTC"
        self.maintainer = Maintainer(client, database, timezone, worker)
        self._types: dict[str, tuple] = {}  # table -> (column types, DateTime64 units)

    def prepare(self) -> None:
        """Ask every table's column types now (a query each), and let
        clickhouse-connect import pandas and numpy (it checks every insert's data against their
        types; the import takes ~0.7 s), so that the first batch pays for neither."""
        from clickhouse_connect.driver import options
        options.pd, options.np  # noqa: B018 - resolved lazily on first access
        self.maintainer.prepare()
        stages = self.maintainer.stage_tables()
        for etype in FACT_TABLES:
            self._column_types(stages[etype], COMMON_COLUMNS + TYPE_COLUMNS[etype] + POSITION_COLUMNS + ("batch_id",))
        self._column_types(stages["followup"], FOLLOWUP_COLUMNS + POSITION_COLUMNS + ("batch_id",))
        self._column_types(stages["dead_letters"], DEAD_LETTER_COLUMNS + POSITION_COLUMNS + ("batch_id",))
        self._column_types(stages["notices"], NOTICE_COLUMNS + POSITION_COLUMNS + ("batch_id",))

    def recover(self, everyone: bool = False) -> int:
        """Complete batches a crash left half applied (before this worker's first batch)."""
        return self.maintainer.recover(everyone)

    def write(self, outcome) -> Applied:
        """The batch's facts, follow-ups raised and everything derived from them."""
        return self.maintainer.apply(self._stage, outcome)

    def _stage(self, outcome, stages: dict[str, str], batch_id: str) -> None:
        if outcome.followups:  # with their survey message's position
            f = outcome.followups
            columns = [["" if x.body[n] is None else x.body[n] for x in f] for n in FOLLOWUP_COLUMNS]
            for n in ("occurred_at", "due_at", "created_at"):
                i = FOLLOWUP_COLUMNS.index(n)
                columns[i] = [parse_timestamp(v) for v in columns[i]]
            columns += _positions(x.message for x in f)
            columns.append([batch_id] * len(f))
            self._insert(stages["followup"], FOLLOWUP_COLUMNS + POSITION_COLUMNS + ("batch_id",), columns)
        for etype, accepted in outcome.accepted.items():
            if not accepted:
                continue
            names = COMMON_COLUMNS + TYPE_COLUMNS[etype]
            columns = _columns([a.event.values for a in accepted], names)
            columns += _positions(a.message for a in accepted)
            columns.append([batch_id] * len(accepted))
            self._insert(stages[etype], names + POSITION_COLUMNS + ("batch_id",), columns)
        if outcome.dead_letters:
            d = outcome.dead_letters
            columns = [[x.type for x in d], [x.reason for x in d], [x.field for x in d],
                       [x.message.key or b"" for x in d], [x.message.value or b"" for x in d]]
            columns += _positions(x.message for x in d)
            columns.append([batch_id] * len(d))
            self._insert(stages["dead_letters"], DEAD_LETTER_COLUMNS + POSITION_COLUMNS + ("batch_id",), columns)
        if outcome.notices:
            n = outcome.notices
            columns = [[x.customer_id for x in n], [x.kind for x in n], [x.entity_id for x in n]]
            columns += _positions(x.message for x in n)
            columns.append([batch_id] * len(n))
            self._insert(stages["notices"], NOTICE_COLUMNS + POSITION_COLUMNS + ("batch_id",), columns)

    def published(self, owed: Owed) -> None:
        """Notices the broker has acknowledged leave the outbox."""
        self.maintainer.published(owed)

    def followed_up(self, event_ids: list[str]) -> dict[str, set[tuple[str, int, int]]]:
        """Where the first copy of each of these survey events is (the copy that raises its
        follow-up), for those already applied."""
        if not event_ids:
            return {}
        result = self.client.query(
            f"SELECT substring(k, {len('survey:') + 1}), src_topic, src_partition, src_offset FROM {q(self.database)}.seen "
            "WHERE k IN {ids:Array(String)}", parameters={"ids": ["survey:" + e for e in event_ids]})
        seen: dict[str, set[tuple[str, int, int]]] = {}
        for event_id, topic, partition, offset in result.result_rows:
            seen.setdefault(event_id, set()).add((topic, partition, offset))
        return seen

    def _insert(self, table: str, names: tuple[str, ...], columns: list[list]) -> None:
        # The column types are asked once per table (a round trip); the context itself is new for
        # every insert (2.5 µs): a reused one keeps its last data until the next insert into its
        # table, i.e. the previous batch of every table, ~24 MB at 20,000 events (tracemalloc).
        types, units = self._column_types(table, names)
        for i, unit in units:
            columns[i] = datetime_ticks(columns[i], unit)
        ctx = self.client.create_insert_context(table, list(names), database=self.database, column_types=types,
                                                column_oriented=True, data=columns)
        self.client.insert(context=ctx)

    def _column_types(self, table: str, names: tuple[str, ...]):
        """(column types, DateTime64 units) of the table's columns `names`."""
        entry = self._types.get(table)
        if entry is None:
            ctx = self.client.create_insert_context(table, list(names), database=self.database,
                                                    column_oriented=True)
            entry = self._types[table] = (ctx.column_types, datetime64_units(ctx.column_types))
        return entry


class LocalNotices:
    """The customers topic without Kafka, for one in-process writer (tests, the bench): the
    notices a batch leaves are delivered back to the same writer as the next batch, as a worker
    that owns every partition would consume them."""

    TOPIC = "local.customers"

    def __init__(self, writer: "FactWriter"):
        self.writer = writer
        self.offset: int | None = None

    def write(self, outcome) -> Applied:
        """Write the batch, then deliver (and write) the notices it left, and those that these
        leave (a follow-up's update notifies the follow-up's owner, which notifies its customer's)."""
        from touchpulse.streams.batch import BatchOutcome, Message, Notice
        applied = self.writer.write(outcome)
        for _ in range(3):  # at most two hops
            pending = self.writer.maintainer.outbox()
            if not pending:
                break
            if self.offset is None:  # go on after what earlier writers delivered
                self.offset = self.writer.maintainer.next_offsets({(self.TOPIC, 0)})[(self.TOPIC, 0)]
            now = datetime.now(timezone.utc)
            notices = []
            for customer, kind, entity in pending:
                notices.append(Notice(customer, kind, entity,
                                      Message(self.TOPIC, 0, self.offset, customer.encode(), b"", now)))
                self.offset += 1
            self.writer.published(pending)
            self.writer.write(BatchOutcome(notices=notices))
        return applied


def datetime64_units(column_types) -> list[tuple[int, timedelta]]:
    """(index, tick) of every DateTime64 column, from the insert context's column types."""
    units = []
    for i, t in enumerate(column_types):
        if isinstance(t, DateTime64):
            units.append((i, timedelta(seconds=1) / t.prec))
    return units


def datetime_ticks(values: list, unit: timedelta) -> list:
    """Aware datetimes as DateTime64 ticks (None stays None), which clickhouse-connect writes as
    they are; given datetimes it converts each through `timestamp()` and float arithmetic, about
    five times slower. Same result: ticks are floored, as clickhouse-connect floors them. A naive
    datetime (never produced by touchpulse) leaves the column to clickhouse-connect's own
    conversion."""
    try:
        return [None if v is None else (v - _EPOCH) // unit for v in values]
    except TypeError:
        return values


def _columns(rows: list[dict], names: tuple[str, ...]) -> list[list]:
    """Dicts to columns: one C-level itemgetter per row and a zip to transpose, ~8x faster than
    a lookup per cell in Python."""
    if len(names) == 1 or not rows:
        return [[row[n] for row in rows] for n in names]
    get = itemgetter(*names)
    return [list(column) for column in zip(*map(get, rows))]


def _positions(messages: Iterable) -> list[list]:
    topics, partitions, offsets, stamps = [], [], [], []
    for m in messages:
        topics.append(m.topic)
        partitions.append(m.partition)
        offsets.append(m.offset)
        stamps.append(m.timestamp)
    return [topics, partitions, offsets, stamps]
