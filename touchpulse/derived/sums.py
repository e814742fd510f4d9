"""The one additive table the views read, and what one entity (or one customer) contributes to it.

Every metric is a sum over entities of a contribution that depends only on the entity's winning
version (or, for repeat customers and loyalty, on a customer's list of completed orders). So
when a batch changes an entity from version A to B, the table receives the rows of B with sign
+1 and the rows of A with sign -1, and a rebuild from the facts inserts every winner's rows with
+1: one definition of the rows serves both. Views sum the rows of their days at query time,
merged or not.

Values that a target is compared with at query time (waits, abandon times, reply times) are kept
exactly, one row per distinct value, so a changed target re-states history and percentiles stay
exact; everything else is pre-aggregated per day (or hour).

Why one table for every metric: each insert into a MergeTree writes a part (~10 ms on this
machine, whatever its size), so a batch writes all its deltas as one insert, one part, with one
deduplication token. Each metric has its own rows (`metric`) and names its columns below.
"""

from __future__ import annotations

from touchpulse.derived.spec import NO_TIME

LC = "LowCardinality(String)"
DT = "DateTime64(6, 'UTC')"
# Kept for recovery: the insert of a batch's deltas is retried with the same token, and the
# window must still hold it (one block per batch: the table has no partitions).
DEDUP_WINDOW = 10_000

# The physical columns: keys, then measures with how rows of one key combine. Plain constants:
# every name here may go into SQL text as it is.
KEY_COLUMNS = [("metric", LC), ("day", "Date32"), ("touchpoint", LC), ("d1", LC), ("d2", LC), ("hour", "UInt8"),
               ("value", "Int64"), ("value2", "Int64"), ("entity", "String"), ("wid", "UInt64"), ("at", DT)]
MEASURE_COLUMNS = [("c1", "sum", "Int64"), ("c2", "sum", "Int64"), ("c3", "sum", "Int64"), ("c4", "sum", "Int64"),
                   ("c5", "sum", "Int64"), ("big", "sum", "Int128"), ("dec6", "sum", "Decimal(38, 6)"),
                   ("dec9", "sum", "Decimal(38, 9)"), ("dec12", "sum", "Decimal(76, 12)"),
                   ("last_ingested", "max", "DateTime64(3, 'UTC')"), ("last_occurred", "max", DT),
                   ("rating", "any", "UInt8"), ("text", "any", "String"), ("details", "any", "Map(String, String)")]
DEFAULTS = {"day": "toDate32('1970-01-01')", "touchpoint": "''", "d1": "''", "d2": "''", "hour": "toUInt8(0)",
            "value": "toInt64(0)", "value2": "toInt64(0)", "entity": "''", "wid": "toUInt64(0)", "at": "toDateTime64(0, 6, 'UTC')",
            "big": "toInt128(0)", "dec6": "toDecimal128(0, 6)", "dec9": "toDecimal128(0, 9)",
            "dec12": "toDecimal256(0, 12)", "last_ingested": "toDateTime64(0, 3, 'UTC')",
            "last_occurred": "toDateTime64(0, 6, 'UTC')", "rating": "toUInt8(0)", "text": "''",
            "details": "CAST(map(), 'Map(String, String)')",
            "c1": "toInt64(0)", "c2": "toInt64(0)", "c3": "toInt64(0)", "c4": "toInt64(0)", "c5": "toInt64(0)"}

