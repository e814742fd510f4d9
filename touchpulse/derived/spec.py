"""What derived data keeps per fact type: the entity key and the columns of an entity's winning
version that the metrics need (pure data, no I/O).

Two fact types are not events of one topic each: `followup` is a follow-up the worker raised from
a low survey answer (raw table `followups`; its `event_id` is the survey's), and
`followup_update` is what the team did about one. Both are entities keyed by `followup_id` and
follow the same rules as the others (the first copy of an event_id counts, the latest version
wins); a follow-up as the team sees it combines the two (derived/loop.py).
"""

from __future__ import annotations

from touchpulse.core.events import ENTITY_KEY

DT = "DateTime64(6, 'UTC')"
FACT_TABLE = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
              "followup_update": "followup_updates", "followup": "followups"}
# Fact types that arrive as Kafka messages of their own topic (pipeline health counts them); a
# follow-up is raised from a survey message and shares its position.
MESSAGE_TYPES = ("call", "purchase", "review", "survey", "followup_update")
_KEYS = {**ENTITY_KEY, "followup": "followup_id"}

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
    "followup_update": [("status", "String"), ("resolution", "String"), ("owner", "String"), ("note", "String")],
    "followup": [("response_id", "String"), ("score", "UInt8"), ("brand", "String"), ("kind", "String"),
                 ("comment", "String"), ("created_at", "DateTime64(3, 'UTC')")],
}

# No time: the value of an Int64 time (microseconds since the epoch) that is absent. The
# greatest Int64, so the earliest of several times is their least().
NO_TIME = 9223372036854775807
# Beyond the winning version, what an entity keeps over all its versions (first copies only):
# (name, type, SQL of one version's value from its columns, how values of versions combine).
# A follow-up's first contact: the earliest update that reached the customer (docs/metrics.md).
_CONTACTED = "status = 'contacted' OR (status = 'closed' AND resolution != 'unreachable')"
AGGREGATES = {
    "followup_update": [("first_contact", "Int64",
                         f"if({_CONTACTED}, toUnixTimestamp64Micro(occurred_at), toInt64({NO_TIME}))", "least")],
}


def key(etype: str) -> str:
    return _KEYS[etype]


def version_columns(etype: str) -> list[tuple[str, str]]:
    """An entity's version as a fact row gives it, after `found` (1 = the entity exists): the
    common columns, the type's own, the position."""
    return _COMMON + _OWN[etype] + POSITION


def aggregates(etype: str) -> list[tuple[str, str, str, str]]:
    return AGGREGATES.get(etype, [])


def state_columns(etype: str) -> list[tuple[str, str]]:
    """What the state keeps of an entity after `found`: its winning version and its aggregates."""
    return version_columns(etype) + [(n, t) for n, t, _, _ in aggregates(etype)]


def version_names(etype: str) -> list[str]:
    """Every column of an entity's state row but its key (`found`, the version, the aggregates)."""
    return ["found"] + [n for n, _ in state_columns(etype)]


def fact_names(etype: str) -> list[str]:
    """Columns read from a fact row to form a version (all but `found`)."""
    return [n for n, _ in version_columns(etype)]
