"""What a batch changes, computed in SQL against the state tables (state.py), before anything
is written: which messages claim their event_id, which entities get a new winning version, and
which customers' order lists change.

Rules (docs/events.md, docs/metrics.md): the first copy of an event_id to arrive (by Kafka
timestamp, then topic, partition, offset) is the one that counts; among an entity's versions
the greatest (occurred_at, event_id) wins. A batch is compared with the state only, so its cost
depends on the batch, not on history: an entity's new winner is the better of its stored winner
and the batch's best claim. The one exception is rare: a copy that arrives *later* but carries an
*earlier* position than the stored first copy takes the event_id over (displaces it); its old and
new entities are then recomputed from their raw facts (a primary-key lookup of a few keys).
"""

from __future__ import annotations

from touchpulse.clickhouse.quoting import literal
from touchpulse.derived.spec import (FACT_TABLE, NO_TIME, aggregates, fact_names, key, state_columns,
                                     version_columns)
from touchpulse.derived.sums import CALL, CLOSURE, ORDER, PROMOTER

_POS = ("src_timestamp", "src_topic", "src_partition", "src_offset")
JOINS = "SETTINGS join_algorithm = 'direct,parallel_hash,hash', join_use_nulls = 0"


def _pos(alias: str) -> str:
    return "tuple(" + ", ".join(f"{alias}.{c}" for c in _POS) + ")"


def version_type(etype: str) -> str:
    cols = [("found", "UInt8")] + version_columns(etype)
    return "Tuple(" + ", ".join(f"{n} {t}" for n, t in cols) + ")"


def claims_columns(etype: str) -> list[tuple[str, str]]:
    k = key(etype)
    return [(k, "String")] + version_columns(etype) + [
        ("displaces", "UInt8"), ("v_ts", "DateTime64(3, 'UTC')"), ("v_key", "String")]


def changes_columns(etype: str) -> list[tuple[str, str]]:
    cols = [("found", "UInt8")] + state_columns(etype)
    return [("key", "String")] + [(f"old_{n}", t) for n, t in cols] + [(f"new_{n}", t) for n, t in cols]


def claims_insert(db: str, etype: str, stage: str, claims: str) -> str:
    """The batch's first copies that claim their event_id: never seen, or seen at a later position."""
    k = key(etype)
    names = [k] + fact_names(etype)
    picked = ", ".join(f"tupleElement(f.t, {i}) AS {n}" for i, n in enumerate(names, start=1))
    first = "tuple(" + ", ".join(f"tupleElement(f.t, {int(names.index(c)) + 1})" for c in _POS) + ")"
    return f"""
INSERT INTO {db}.{claims}
SELECT {picked}, toUInt8(v.src_topic != '') AS displaces, v.src_timestamp AS v_ts, v.entity AS v_key
FROM (
    SELECT event_id, argMin(tuple({', '.join(names)}), tuple({', '.join(_POS)})) AS t
    FROM {db}.{stage}
    GROUP BY event_id
) AS f
LEFT JOIN {db}.seen AS v ON v.k = {seen_key(etype, 'f.event_id')}
WHERE v.src_topic = '' OR {first} < {_pos('v')}
{JOINS}"""