# metric -> its column names -> physical columns.
METRICS = {
    # Each day's answers also on the 13 days after it (`shift` days later): the previous day of
    # nps_daily and the 7-day windows of nps_rolling_7d are then sums over the days asked for.
    "survey": {"day": "day", "shift": "hour", "touchpoint": "touchpoint", "brand": "d1", "kind": "d2",
               "n": "c1", "p": "c2", "pa": "c3", "d": "c4"},
    "call": {"day": "day", "hour": "hour", "touchpoint": "touchpoint",
             "offered": "c1", "answered": "c2", "wait_us_sum": "c3", "handle_sum": "dec9"},
    "call_wait": {"day": "day", "touchpoint": "touchpoint", "kind": "d1", "value_us": "value", "n": "c1"},
    "agent": {"day": "day", "touchpoint": "touchpoint", "agent": "d1", "answered": "c1", "handle_sum": "dec9"},
    # Per inbound call of an identified customer: answered (with the gap to the customer's next
    # inbound call) or missed (with its abandon time, the gap to the first call back, and who and
    # when, for the duty list); gaps are -1 when there is no such call.
    "resolution": {"day": "day", "touchpoint": "touchpoint", "kind": "d1", "agent": "d2", "gap_us": "value",
                   "abandon_us": "value2", "customer_id": "entity", "queued_at": "at", "wid": "wid", "n": "c1"},
    "review": {"day": "day", "touchpoint": "touchpoint", "platform": "d1", "reply_us": "value",
               "reviews": "c1", "rating_sum": "c2", "rating_sq_sum": "c3", "replied": "c4"},
    "review_open": {"day": "day", "posted_at": "at", "touchpoint": "touchpoint", "platform": "d1",
                    "review_id": "entity", "wid": "wid", "n": "c1", "rating": "rating", "text": "text"},
    "purchase": {"day": "day", "touchpoint": "touchpoint", "currency": "d1", "orders": "c1", "customers": "c2",
                 "repeat_customers": "c3", "revenue": "dec6", "revenue_sq": "dec12"},
    "loyalty": {"month": "day", "touchpoint": "touchpoint", "currency": "d1", "orders": "c1",
                "active_customers": "c2", "new_customers": "c3", "intervals": "c4", "lapse_delta": "c5",
                "interval_us": "big", "revenue": "dec6"},
    "ingest": {"day": "day", "type": "d1", "accepted": "c1", "messages": "c2", "rejected": "c3"},
    "activity": {"day": "day", "touchpoint": "touchpoint", "type": "d1", "messages": "c1"},
    "latest": {"type": "d1", "last_ingested": "last_ingested", "last_occurred": "last_occurred"},
    # One row per follow-up as the team sees it (derived/loop.py): its state and resolution, when it
    # was raised (its survey answer's occurred_at: the due time is added at query time), its first
    # contact and its closing, in microseconds since the epoch (NO_TIME: none yet), and what the
    # queue shows of it. A new version of it (an update, a first contact) is a new `wid`.
    "followup": {"day": "day", "touchpoint": "touchpoint", "state": "d1", "resolution": "d2", "followup_id": "entity",
                 "wid": "wid", "at": "at", "first_contact_us": "value", "closed_us": "value2", "n": "c1",
                 "score": "rating", "comment": "text", "details": "details"},
    # A closed follow-up whose customer later answered 9-10 at its touchpoint within the window
    # (a customer's lists: derived/loop.py), on the follow-up's day.
    "recovered": {"day": "day", "touchpoint": "touchpoint", "followup_id": "entity", "n": "c1"},
    # Produce-to-visible lag of every event, in 10 ms buckets, measured by the insert that makes it visible.
    "freshness": {"day": "day", "type": "d1", "lag_10ms": "value", "events": "c1"},
}
# (metric, source, measures it writes): the source is the fact type whose winning versions feed
# the metric, or "customer" (a customer's list of completed orders).
SOURCES = [
    ("survey", "survey", ("n", "p", "pa", "d")),
    ("call", "call", ("offered", "answered", "wait_us_sum", "handle_sum")),
    ("call_wait", "call", ("n",)),
    ("agent", "call", ("answered", "handle_sum")),
    ("review", "review", ("reviews", "rating_sum", "rating_sq_sum", "replied")),
    ("review_open", "review", ("n", "rating", "text")),
    ("purchase", "purchase", ("orders", "revenue", "revenue_sq")),
    ("purchase", "customer", ("customers", "repeat_customers")),
    ("loyalty", "customer", ("orders", "revenue", "active_customers", "new_customers", "interval_us", "intervals",
                             "lapse_delta")),
    ("resolution", "customer", ("n",)),
    ("followup", "queue", ("n", "score", "comment", "details")),
    ("recovered", "customer", ("n",)),
]
# The source "queue" is a follow-up combined with its updates (derived/loop.py); "customer" is a
# customer's lists: completed orders, calls, promoter answers and closed follow-ups.


