"""Derived data computed from all raw facts, in a few passes: what `touchpulse up` runs after
migrating an older schema or changing the time zone, what the bench runs after a bulk load, and
what `touchpulse reconcile` compares the live tables with. It re-reads everything, so it never
runs in the steady state.

The same contribution rows as the per-batch deltas (sums.py), over every winner with sign +1.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from touchpulse.clickhouse.quoting import literal, q
from touchpulse.derived.changes import seen_key, state_table, version_type
from touchpulse.derived.loop import queue_columns, queue_names
from touchpulse.derived.spec import (FACT_TABLE, MESSAGE_TYPES, NO_TIME, aggregates, fact_names, key, state_columns,
                                     version_columns, version_names)
from touchpulse.derived.sums import (CALL, CLOSURE, CUSTOMER_LISTS, DEFAULTS, KEY_COLUMNS, MEASURE_COLUMNS, ORDER,
                                     PROMOTER, by_source, combine, contributions, physical)
from touchpulse.derived.tables import DERIVED_TABLES, KV_TABLES, write_mode_statements

log = logging.getLogger("touchpulse.derived")

_POS = "src_timestamp, src_topic, src_partition, src_offset"
BIG_QUERY = {"max_bytes_before_external_group_by": 4 * 2**30, "max_threads": 2}


@dataclass
class Rebuilt:
    entities: dict[str, int] = field(default_factory=dict)
    customers: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        ents = ", ".join(f"{n:,} {FACT_TABLE[t]}" for t, n in self.entities.items())
        return f"{ents or 'no entities'}, {self.customers:,} customers, in {self.seconds:.1f} s"


def rebuild(client, database: str, timezone: str, into: Callable[[str], str] = lambda n: n,
            progress: Callable[[str], None] | None = None) -> Rebuilt:
    """Empty the derived tables (`into(name)` names them: the live ones by default) and compute
    them from the raw facts, with the key-value tables in bulk-load mode meanwhile (tables.py)."""
    kv = [into(n) for n in KV_TABLES]
    for stmt in write_mode_statements(q(database), "", bulk=True, names=kv):
        client.command(stmt)
    try:
        return _compute(client, database, timezone, into, progress)
    finally:
        for stmt in write_mode_statements(q(database), "", bulk=False, names=kv):
            client.command(stmt)


def _compute(client, database: str, timezone: str, into: Callable[[str], str],
             progress: Callable[[str], None] | None) -> Rebuilt:
    started = time.perf_counter()
    db, tz = q(database), literal(timezone)
    say = progress or (lambda step: log.info("rebuild: %s", step))
    out = Rebuilt()
    for name in DERIVED_TABLES:
        client.command(f"TRUNCATE TABLE IF EXISTS {db}.{q(into(name))}")

    def add(source: str, winners: str) -> None:
        rows_of = f"(SELECT *, toInt8(1) AS sign FROM {winners})"
        client.command(combine(db, q(into("sums")), f"({contributions(source, rows_of, tz)})"), settings=BIG_QUERY)

    kept = ("purchase", "call", "survey", "followup", "followup_update")  # for the queue and the customers below
    for etype, table in FACT_TABLE.items():
        say(f"{table}: first copies of every event_id and each entity's winning version")
        k = key(etype)
        names = fact_names(etype)
        aggs = aggregates(etype)
        first, winners = f"_rebuild_first_{etype}", f"_rebuild_winners_{etype}"
        _scratch(client, db, first, f"SELECT {k}, {', '.join(names)} FROM {db}.{table}", "event_id")
        client.command(f"""
INSERT INTO {db}.{first}
SELECT {', '.join(f'tupleElement(f, {i}) AS {n}' for i, n in enumerate([k] + names, start=1))}
FROM (SELECT event_id, argMin(tuple({k}, {', '.join(names)}), tuple({_POS})) AS f FROM {db}.{table} GROUP BY event_id)""",
                       settings=BIG_QUERY)
        vtype = version_type(etype)
        agg_cols = "".join(f", toInt64({NO_TIME}) AS {n}" for n, _, _, _ in aggs)
        _scratch(client, db, winners, f"SELECT {k} AS key, toUInt8(1) AS found, {', '.join(names)}{agg_cols} "
                                      f"FROM {db}.{table}", "key")
        agg_exprs = "".join(f", min({expr}) AS a_{n}" for n, _, expr, _ in aggs)
        agg_out = "".join(f", a_{n}" for n, _, _, _ in aggs)
        client.command(f"""
