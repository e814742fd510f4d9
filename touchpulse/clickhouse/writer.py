"""The ClickHouse sink: one columnar insert per table per batch.

Rows carry their Kafka position and land in ReplacingMergeTree tables keyed by it, and the
views reduce to winning versions, so writing the same batch twice changes no number.
"""

from __future__ import annotations

import logging
import uuid
from typing import Iterable

from touchpulse.clickhouse.refresh import QUEUE_COLUMNS, queue_rows
from touchpulse.clickhouse.rollups import FOLLOWUP_COLUMNS
from touchpulse.clickhouse.schema import FACT_TABLES, q
from touchpulse.core.events import COMMON_COLUMNS, TYPE_COLUMNS
from touchpulse.core.timestamps import parse_timestamp

log = logging.getLogger(__name__)

POSITION_COLUMNS = ("src_topic", "src_partition", "src_offset", "src_timestamp")
DEAD_LETTER_COLUMNS = ("type", "reason", "field", "message_key", "raw")


class FactWriter:
    def __init__(self, client, database: str):
        self.client = client
        self.database = database
        self._contexts: dict[str, object] = {}

    def write(self, outcome) -> int:
        """Insert everything in the batch outcome; returns rows written."""
        rows = 0
        # Queued before the facts: a crash in between leaves a harmless queue entry, never
        # facts that no refresh will look at.
        queued = queue_rows(str(uuid.uuid4()), outcome.accepted, FACT_TABLES, outcome.followups)
        if queued:
            self._insert("refresh_queue", tuple(QUEUE_COLUMNS), [list(c) for c in zip(*queued)])
        for etype, accepted in outcome.accepted.items():
            if not accepted:
                continue
            names = COMMON_COLUMNS + TYPE_COLUMNS[etype]
            columns = [[a.event.values[n] for a in accepted] for n in names]
            columns += _positions(a.message for a in accepted)
            self._insert(FACT_TABLES[etype], names + POSITION_COLUMNS, columns)
            rows += len(accepted)
        if outcome.followups:
            f = outcome.followups
            columns = [["" if x.body[n] is None else x.body[n] for x in f] for n in FOLLOWUP_COLUMNS]
            for n in ("occurred_at", "due_at", "created_at"):
                i = FOLLOWUP_COLUMNS.index(n)
                columns[i] = [parse_timestamp(v) for v in columns[i]]
            columns += _positions(x.message for x in f)
            self._insert("followups", FOLLOWUP_COLUMNS + POSITION_COLUMNS, columns)
            rows += len(f)
        if outcome.dead_letters:
            d = outcome.dead_letters
            columns = [[x.type for x in d], [x.reason for x in d], [x.field for x in d],
                       [x.message.key or b"" for x in d], [x.message.value or b"" for x in d]]
            columns += _positions(x.message for x in d)
            self._insert("dead_letters", DEAD_LETTER_COLUMNS + POSITION_COLUMNS, columns)
            rows += len(d)
        return rows

    def followed_up(self, event_ids: list[str]) -> dict[str, set[tuple[str, int, int]]]:
        """Positions at which follow-ups were already raised for these survey events."""
        if not event_ids:
            return {}
        result = self.client.query(
            f"SELECT event_id, src_topic, src_partition, src_offset FROM {q(self.database)}.followups "
            "WHERE event_id IN {ids:Array(String)}", parameters={"ids": event_ids})
        seen: dict[str, set[tuple[str, int, int]]] = {}
        for event_id, topic, partition, offset in result.result_rows:
            seen.setdefault(event_id, set()).add((topic, partition, offset))
        return seen

    def _insert(self, table: str, names: tuple[str, ...], columns: list[list]) -> None:
        # A reusable insert context per table: building one asks the server for the column types,
        # a round trip per insert otherwise.
        ctx = self._contexts.get(table)
        if ctx is None:
            ctx = self.client.create_insert_context(table, list(names), database=self.database,
                                                    column_oriented=True)
            self._contexts[table] = ctx
        ctx.column_oriented = True
        ctx.data = columns
        self.client.insert(context=ctx)


def _positions(messages: Iterable) -> list[list]:
    topics, partitions, offsets, stamps = [], [], [], []
    for m in messages:
        topics.append(m.topic)
        partitions.append(m.partition)
        offsets.append(m.offset)
        stamps.append(m.timestamp)
    return [topics, partitions, offsets, stamps]