def _day(col: str, tz: str) -> str:
    return f"toDate32({col}, {tz})"


def _month(ts: str, tz: str) -> str:
    return f"addDays(toDate32({ts}, {tz}), 1 - toDayOfMonth(toDate32({ts}, {tz})))"


def _micros(a: str, b: str) -> str:
    return f"dateDiff('microsecond', {a}, {b})"


SURVEY_SHIFTS = 14  # today, and the 13 days a day's answers count for (previous day, 7-day windows)


def _surveys(src: str, p: str, s: str, tz: str) -> str:
    return (f"SELECT addDays({_day(p + 'occurred_at', tz)}, shift) AS day, toUInt8(shift) AS shift, "
            f"{p}touchpoint AS touchpoint, {p}brand AS brand, "
            f"{p}kind AS kind, toInt64({s}) AS n, toInt64({s} * ({p}score >= 9)) AS p, "
            f"toInt64({s} * ({p}score BETWEEN 7 AND 8)) AS pa, toInt64({s} * ({p}score <= 6)) AS d "
            f"FROM {src} ARRAY JOIN range({int(SURVEY_SHIFTS)}) AS shift WHERE {p}found = 1")


def _inbound(p: str) -> str:
    return f"{p}found = 1 AND {p}direction = 'inbound'"


def _call_days(src: str, p: str, s: str, tz: str) -> str:
    answered = f"({p}answered_at IS NOT NULL)"
    handle = (f"toDecimal128(ifNull({_micros(p + 'answered_at', p + 'ended_at')}, 0), 6) / 1000000 "
              f"+ toDecimal128({p}hold_seconds + {p}wrap_seconds, 9)")
    return (f"SELECT {_day(p + 'queued_at', tz)} AS day, toUInt8(toHour({p}queued_at, {tz})) AS hour, "
            f"{p}touchpoint AS touchpoint, toInt64({s}) AS offered, "
            f"toInt64({s} * {answered}) AS answered, "
            f"toInt64({s} * ifNull({_micros(p + 'queued_at', p + 'answered_at')}, 0)) AS wait_us_sum, "
            f"if({answered}, {s} * ({handle}), toDecimal128(0, 9)) AS handle_sum "
            f"FROM {src} WHERE {_inbound(p)}")


def _call_waits(src: str, p: str, s: str, tz: str) -> str:
    answered = f"({p}answered_at IS NOT NULL)"
    return (f"SELECT {_day(p + 'queued_at', tz)} AS day, {p}touchpoint AS touchpoint, "
            f"if({answered}, 'wait', 'abandon') AS kind, "
            f"if({answered}, ifNull({_micros(p + 'queued_at', p + 'answered_at')}, 0), "
            f"{_micros(p + 'queued_at', p + 'ended_at')}) AS value_us, toInt64({s}) AS n "
            f"FROM {src} WHERE {_inbound(p)}")


def _review_days(src: str, p: str, s: str, tz: str) -> str:
    return (f"SELECT {_day(p + 'posted_at', tz)} AS day, {p}touchpoint AS touchpoint, {p}platform AS platform, "
            f"ifNull({_micros(p + 'posted_at', p + 'replied_at')}, -1) AS reply_us, "
            f"toInt64({s}) AS reviews, toInt64({s} * {p}rating) AS rating_sum, "
            f"toInt64({s} * {p}rating * {p}rating) AS rating_sq_sum, "
            f"toInt64({s} * ({p}replied_at IS NOT NULL)) AS replied FROM {src} WHERE {p}found = 1")


def _reviews_open(src: str, p: str, s: str, tz: str) -> str:
    return (f"SELECT {_day(p + 'posted_at', tz)} AS day, {p}posted_at AS posted_at, {p}touchpoint AS touchpoint, "
            f"{p}platform AS platform, key AS review_id, {winner_id(p)} AS wid, toInt64({s}) AS n, "
            f"{p}rating AS rating, {p}text AS text "
            f"FROM {src} WHERE {p}found = 1 AND {p}replied_at IS NULL")


def winner_id(p: str = "") -> str:
    """Which copy of which version: rows of different versions of one entity never merge."""
    return f"cityHash64({p}event_id, {p}src_topic, {p}src_partition, {p}src_offset)"