INSERT INTO {db}.{winners}
SELECT {k}, {', '.join(f'tupleElement(w, {int(i)})' for i in range(1, len(names) + 2))}{agg_out}
FROM (SELECT {k}, argMax(CAST(tuple(toUInt8(1), {', '.join(names)}) AS {vtype}), tuple(occurred_at, event_id)) AS w{agg_exprs}
      FROM {db}.{first} GROUP BY {k})""", settings=BIG_QUERY)
        client.command(f"INSERT INTO {db}.{q(into('seen'))} (k, entity, {_POS}) "
                       f"SELECT {seen_key(etype, 'event_id')}, {k}, {_POS} FROM {db}.{first}")
        client.command(f"INSERT INTO {db}.{q(into(state_table(etype)))} ({k}, {', '.join(version_names(etype))}) "
                       f"SELECT key, {', '.join(version_names(etype))} FROM {db}.{winners}")
        if by_source(etype):
            say(f"{table}: daily sums")
            add(etype, f"{db}.{winners}")
        out.entities[etype] = _count(client, f"SELECT count() FROM {db}.{winners}")
        if etype not in kept:
            client.command(f"DROP TABLE {db}.{winners}")
        if etype in MESSAGE_TYPES:
            _ingest(client, db, tz, etype, table, first, into)
        client.command(f"DROP TABLE {db}.{first}")

    say("follow-ups: each combined with its updates (the queue)")
    queue = "_rebuild_queue"
    client.command(f"DROP TABLE IF EXISTS {db}.{queue}")
    client.command(f"CREATE TABLE {db}.{queue} (key String, "
                   f"{', '.join(f'{n} {t}' for n, t in queue_columns())}) ENGINE = MergeTree ORDER BY key")
    raised = [n for n, _ in version_columns("followup")]
    updates = [n for n, _ in state_columns("followup_update")]
    picks = (["f.found"] + [f"f.{n}" for n in raised] + ["u.found"]
             + [f"u.{n}" if n != "first_contact" else f"if(u.found = 1, u.first_contact, toInt64({NO_TIME}))"
                for n in updates])
    client.command(f"""
INSERT INTO {db}.{queue} (key, {', '.join(queue_names())})
SELECT f.key, {', '.join(picks)}
FROM {db}._rebuild_winners_followup AS f
LEFT JOIN {db}._rebuild_winners_followup_update AS u ON u.key = f.key
SETTINGS join_use_nulls = 0""", settings=BIG_QUERY)
    client.command(f"INSERT INTO {db}.{q(into('queue_state'))} (followup_id, {', '.join(queue_names())}) "
                   f"SELECT key, {', '.join(queue_names())} FROM {db}.{queue}")
    add("queue", f"{db}.{queue}")

    say("customers: their completed orders, calls, promoter answers and closed follow-ups")
    customers = "_rebuild_customers"
    client.command(f"DROP TABLE IF EXISTS {db}.{customers}")
    client.command(f"CREATE TABLE {db}.{customers} (key String, orders Array({ORDER}), calls Array({CALL}), "
                   f"promoters Array({PROMOTER}), closures Array({CLOSURE})) ENGINE = MergeTree ORDER BY key")
    order = f"CAST(tuple(toUnixTimestamp64Micro(occurred_at), key, touchpoint, currency, amount) AS {ORDER})"
    call = (f"CAST(tuple(key, toUnixTimestamp64Micro(queued_at), toUnixTimestamp64Micro(ended_at), "
            f"toUInt8(answered_at IS NOT NULL), toUInt8(direction = 'inbound'), touchpoint, agent_id) AS {CALL})")
    promoter = f"CAST(tuple(toUnixTimestamp64Micro(occurred_at), key, touchpoint) AS {PROMOTER})"
    closure = (f"CAST(tuple(key, toUnixTimestamp64Micro(occurred_at), toUnixTimestamp64Micro(u_occurred_at), touchpoint) "
               f"AS {CLOSURE})")
    no = {"o": f"CAST(tuple(0, '', '', '', 0) AS {ORDER})", "c": f"CAST(tuple('', 0, 0, 0, 0, '', '') AS {CALL})",
          "p": f"CAST(tuple(0, '', '') AS {PROMOTER})", "z": f"CAST(tuple('', 0, 0, '') AS {CLOSURE})"}
    client.command(f"""
