"""A written batch's data is not kept by the writer: a reused insert context held the previous
batch of every table (~24 MB at 20,000 events) until the next insert into it."""

from __future__ import annotations

import gc
import uuid
import weakref
from datetime import datetime, timezone

from touchpulse.clickhouse.writer import FactWriter


class Tracked(str):
    """A str that can be watched with a weak reference."""


def test_the_columns_of_a_written_batch_are_released(chdb_client):
    db = "writer_mem_" + uuid.uuid4().hex[:8]
    chdb_client.command(f"CREATE DATABASE {db}")
    try:
        chdb_client.command(f"CREATE TABLE {db}.t (a String, n Int64, at DateTime64(6, 'UTC')) "
                            "ENGINE = MergeTree ORDER BY a")
        writer = FactWriter(chdb_client, db, timezone="UTC")
        at = datetime(2026, 5, 1, 12, tzinfo=timezone.utc)
        for batch in range(2):  # the second insert reuses whatever the first one built
            value = Tracked(f"event-{batch}")
            watched = weakref.ref(value)
            writer._insert("t", ("a", "n", "at"), [[value, "other"], [batch, 7], [at, at]])
            del value
            gc.collect()
            assert watched() is None, "the writer still holds the batch it has written"
        rows = chdb_client.query(f"SELECT a, n, toString(at) FROM {db}.t ORDER BY a").result_rows
        assert rows == [("event-0", 0, "2026-05-01 12:00:00.000000"), ("event-1", 1, "2026-05-01 12:00:00.000000"),
                        ("other", 7, "2026-05-01 12:00:00.000000"), ("other", 7, "2026-05-01 12:00:00.000000")]
    finally:
        chdb_client.command(f"DROP DATABASE IF EXISTS {db}")