def _agents(src: str, p: str, s: str, tz: str) -> str:
    handle = (f"toDecimal128(ifNull({_micros(p + 'answered_at', p + 'ended_at')}, 0), 6) / 1000000 "
              f"+ toDecimal128({p}hold_seconds + {p}wrap_seconds, 9)")
    return (f"SELECT {_day(p + 'queued_at', tz)} AS day, {p}touchpoint AS touchpoint, {p}agent_id AS agent, "
            f"toInt64({s}) AS answered, {s} * ({handle}) AS handle_sum "
            f"FROM {src} WHERE {_inbound(p)} AND {p}answered_at IS NOT NULL AND {p}agent_id != ''")


def _gap_to_next(p: str, inbound: int) -> str:
    """Microseconds from the end of call x to the queueing of the customer's first later call in
    (1) or out (0), or -1."""
    after = f"arrayFirstIndex(y -> y.inbound = {int(inbound)} AND y.queued > x.ended, {p}calls)"
    return f"if({after} > 0, {p}calls[{after}].queued - x.ended, -1)"


def _resolution(src: str, p: str, s: str, tz: str) -> str:
    """A customer's inbound calls: an answered one with the gap from its end to the customer's next
    inbound call (queued strictly after it ended, at any touchpoint, answered or not); a missed
    one with how long the caller waited and the gap from its end to the first outbound call to
    the customer after it. Windows and the short-abandon threshold apply at query time."""
    return (f"SELECT {_day(_at('x.queued'), tz)} AS day, x.touchpoint AS touchpoint, "
            f"if(x.answered = 1, 'answered', 'missed') AS kind, if(x.answered = 1, x.agent, '') AS agent, "
            f"if(x.answered = 1, {_gap_to_next(p, 1)}, {_gap_to_next(p, 0)}) AS gap_us, "
            f"if(x.answered = 1, 0, x.ended - x.queued) AS abandon_us, "
            f"if(x.answered = 1, '', key) AS customer_id, "
            f"if(x.answered = 1, toDateTime64(0, 6, 'UTC'), fromUnixTimestamp64Micro(x.queued, 'UTC')) AS queued_at, "
            f"if(x.answered = 1, toUInt64(0), cityHash64(x.call_id)) AS wid, toInt64({s}) AS n "
            f"FROM {src} ARRAY JOIN {p}calls AS x WHERE x.inbound = 1")


def _purchase_days(src: str, p: str, s: str, tz: str) -> str:
    return (f"SELECT {_day(p + 'occurred_at', tz)} AS day, {p}touchpoint AS touchpoint, {p}currency AS currency, "
            f"toInt64({s}) AS orders, {s} * {p}amount AS revenue, "
            f"{s} * toDecimal256({p}amount, 6) * {p}amount AS revenue_sq "
            f"FROM {src} WHERE {p}found = 1 AND {p}status = 'completed'")


# A customer's completed orders, sorted by time: Array(ORDER), `t` in microseconds since the epoch.
ORDER = "Tuple(t Int64, order_id String, touchpoint String, currency String, amount Decimal(38, 6))"
# A customer's calls, inbound and outbound, sorted by queued_at (microseconds since the epoch).
CALL = ("Tuple(call_id String, queued Int64, ended Int64, answered UInt8, inbound UInt8, touchpoint String, "
        "agent String)")


# A customer's survey answers of 9-10 (winning versions), sorted by time.
PROMOTER = "Tuple(t Int64, response_id String, touchpoint String)"
# A customer's closed follow-ups: raised at `t`, closed at `closed` (microseconds since the epoch).
CLOSURE = "Tuple(followup_id String, t Int64, closed Int64, touchpoint String)"
WIN_BACK_US = 30 * 86_400 * 1_000_000  # "within 30 days after" the closing (docs/metrics.md)
# A customer's lists, as customers_state keeps them and the "customer" source names them.
CUSTOMER_LISTS = ("orders", "calls", "promoters", "closures")


def _at(t_us: str) -> str:
    return f"fromUnixTimestamp64Micro({t_us}, 'UTC')"