def changes_insert(db: str, etype: str, claims: str, changes: str, displaced: bool) -> str:
    """Entities whose winning version (or an aggregate over their versions) changes: (key, old
    state, new state), `found` = 0 for an entity that does not exist (before) or no longer exists
    (after a displacement). `displaced`: some claim displaces a stored first copy (then that part
    is computed too)."""
    k = key(etype)
    names = fact_names(etype)
    vtype = version_type(etype)
    aggs = aggregates(etype)
    claim_tuple = f"CAST(tuple(toUInt8(1), {', '.join(names)}) AS {vtype})"
    stored = f"CAST(tuple(o.found, {', '.join('o.' + n for n in names)}) AS {vtype})"
    dirty_keys = (f"SELECT DISTINCT k FROM (SELECT {k} AS k FROM {db}.{claims} WHERE displaces = 1 "
                  f"UNION ALL SELECT v_key FROM {db}.{claims} WHERE displaces = 1)")
    batch_aggs = "".join(f", min({expr}) AS a_{n}" for n, _, expr, _ in aggs)
    best = f"""
        SELECT {k} AS key, argMax({claim_tuple}, tuple(occurred_at, event_id)) AS w{batch_aggs}, toUInt8(0) AS dirty
        FROM {db}.{claims}
        {f'WHERE {k} NOT IN ({dirty_keys})' if displaced else ''}
        GROUP BY {k}"""
    if displaced:
        # A dirty entity without any first copy left keeps no aggregate either.
        dirty_aggs = "".join(f", if(tupleElement(r.w, 1) = 1, r.a_{n}, toInt64({NO_TIME})) AS a_{n}"
                             for n, _, _, _ in aggs)
        best += f"""
        UNION ALL
        SELECT d.k AS key, r.w AS w{dirty_aggs}, toUInt8(1) AS dirty
        FROM ({dirty_keys}) AS d
        LEFT JOIN ({_recompute(db, etype, claims, dirty_keys)}) AS r ON r.key = d.k"""
    ident = ("found", "event_id") + _POS
    idx = {n: i for i, n in enumerate(["found"] + names, start=1)}
    same = " AND ".join([f"tupleElement(n_t, {idx[c]}) = tupleElement(o_t, {idx[c]})" for c in ident]
                        + [f"n_{n} = o_{n}" for n, _, _, _ in aggs])
    width = len(names) + 1
    # An aggregate combines the stored value with the batch's (`least`), or is the batch's alone
    # for an entity that was not stored, or recomputed.
    old_aggs = "".join(f", o.{n} AS o_{n}" for n, _, _, _ in aggs)
    new_aggs = "".join(f", if(c.dirty = 1 OR o.found = 0, c.a_{n}, {how}(o.{n}, c.a_{n})) AS n_{n}"
                       for n, _, _, how in aggs)
    out_old = "".join(f", o_{n}" for n, _, _, _ in aggs)
    out_new = "".join(f", n_{n}" for n, _, _, _ in aggs)
    return f"""
INSERT INTO {db}.{changes}
SELECT key, {', '.join(f'tupleElement(o_t, {int(i)})' for i in range(1, width + 1))}{out_old}, {', '.join(f'tupleElement(n_t, {int(i)})' for i in range(1, width + 1))}{out_new}
FROM (
    SELECT c.key AS key, {stored} AS o_t,
        if(c.dirty = 1 OR tupleElement(o_t, 1) = 0
           OR tuple(tupleElement(o_t, {idx['occurred_at']}), tupleElement(o_t, {idx['event_id']}))
              < tuple(tupleElement(c.w, {idx['occurred_at']}), tupleElement(c.w, {idx['event_id']})),
           c.w, o_t) AS n_t{old_aggs}{new_aggs}
    FROM ({best}
    ) AS c
    LEFT JOIN {db}.{state_table(etype)} AS o ON o.{k} = c.key
)
WHERE NOT ({same})
{JOINS}"""


def _recompute(db: str, etype: str, claims: str, dirty_keys: str) -> str:
    """The winner (and aggregates) of each dirty entity from all its raw facts, counting only rows
    that are the first copy of their event_id once this batch's claims are taken into account."""
    k = key(etype)
    names = fact_names(etype)
    vtype = version_type(etype)
    first = f"if(c.event_id != '', {_pos('c')}, {_pos('v')})"
    aggs = "".join(f", min({expr}) AS a_{n}" for n, _, expr, _ in aggregates(etype))
    return f"""
            SELECT {k} AS key,
                argMax(CAST(tuple(toUInt8(1), {', '.join(names)}) AS {vtype}), tuple(occurred_at, event_id)) AS w{aggs}
            FROM (
                SELECT {', '.join(f'r.{n} AS {n}' for n in [k] + names)}
                FROM {db}.{FACT_TABLE[etype]} AS r
                LEFT JOIN {db}.{claims} AS c ON c.event_id = r.event_id
                LEFT JOIN {db}.seen AS v ON v.k = {seen_key(etype, 'r.event_id')}
                WHERE r.{k} IN ({dirty_keys}) AND {_pos('r')} = {first}
            )
            GROUP BY key"""


def notices_insert(db: str, changes: str, kind: str, out: str, owner: str = "customer_id",
                   keep_old: str = "1", keep_new: str = "1") -> str:
    """The owners a batch's changes concern (the old version's and the new one's), as notices of
    `kind` for the worker that owns each (maintenance.py), into the batch's working table `out`
    (from there, one row of the outbox). `owner` is the version column naming the owner (a customer), or
    "key" (the changed entity's own key: a follow-up); `keep_old`/`keep_new` say which old and new
    versions concern their owner at all (a survey answer only as a promoter, for instance)."""
    k = literal(kind)
    old = "key" if owner == "key" else f"old_{owner}"
    new = "key" if owner == "key" else f"new_{owner}"
    return f"""
INSERT INTO {db}.{out} (customer_id, kind, entity_id)
SELECT customer_id, {k}, entity_id
FROM (
    SELECT {old} AS customer_id, key AS entity_id FROM {db}.{changes} WHERE {old} != '' AND ({keep_old})
    UNION DISTINCT
    SELECT {new}, key FROM {db}.{changes} WHERE {new} != '' AND ({keep_new})
)"""


# Notice kinds applied to a customer's lists (the other kind, "queue", to a follow-up: loop.py).
CUSTOMER_KIND_SET = frozenset({"order", "call", "survey", "closure"})
CUSTOMER_KINDS = f"({', '.join(literal(k) for k in sorted(CUSTOMER_KIND_SET))})"