INSERT INTO {db}.{customers}
SELECT customer_id, arraySort(x -> (x.t, x.order_id), groupArrayIf(o, list = 0)),
    arraySort(x -> (x.queued, x.call_id), groupArrayIf(c, list = 1)),
    arraySort(x -> (x.t, x.response_id), groupArrayIf(p, list = 2)),
    arraySort(x -> (x.t, x.followup_id), groupArrayIf(z, list = 3))
FROM (
    SELECT customer_id, toUInt8(0) AS list, {order} AS o, {no['c']} AS c, {no['p']} AS p, {no['z']} AS z
    FROM {db}._rebuild_winners_purchase WHERE status = 'completed' AND customer_id != ''
    UNION ALL
    SELECT customer_id, toUInt8(1), {no['o']}, {call}, {no['p']}, {no['z']}
    FROM {db}._rebuild_winners_call WHERE customer_id != ''
    UNION ALL
    SELECT customer_id, toUInt8(2), {no['o']}, {no['c']}, {promoter}, {no['z']}
    FROM {db}._rebuild_winners_survey WHERE score >= 9 AND customer_id != ''
    UNION ALL
    SELECT customer_id, toUInt8(3), {no['o']}, {no['c']}, {no['p']}, {closure}
    FROM {db}.{queue} WHERE found = 1 AND u_found = 1 AND u_status = 'closed' AND customer_id != ''
)
GROUP BY customer_id""", settings=BIG_QUERY)
    client.command(f"INSERT INTO {db}.{q(into('customers_state'))} (customer_id, {', '.join(CUSTOMER_LISTS)}) "
                   f"SELECT key, {', '.join(CUSTOMER_LISTS)} FROM {db}.{customers}")
    add("customer", f"{db}.{customers}")
    out.customers = _count(client, f"SELECT count() FROM {db}.{customers}")
    for name in (customers, queue, *(f"_rebuild_winners_{etype}" for etype in kept)):
        client.command(f"DROP TABLE {db}.{name}")
    say("dead letters and positions")
    _ingest(client, db, tz, "dead_letters", "dead_letters", None, into)
    _positions(client, db, "customer_notices", into)
    out.seconds = time.perf_counter() - started
    return out


def _scratch(client, db: str, name: str, like: str, order: str) -> None:
    client.command(f"DROP TABLE IF EXISTS {db}.{name}")
    client.command(f"CREATE TABLE {db}.{name} ENGINE = MergeTree ORDER BY {order} EMPTY AS {like}")


def _ingest(client, db: str, tz: str, etype: str, table: str, first: str | None, into) -> None:
    """Pipeline health, latest arrivals and applied positions of one raw table."""
    messages = f"(SELECT * FROM {db}.{table} LIMIT 1 BY src_topic, src_partition, src_offset)"
    counts = ("accepted", "messages", "rejected")
    if first is None:  # dead letters
        parts = [physical("ingest", f"SELECT toDate32(src_timestamp, {tz}) AS day, type, toInt64(0) AS accepted, "
                                    f"toInt64(0) AS messages, toInt64(count()) AS rejected FROM {messages} "
                                    "GROUP BY day, type", ("day", "type"), counts),
                 physical("latest", f"SELECT 'dead_letter' AS type, max(ingested_at) AS last_ingested, "
                                    f"toDateTime64(max(src_timestamp), 6, 'UTC') AS last_occurred FROM {db}.{table} "
                                    "HAVING count() > 0", ("type",), ("last_ingested", "last_occurred"))]
    else:
        e = literal(etype)
        parts = [physical("ingest", f"SELECT toDate32(src_timestamp, {tz}) AS day, {e} AS type, toInt64(0) AS accepted, "
                                    f"toInt64(count()) AS messages, toInt64(0) AS rejected FROM {messages} GROUP BY day",
                          ("day", "type"), counts),
                 physical("ingest", f"SELECT toDate32(src_timestamp, {tz}) AS day, {e} AS type, toInt64(count()) AS "
                                    f"accepted, toInt64(0) AS messages, toInt64(0) AS rejected FROM {db}.{first} "
                                    "GROUP BY day", ("day", "type"), counts),
                 physical("activity", f"SELECT toDate32(toDate(occurred_at, {tz})) AS day, touchpoint, {e} AS type, "
                                      f"toInt64(count()) AS messages FROM {messages} GROUP BY day, touchpoint",
                          ("day", "touchpoint", "type"), ("messages",)),
                 physical("latest", f"SELECT {e} AS type, max(ingested_at) AS last_ingested, max(occurred_at) AS "
                                    f"last_occurred FROM {db}.{table} HAVING count() > 0",
                          ("type",), ("last_ingested", "last_occurred"))]
    client.command(combine(db, q(into("sums")), "(" + " UNION ALL ".join(parts) + ")"), settings=BIG_QUERY)
    _positions(client, db, table, into)


def _positions(client, db: str, table: str, into) -> None:
    """A partition's messages are in two tables (its type's facts and dead_letters): keep the greater."""
    positions = f"{db}.{q(into('positions'))}"
    client.command(f"""INSERT INTO {positions} (k, next_offset)
