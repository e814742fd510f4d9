"""The obvious way to write the same pipeline, as a baseline: a kafka-python consumer loop that
decodes each message with `json.loads`, validates it with the same contract code, and writes
it with one `client.insert` per event (dead letters and follow-ups too, one row each) into the
same ClickHouse tables. Runs for a bounded sample: its rate is flat, so a sample is enough."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.schema import FACT_TABLES
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.clickhouse.writer import DEAD_LETTER_COLUMNS, FOLLOWUP_COLUMNS, POSITION_COLUMNS
from touchpulse.core.events import COMMON_COLUMNS, TYPE_COLUMNS, Rejected, validate_document
from touchpulse.core.followups import build_followup, needs_followup
from touchpulse.core.timestamps import parse_timestamp
from touchpulse.core.touchpoints import load_registry
from touchpulse.kafka.topics import Topics, bootstrap
from touchpulse.services import schema_options
from touchpulse.settings import Settings


def run_naive(settings: Settings, max_events: int, max_seconds: float) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    registry = load_registry(settings.touchpoints)
    client = connect(settings)
    apply_schema(client, schema_options(settings), registry)
    db = settings.database
    topic_types = Topics(settings.topic_prefix).events
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(settings), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000,
                             # the embedded broker ignores fetch size limits and may answer with a
                             # whole partition in one response, over kafka-python's 100 MB default
                             receive_message_max_bytes=2**31 - 1)
    try:
        tps = [TopicPartition(t, p) for t in topic_types for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        count = accepted = rejected = followups = 0
        started = None
        for rec in consumer:
            if started is None:
                started = time.perf_counter()
            etype = topic_types[rec.topic]
            stamp = datetime.fromtimestamp(rec.timestamp / 1000, timezone.utc)
            position = [rec.topic, rec.partition, rec.offset, stamp]
            try:
                doc = json.loads(rec.value)
                if not isinstance(doc, dict):
                    raise Rejected(None, "expected a JSON object")
                event = validate_document(doc, etype)
            except (ValueError, TypeError, Rejected) as exc:  # JSONDecodeError, UnicodeDecodeError; None
                reason = exc.reason if isinstance(exc, Rejected) else f"not valid UTF-8 JSON: {exc}"
                field = (exc.field or "") if isinstance(exc, Rejected) else ""
                client.insert(f"{db}.dead_letters", [[etype, reason, field, rec.key or b"", rec.value, *position]],
                              column_names=list(DEAD_LETTER_COLUMNS + POSITION_COLUMNS))
                rejected += 1
            else:
                names = COMMON_COLUMNS + TYPE_COLUMNS[etype]
                client.insert(f"{db}.{FACT_TABLES[etype]}", [[event.values[n] for n in names] + position],
                              column_names=list(names + POSITION_COLUMNS))
                accepted += 1
                if needs_followup(event, settings.followup_below):
                    body = build_followup(event, registry.targets(event.values["touchpoint"]).followup_hours)
                    row = ["" if body[n] is None else body[n] for n in FOLLOWUP_COLUMNS]
                    for i, n in enumerate(FOLLOWUP_COLUMNS):
                        if n in ("occurred_at", "due_at", "created_at"):
                            row[i] = parse_timestamp(row[i])
                    client.insert(f"{db}.followups", [row + position],
                                  column_names=list(FOLLOWUP_COLUMNS + POSITION_COLUMNS))
                    followups += 1
            count += 1
            if count >= max_events or time.perf_counter() - started >= max_seconds:
                break
        seconds = time.perf_counter() - started if started is not None else 0.0
    finally:
        consumer.close()
        client.close()
    return {"events": count, "seconds": seconds, "accepted": accepted, "rejected": rejected,
            "followups": followups, "eps": count / seconds if seconds > 0 else 0.0}