def _customer_days(src: str, p: str, s: str, tz: str) -> str:
    """Per (day, touchpoint, currency) where the customer has an order: one customer, and one
    repeat customer if their first order (over all touchpoints and currencies) is on an earlier day."""
    places = f"arrayDistinct(arrayMap(x -> ({_day(_at('x.t'), tz)}, x.touchpoint, x.currency), {p}orders))"
    first = _day(_at(f"{p}orders[1].t"), tz)
    return (f"SELECT cell.1 AS day, cell.2 AS touchpoint, cell.3 AS currency, toInt64({s}) AS customers, "
            f"toInt64({s} * (cell.1 > {first})) AS repeat_customers "
            f"FROM {src} ARRAY JOIN {places} AS cell WHERE length({p}orders) > 0")


_MAX_MICROS = "toUnixTimestamp64Micro(toDateTime64('2299-12-31 23:59:59.999999', 6, 'UTC'))"
_NEVER = "toDate32('2299-12-31')"


def _loyalty(src: str, p: str, s: str, tz: str) -> str:
    """One customer's rows in each (touchpoint, currency) ledger of loyalty_monthly (docs/metrics.md).

    Purchase k (at t_k, first at t_1) counts in its month; the customer is active in every month
    with a purchase (kind 3), new in the month of k = 1. After purchase k >= 2 they are lapsed at
    a month end E when E - t_k > 2 (t_k - t_1) / (k - 1), i.e. E > t_k + floor(2 (t_k - t_1) / (k - 1))
    in integer microseconds, until their next purchase: +1 in the month holding that instant (kind
    1) and -1 in the month of the next purchase (kind 2); the view keeps the running sum."""
    ledger = f"arrayFilter(x -> x.touchpoint = lg.1 AND x.currency = lg.2, {p}orders)"
    return f"""SELECT ev.1 AS month, touchpoint, currency,
        toInt64(sgn * (ev.2 = 0)) AS orders,
        sgn * if(ev.2 = 0, amount, toDecimal128(0, 6)) AS revenue,
        toInt64(sgn * (ev.2 = 3)) AS active_customers,
        toInt64(sgn * (ev.2 = 0 AND k = 1)) AS new_customers,
        toInt128(sgn * if(ev.2 = 0 AND k >= 2, t - prev_t, 0)) AS interval_us,
        toInt64(sgn * (ev.2 = 0 AND k >= 2)) AS intervals,
        toInt64(sgn * ((ev.2 = 1) - (ev.2 = 2))) AS lapse_delta
    FROM (
        SELECT sgn, touchpoint, currency, k, t, prev_t, amount, month_k, next_month, new_month,
            if(lapse_us < {_MAX_MICROS}, {_month(_at('lapse_us'), tz)}, {_NEVER}) AS lapse_month
        FROM (
            SELECT toInt8({s}) AS sgn, lg.1 AS touchpoint, lg.2 AS currency, k, l[k].t AS t, l[k].amount AS amount,
                {_month(_at('t'), tz)} AS month_k,
                if(k > 1, l[k - 1].t, 0) AS prev_t,
                k = 1 OR {_month(_at('prev_t'), tz)} != month_k AS new_month,
                if(k > 1, t + intDiv(2 * (t - l[1].t), greatest(k - 1, 1)), {_MAX_MICROS}) AS lapse_us,
                if(k < length(l), {_month(_at('l[k + 1].t'), tz)}, {_NEVER}) AS next_month
            FROM {src}
            ARRAY JOIN arrayDistinct(arrayMap(x -> (x.touchpoint, x.currency), {p}orders)) AS lg
            ARRAY JOIN [{ledger}] AS l
            ARRAY JOIN arrayEnumerate(l) AS k
        )
    )
    ARRAY JOIN arrayFilter(e -> e.2 = 0 OR (e.2 = 3 AND new_month) OR (k >= 2 AND lapse_month < next_month AND e.2 IN (1, 2)),
                           [(month_k, 0), (lapse_month, 1), (next_month, 2), (month_k, 3)]) AS ev"""