SELECT s.k, greatest(s.next, p.next_offset)
FROM (SELECT concat(src_topic, '#', toString(src_partition)) AS k, max(src_offset) + 1 AS next FROM {db}.{table}
      GROUP BY k) AS s
LEFT JOIN {positions} AS p ON p.k = s.k
SETTINGS join_use_nulls = 0""")


def _count(client, sql: str) -> int:
    return int(client.query(sql).result_rows[0][0])


# --- reconcile ----------------------------------------------------------------------------------

RECONCILE_PREFIX = "_reconcile_"


@dataclass
class Difference:
    table: str
    cells: int  # rows (cells of the additive table, or entities) that differ
    example: tuple | None = None


def reconcile(client, database: str, timezone: str, progress=None) -> list[Difference]:
    """Recompute every derived table from the facts into scratch copies and compare them with the
    live ones: the additive tables cell by cell (what the views read), the state entity by entity.
    Returns the differences (none, when every batch was applied as it should)."""
    db = q(database)
    scratch = lambda name: RECONCILE_PREFIX + name  # noqa: E731
    for name in DERIVED_TABLES:
        client.command(f"DROP TABLE IF EXISTS {db}.{q(scratch(name))}")
        client.command(f"CREATE TABLE {db}.{q(scratch(name))} AS {db}.{q(name)}")
    try:
        rebuild(client, database, timezone, into=scratch, progress=progress)
        diffs = []
        keys = ", ".join(c for c, _ in KEY_COLUMNS)
        aggs = ", ".join(f"{how}({c}) AS {c}" for c, how, _ in MEASURE_COLUMNS)
        live = f"SELECT {keys}, {aggs} FROM {db}.sums GROUP BY {keys}"
        want = f"SELECT {keys}, {aggs} FROM {db}.{q(scratch('sums'))} GROUP BY {keys}"
        live_rows = f"SELECT * FROM ({live}) WHERE {_nonzero()}"
        want_rows = f"SELECT * FROM ({want}) WHERE {_nonzero()}"
        diffs.append(_diff(client, "sums", live_rows, want_rows))
        for etype in FACT_TABLE:
            k = key(etype)
            cols = ", ".join([k, "event_id", _POS] + [n for n, _, _, _ in aggregates(etype)])
            live = f"SELECT {cols} FROM {db}.{q(state_table(etype))} WHERE found = 1"
            want = f"SELECT {cols} FROM {db}.{q(scratch(state_table(etype)))} WHERE found = 1"
            diffs.append(_diff(client, state_table(etype), live, want))
        cols = "followup_id, event_id, u_found, u_event_id, u_first_contact"
        diffs.append(_diff(client, "queue_state", f"SELECT {cols} FROM {db}.queue_state WHERE found = 1",
                           f"SELECT {cols} FROM {db}.{q(scratch('queue_state'))} WHERE found = 1"))
        return [d for d in diffs if d.cells]
    finally:
        for name in DERIVED_TABLES:
            client.command(f"DROP TABLE IF EXISTS {db}.{q(scratch(name))}")


def _nonzero() -> str:
    """Rows that count (observations of this run, freshness and latest arrivals, are not derived)."""
    live = " OR ".join(f"{c} != {DEFAULTS[c]}" for c, how, _ in MEASURE_COLUMNS if how == "sum")
    return f"metric NOT IN ('freshness', 'latest') AND ({live})"


def _diff(client, table: str, live: str, want: str) -> Difference:
    both = (f"SELECT * FROM (({live}) EXCEPT ({want})) UNION ALL SELECT * FROM (({want}) EXCEPT ({live}))")
    rows = client.query(f"SELECT * FROM ({both}) LIMIT 1").result_rows
    n = _count(client, f"SELECT count() FROM ({both})")
    return Difference(table, n, tuple(rows[0]) if rows else None)
