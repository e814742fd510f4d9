"""Facts written in-process, through the worker's own path, into one database of the session chDB.

`process_batch` validates and `FactWriter` inserts exactly what the worker would, but the
test chooses every Kafka position and timestamp, so duplicates at other positions, replays
of the same position and late arrivals are all spelled out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from touchpulse.clickhouse.queries import VIEWS, query_view
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema, sync_targets
from touchpulse.clickhouse.writer import FactWriter, LocalNotices
from touchpulse.core.touchpoints import Registry, load_registry
from touchpulse.settings import load_settings
from touchpulse.streams.batch import Message, process_batch

PREFIX = "touchpulse."
TOPIC_TYPES = {f"{PREFIX}{t}": e for e, t in
               {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
                "followup_update": "followup_updates"}.items()}


class Warehouse:
    def __init__(self, client, database: str, tz: str = "UTC", registry: Registry | None = None):
        self.client = client
        self.database = database
        self.tz = tz
        self.registry = registry or load_registry()
        self.opts = SchemaOptions(database, tz)
        apply_schema(client, self.opts, self.registry)
        self.writer = LocalNotices(FactWriter(client, database, tz))
        self.settings = load_settings(env={"TOUCHPULSE_DATABASE": database, "TOUCHPULSE_TIMEZONE": tz}, dotenv=None)
        self.offsets: dict[tuple[str, int], int] = defaultdict(int)
        self.clock = datetime(2024, 6, 1, tzinfo=timezone.utc)

    def message(self, topic: str, value: bytes | None, key: bytes | None = None, partition: int = 0,
                at: datetime | None = None) -> Message:
        """The next record on topic/partition (topic without the prefix), stamped `at` or a ticking clock."""
        tp = (PREFIX + topic, partition)
        self.clock += timedelta(milliseconds=1)
        msg = Message(tp[0], partition, self.offsets[tp], key, value, at or self.clock)
        self.offsets[tp] += 1
        return msg

    def write(self, messages: list[Message]) -> None:
        outcome = process_batch(messages, TOPIC_TYPES, self.registry, followup_below=8, now=self.clock)
        self.writer.write(outcome)

    def send(self, records, partition: int = 0) -> list[Message]:
        """Produce and write (topic, value, key) records; returns the messages written."""
        messages = [self.message(topic, value, key, partition) for topic, value, key in records]
        self.write(messages)
        return messages

    def retarget(self, registry: Registry) -> None:
        self.registry = registry
        sync_targets(self.client, self.opts, registry)

    def view(self, name: str, **settings) -> list[dict]:
        """Rows as `touchpulse query` reads them; other views and session settings by plain SQL."""
        if settings or name not in VIEWS:
            result = self.client.query(f"SELECT * FROM `{self.database}`.`{name}`", settings=settings)
            return [dict(zip(result.column_names, row)) for row in result.result_rows]
        columns, rows = query_view(self.settings, name, client=self.client)
        return [dict(zip(columns, row)) for row in rows]
