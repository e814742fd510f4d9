"""FollowupLedger: a duplicate survey raises no second follow-up, whether its first copy is still
remembered, already written (looked up in ClickHouse), or in a batch whose write is queued; its
memory is bounded (streams/sink.py)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import orjson

from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import load_registry
from touchpulse.settings import load_settings
from touchpulse.streams.batch import Message, process_batch
from touchpulse.streams.sink import ClickHouseSink, FollowupLedger

REGISTRY = load_registry()
TOPICS = {"touchpulse.surveys": "survey"}
AT = datetime(2024, 5, 1, 10, 0, 1, tzinfo=timezone.utc)


def survey(n: int, offset: int) -> Message:
    body = {"event_id": f"survey-{n}", "type": "survey", "version": 1, "occurred_at": "2024-05-01T10:00:00Z",
            "touchpoint": "call_centre", "response_id": f"s{n}", "score": 2}
    return Message("touchpulse.surveys", 0, offset, None, orjson.dumps(body), AT)


def sink_on(chdb_client, chdb_path) -> ClickHouseSink:
    db = f"l_{uuid.uuid4().hex[:10]}"
    apply_schema(chdb_client, SchemaOptions(db, "UTC"), REGISTRY)
    settings = load_settings(env={"TOUCHPULSE_CLICKHOUSE": f"chdb://{chdb_path}", "TOUCHPULSE_DATABASE": db,
                                  "TOUCHPULSE_TIMEZONE": "UTC"}, dotenv=None)
    return ClickHouseSink(settings)


def test_duplicates_are_dropped_beyond_the_ledgers_memory(chdb_client, chdb_path):
    sink = sink_on(chdb_client, chdb_path)
    ledger = FollowupLedger(sink, capacity=2)

    async def batch(messages: list[Message], write: bool = True) -> list[str]:
        outcome = process_batch(messages, TOPICS, REGISTRY, followup_below=7, now=AT)
        outcome.followups = await ledger.keep_new(outcome.followups)
        if write:
            await sink.call("write", lambda w: w.write(outcome))
        return [f.event_id for f in outcome.followups]

    async def scenario():
        assert await batch([survey(n, n) for n in range(5)]) == [f"survey-{n}" for n in range(5)]
        assert len(ledger._recent) == 2  # survey-0..2 forgotten, written
        # Copies of forgotten (written) and remembered first copies, and one new survey.
        assert await batch([survey(0, 5), survey(4, 6), survey(5, 7)]) == ["survey-5"]
        # A first copy not written yet (its batch's write queued) is remembered, not looked up.
        assert await batch([survey(6, 8)], write=False) == ["survey-6"]
        assert await batch([survey(6, 9)]) == []

    try:
        asyncio.run(scenario())
    finally:
        sink.close()