def _followups(src: str, p: str, s: str, tz: str) -> str:
    """A follow-up raised (`found`) in its present state: `new` until its first update."""
    u = f"{p}u_found = 1"
    closed = f"({u} AND {p}u_status = 'closed')"
    wid = (f"cityHash64({p}event_id, {p}src_topic, {p}src_partition, {p}src_offset, {p}u_found, {p}u_event_id, "
           f"{p}u_src_topic, {p}u_src_partition, {p}u_src_offset, {p}u_first_contact)")
    details = (f"map('customer_id', {p}customer_id, 'response_id', {p}response_id, 'brand', {p}brand, "
               f"'kind', {p}kind, 'event_id', {p}event_id, 'created_at', toString({p}created_at), "
               f"'owner', if({u}, {p}u_owner, ''), 'note', if({u}, {p}u_note, ''), "
               f"'updated_at', if({u}, toString({p}u_occurred_at), ''))")
    return (f"SELECT {_day(p + 'occurred_at', tz)} AS day, {p}touchpoint AS touchpoint, "
            f"if({u}, {p}u_status, 'new') AS state, if({closed}, {p}u_resolution, '') AS resolution, "
            f"key AS followup_id, {wid} AS wid, {p}occurred_at AS at, "
            f"if({u}, {p}u_first_contact, toInt64({NO_TIME})) AS first_contact_us, "
            f"if({closed}, toUnixTimestamp64Micro({p}u_occurred_at), toInt64({NO_TIME})) AS closed_us, "
            f"toInt64({s}) AS n, {p}score AS score, {p}comment AS comment, {details} AS details "
            f"FROM {src} WHERE {p}found = 1")


def _recovered(src: str, p: str, s: str, tz: str) -> str:
    """A customer's closed follow-ups followed, at the same touchpoint, by a promoter answer
    strictly after the closing and at most WIN_BACK_US after it."""
    won = (f"arrayExists(y -> y.touchpoint = x.touchpoint AND y.t > x.closed AND y.t <= x.closed + {int(WIN_BACK_US)}, "
           f"{p}promoters)")
    return (f"SELECT {_day(_at('x.t'), tz)} AS day, x.touchpoint AS touchpoint, x.followup_id AS followup_id, "
            f"toInt64({s}) AS n FROM {src} ARRAY JOIN {p}closures AS x WHERE {won}")


def rows(metric: str, source: str, src: str, p: str, s: str, tz: str) -> str:
    """SELECT of `metric`'s named columns contributed by the versions (or customers) in `src`,
    whose columns are named `{p}column` (and the entity key `key`), with sign `s`."""
    if metric == "purchase":
        return _customer_days(src, p, s, tz) if source == "customer" else _purchase_days(src, p, s, tz)
    if metric == "survey":
        return _surveys(src, p, s, tz)
    if metric == "call":
        return _call_days(src, p, s, tz)
    if metric == "call_wait":
        return _call_waits(src, p, s, tz)
    if metric == "review":
        return _review_days(src, p, s, tz)
    if metric == "review_open":
        return _reviews_open(src, p, s, tz)
    if metric == "loyalty":
        return _loyalty(src, p, s, tz)
    if metric == "agent":
        return _agents(src, p, s, tz)
    if metric == "resolution":
        return _resolution(src, p, s, tz)
    if metric == "followup":
        return _followups(src, p, s, tz)
    if metric == "recovered":
        return _recovered(src, p, s, tz)
    raise ValueError(f"no contribution rows for {metric} from {source}")


def by_source(source: str) -> list[tuple[str, tuple[str, ...]]]:
    """(metric, measures written) of every metric fed by `source`."""
    return [(metric, measures) for metric, src, measures in SOURCES if src == source]


def physical(metric: str, named: str, keys: tuple[str, ...], measures: tuple[str, ...]) -> str:
    """`named` (a SELECT of `metric`'s key columns `keys` and measures `measures`) as rows of the
    physical table, every other column at its default."""
    mapping = METRICS[metric]
    given = {mapping[n]: n for n in (*keys, *measures)}
    cols = [f"{given[c]} AS {c}" if c in given else f"{DEFAULTS[c]} AS {c}"
            for c, _ in KEY_COLUMNS[1:]] + [f"{given[c]} AS {c}" if c in given else f"{DEFAULTS[c]} AS {c}"
                                            for c, _, _ in MEASURE_COLUMNS]
    return f"SELECT {METRIC_LITERAL[metric]} AS metric, {', '.join(cols)} FROM ({named})"