def customer_changes_insert(db: str, notices: str, out: str, kinds=CUSTOMER_KIND_SET) -> str:
    """Customers whose lists change (completed orders, calls, promoter answers, closed follow-ups),
    from notices naming (customer, kind, id): each named order, call, answer or follow-up is read as
    it stands now in its state and belongs to the customer's list if its present version names the
    customer (and, for an order, is completed; an answer, scores 9-10; a follow-up, is closed).
    Reading the present, not a message's content, makes a notice applied twice, late or out of
    order change nothing more. Only the state tables of the `kinds` the notices hold are joined
    (a batch of call notices looks nothing up among orders, answers or follow-ups)."""
    order = (f"CAST(tuple(toUnixTimestamp64Micro(o.occurred_at), o.order_id, o.touchpoint, o.currency, o.amount) "
             f"AS {ORDER})")
    call = (f"CAST(tuple(k.call_id, toUnixTimestamp64Micro(k.queued_at), toUnixTimestamp64Micro(k.ended_at), "
            f"toUInt8(k.answered_at IS NOT NULL), toUInt8(k.direction = 'inbound'), k.touchpoint, k.agent_id) AS {CALL})")
    promoter = f"CAST(tuple(toUnixTimestamp64Micro(a.occurred_at), a.response_id, a.touchpoint) AS {PROMOTER})"
    closure = (f"CAST(tuple(w.followup_id, toUnixTimestamp64Micro(w.occurred_at), toUnixTimestamp64Micro(w.u_occurred_at), "
               f"w.touchpoint) AS {CLOSURE})")
    lists = (  # kind, list, its type, the element, when it belongs to the customer, the state joined
        ("order", "orders", ORDER, order, "o.found = 1 AND o.status = 'completed' AND o.customer_id = n.customer_id",
         f"{db}.{state_table('purchase')} AS o ON o.order_id = n.entity_id"),
        ("call", "calls", CALL, call, "k.found = 1 AND k.customer_id = n.customer_id",
         f"{db}.{state_table('call')} AS k ON k.call_id = n.entity_id"),
        ("survey", "promoters", PROMOTER, promoter, "a.found = 1 AND a.score >= 9 AND a.customer_id = n.customer_id",
         f"{db}.{state_table('survey')} AS a ON a.response_id = n.entity_id"),
        ("closure", "closures", CLOSURE, closure,
         "w.found = 1 AND w.u_found = 1 AND w.u_status = 'closed' AND w.customer_id = n.customer_id",
         f"{db}.queue_state AS w ON w.followup_id = n.entity_id"))
    per_kind, joins = [], []
    for kind, name, type_, element, belongs, join in lists:
        per_kind.append(f"groupUniqArrayIf(n.entity_id, n.kind = {literal(kind)}) AS touched_{name}")
        if kind in kinds:
            per_kind.append(f"groupArrayIf({element}, n.kind = {literal(kind)} AND {belongs}) AS added_{name}")
            joins.append(f"LEFT JOIN {join}")
        else:
            per_kind.append(f"CAST([], {literal(f'Array({type_})')}) AS added_{name}")
    new_orders = _merged("(x.t, x.order_id)", "orders", "order_id")
    new_calls = _merged("(x.queued, x.call_id)", "calls", "call_id")
    new_promoters = _merged("(x.t, x.response_id)", "promoters", "response_id")
    new_closures = _merged("(x.t, x.followup_id)", "closures", "followup_id")
    nl = "\n    "
    return f"""
INSERT INTO {db}.{out} (key, old_orders, new_orders, old_calls, new_calls, old_promoters, new_promoters, old_closures,
                        new_closures)
SELECT c.customer_id, s.orders, {new_orders} AS new_orders, s.calls, {new_calls} AS new_calls,
    s.promoters, {new_promoters} AS new_promoters, s.closures, {new_closures} AS new_closures
FROM (
    SELECT n.customer_id AS customer_id,
        {("," + nl + "    ").join(per_kind)}
    FROM (SELECT DISTINCT customer_id, kind, entity_id FROM {db}.{notices} WHERE kind IN {CUSTOMER_KINDS}) AS n
    {nl.join(joins)}
    GROUP BY customer_id
) AS c
LEFT JOIN {db}.customers_state AS s ON s.customer_id = c.customer_id
WHERE new_orders != s.orders OR new_calls != s.calls OR new_promoters != s.promoters OR new_closures != s.closures
{JOINS}"""


def _merged(sort: str, name: str, ident: str) -> str:
    """A customer's list with the touched entries replaced by what they are now, in order."""
    return (f"arraySort(x -> {sort}, arrayConcat(arrayFilter(x -> NOT has(c.touched_{name}, x.{ident}), s.{name}), "
            f"c.added_{name}))")


def state_table(etype: str) -> str:
    return f"{FACT_TABLE[etype]}_state"


def seen_key(etype: str, event_id: str) -> str:
    """The key of an event's first copy in `seen`: event_ids are unique per event type."""
    return f"concat({literal(etype + ':')}, {event_id})"
