"""What derived data keeps per fact type: the entity key and the columns of an entity's winning
version that the metrics need (pure data, no I/O)."""

from __future__ import annotations

from touchpulse.core.events import ENTITY_KEY

DT = "DateTime64(6, 'UTC')"
FACT_TABLE = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys"}

# The winner's Kafka position: which copy of its event_id counts (the first to arrive, by Kafka
# timestamp, then topic, partition, offset) and where the *_latest views find its row.
POSITION = [("src_timestamp", "DateTime64(3, 'UTC')"), ("src_topic", "String"), ("src_partition", "UInt32"),
            ("src_offset", "UInt64")]
_COMMON = [("event_id", "String"), ("occurred_at", DT), ("touchpoint", "String"), ("customer_id", "String")]
_OWN = {
    "call": [("direction", "String"), ("queued_at", DT), ("answered_at", f"Nullable({DT})"), ("ended_at", DT),
             ("hold_seconds", "Float64"), ("wrap_seconds", "Float64"), ("agent_id", "String")],
    "purchase": [("amount", "Decimal(38, 6)"), ("currency", "String"), ("status", "String")],
    "review": [("platform", "String"), ("rating", "UInt8"), ("posted_at", DT), ("replied_at", f"Nullable({DT})"),
               ("text", "String")],
    "survey": [("score", "UInt8"), ("kind", "String"), ("brand", "String")],
}


def key(etype: str) -> str:
    return ENTITY_KEY[etype]


def version_columns(etype: str) -> list[tuple[str, str]]:
    """An entity's version as the state keeps it, after `found` (1 = the entity exists): the
    common columns, the type's own, the position."""
    return _COMMON + _OWN[etype] + POSITION


def version_names(etype: str) -> list[str]:
    return ["found"] + [n for n, _ in version_columns(etype)]


def fact_names(etype: str) -> list[str]:
    """Columns read from a fact row to form a version (all but `found`)."""
    return [n for n, _ in version_columns(etype)]