METRIC_LITERAL = {m: "'" + m + "'" for m in METRICS}


def metric_keys(metric: str) -> tuple[str, ...]:
    return tuple(n for n, c in METRICS[metric].items() if c in dict(KEY_COLUMNS))


def combine(db: str, target: str, source: str) -> str:
    """INSERT into `target` of the physical rows in `source` (a table or subquery), combined per
    key, rows that add up to nothing dropped: one part."""
    keys = ", ".join(c for c, _ in KEY_COLUMNS)
    aggs = ", ".join(f"{how}({c}) AS s_{c}" for c, how, _ in MEASURE_COLUMNS)
    live = " OR ".join([f"s_{c} != {DEFAULTS[c]}" for c, how, _ in MEASURE_COLUMNS if how != "any"])
    return (f"INSERT INTO {db}.{target} ({keys}, {', '.join(c for c, _, _ in MEASURE_COLUMNS)})\n"
            f"SELECT {keys}, {aggs}\nFROM {source}\nGROUP BY {keys}\nHAVING {live}")


def versions(changes: str, names: list[str]) -> str:
    """A batch's changes (`changes`: key, old_* and new_* columns) as rows: the old version with
    sign -1 and the new one with sign +1, each with the version's own column names."""
    cols = ", ".join(f"if(sign = 1, new_{n}, old_{n}) AS {n}" for n in names)
    return f"(SELECT key, sign, {cols} FROM {changes} ARRAY JOIN [-1, 1] AS sign)"


def contributions(source: str, rows_of: str, tz: str) -> str:
    """SELECT of the physical rows that the versions in `rows_of` (columns of a version, `key` and
    `sign`) contribute to every metric `source` feeds."""
    parts = [physical(metric, rows(metric, source, rows_of, "", "sign", tz), metric_keys(metric), measures)
             for metric, measures in by_source(source)]
    return "\nUNION ALL\n".join(parts)


def summed(db: str, metric: str, where: str = "", map_keys: tuple[str, ...] = ()) -> str:
    """A subquery of `metric`'s rows summed per key, with the metric's own column names. With
    `map_keys`, the Map measure `details` gives those keys as String columns of the same names
    instead of itself: `any` of a Map keeps a generic value per group (80 ms for the 11,000
    follow-ups of one day, chDB 26.9), `any` of a String does not (12 ms)."""
    mapping = METRICS[metric]
    keys = [n for n in metric_keys(metric)]
    aggs = {c: how for c, how, _ in MEASURE_COLUMNS}
    measures = [n for n in mapping if n not in keys]
    select = [f"{mapping[n]} AS {n}" for n in keys]
    for n in measures:
        if map_keys and mapping[n] == "details":
            select += [f"{aggs['details']}({mapping[n]}['{k}']) AS {k}" for k in map_keys]
        else:
            select.append(f"{aggs[mapping[n]]}({mapping[n]}) AS {n}")
    return _of_metric(db, metric, select, where, f"\n        GROUP BY {', '.join(keys)}")


def stored(db: str, metric: str, where: str = "") -> str:
    """`metric`'s rows as stored, not summed per key (the metric's own column names): for a view
    whose every aggregate is linear in the measures (sum, sumIf or sumMapIf of a measure, under a
    condition on key columns only). A version's -1 row then cancels its +1 row in the aggregate
    itself, exactly as in `summed`, without first grouping by every key: for the per-call and
    per-review rows that GROUP BY (a String key among ~1M rows a month) was most of a query."""
    mapping = METRICS[metric]
    return _of_metric(db, metric, [f"{mapping[n]} AS {n}" for n in mapping], where, "")


def _of_metric(db: str, metric: str, select: list[str], where: str, group: str) -> str:
    return (f"(\n        SELECT {', '.join(select)}\n        FROM {db}.sums\n        WHERE metric = "
            f"{METRIC_LITERAL[metric]}{' AND ' + where if where else ''}{group}\n    )")
