"""A year of facts written straight into ClickHouse with INSERT ... SELECT FROM numbers(N):
pushing 20M events through Kafka would take the bench hours, and query speed depends on the
rows, not on how they arrived. Shapes follow the simulator's profiles (touchpoint mix, NPS
mix per touchpoint, opening hours), and like real traffic a few % of entities get a second
version and ~0.5 % of messages are exact re-sends at another Kafka position.

All randomness is `cityHash64(number, k)`, so the same size gives the same data. Their Kafka
positions name topics of their own (`history.*`): applied offsets are remembered per topic
partition, and positions of the real topics would make a worker skip real messages as replays.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from touchpulse.clickhouse.schema import literal, q
from touchpulse.simulate import profiles as P

DAYS = 365
SLOTS = 400  # weighted choices become arrays of this many entries, indexed by a hash

_SURVEY_MIX = {"chat": 12, "field_engineers": 10, "billing": 10, "social_media": 4, "delivery": 6, "website": 12,
               "mobile_app": 12, "call_centre": 14, "tech_support": 6, "business_line": 4, "roaming_desk": 2,
               "retail_store": 5, "flagship_store": 3}
_COMMENTS = ["", "", "", "", "Too long on hold", "Great service, thank you", "I was charged twice", "OK overall",
             "The engineer came two days late", "Quick and friendly"]


def _u(k: int, of: str = "number") -> str:
    """A uniform float in [0, 1) from the row number (or another expression) and a stream k."""
    return f"(cityHash64({of}, {k}) / 18446744073709551616.)"


def _pick(k: int, weights: dict[str, float], of: str = "number") -> str:
    """A weighted choice: an array literal of SLOTS entries indexed by a hash."""
    return f"arrayElement({_array(_slots(weights))}, 1 + cityHash64({of}, {k}) % {SLOTS})"


def _slots(weights: dict, slots: int = SLOTS) -> list:
    total = sum(weights.values())
    exact = {k: slots * w / total for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - counts[k], reverse=True)[:slots - sum(counts.values())]:
        counts[k] += 1
    return [k for k, n in counts.items() for _ in range(n)]


def _array(values: list) -> str:
    return "[" + ", ".join(literal(v) if isinstance(v, str) else repr(v) for v in values) + "]"


def _hours(curve: list[float]) -> dict[int, float]:
    return {h: w for h, w in enumerate(curve) if w > 0}


def _instant(k_day: int, k_hour: int, k_sec: int, curve: list[float], start_epoch: int, of: str) -> str:
    """Seconds since the epoch: a uniform day of the year, an hour by the load curve, a second."""
    hour = f"toUInt32(arrayElement({_array(_slots(_hours(curve)))}, 1 + cityHash64({of}, {k_hour}) % {SLOTS}))"
    return (f"({start_epoch} + 86400 * toUInt32(floor({_u(k_day, of)} * {DAYS})) + 3600 * {hour} "
            f"+ floor({_u(k_sec, of)} * 3600))")


def _ts(seconds: str) -> str:
    return f"fromUnixTimestamp64Micro(toInt64(({seconds}) * 1000000), 'UTC')"


def year_start(end: date) -> int:
    return int(datetime.combine(end - timedelta(days=DAYS), time(0), timezone.utc).timestamp())


def _versions(second_every: int) -> str:
    """`src` is the message whose content this row repeats (every 200th row re-sends the previous
    one); `entity` is its entity (every `second_every`-th message is a new version of the previous)."""
    return (f"if(number % 200 = 199, number - 1, number) AS src, "
            f"if(src % {second_every} = {second_every - 1}, src - 1, src) AS entity, "
            f"toUInt32(src != entity) AS version2")


def surveys_sql(db: str, rows: int, end: date, slugs: list[str]) -> str:
    mix = {s: _SURVEY_MIX.get(s, 2) for s in slugs}
    tps = _slots(mix)
    promoters = [P.NPS_MIX.get(t, P.DEFAULT_NPS_MIX)[0] for t in tps]
    detractors = [P.NPS_MIX.get(t, P.DEFAULT_NPS_MIX)[1] for t in tps]
    start = year_start(end)
    occurred = f"{_instant(1, 2, 3, P.DIGITAL_CURVE, start, 'entity')} + 600 * version2"
    return f"""
INSERT INTO {q(db)}.surveys (event_id, occurred_at, touchpoint, customer_id, attributes, source, response_id, score,
    kind, brand, interaction_id, comment, src_topic, src_partition, src_offset, src_timestamp)
SELECT concat('se-', toString(src)), {_ts('t')}, touchpoint,
    concat('c-', toString(cityHash64(entity, 9) % 2000000)), map('region', {_pick(10, {r: 1 for r in P.REGIONS}, 'entity')}),
    'survey_tool', concat('sr-', toString(entity)),
    toUInt8(multiIf(u < arrayElement({_array(promoters)}, i), 9 + cityHash64(src, 5) % 2,
                    u < 1 - arrayElement({_array(detractors)}, i), 7 + cityHash64(src, 5) % 2,
                    cityHash64(src, 5) % 7)),
    if({_u(6, 'entity')} < 0.1, 'relationship', 'transactional'),
    {_pick(7, P.BRANDS, 'entity')}, '', arrayElement({_array(_COMMENTS)}, 1 + cityHash64(src, 8) % {len(_COMMENTS)}),
    'history.surveys', toUInt32(cityHash64(entity) % 4), number, {_ts('t + 2 + (number != src) * 300')}
FROM (
    SELECT number, {_versions(33)}, 1 + cityHash64(entity, 4) % {SLOTS} AS i,
        arrayElement({_array(tps)}, i) AS touchpoint, {_u(11, 'src')} AS u, {occurred} AS t
    FROM numbers({rows})
)"""


def calls_sql(db: str, rows: int, end: date) -> str:
    start = year_start(end)
    occurred = f"{_instant(1, 2, 3, P.CALL_CURVE, start, 'entity')}"
    return f"""
INSERT INTO {q(db)}.calls (event_id, occurred_at, touchpoint, customer_id, attributes, source, call_id, direction,
    queued_at, answered_at, ended_at, hold_seconds, wrap_seconds, agent_id, src_topic, src_partition, src_offset,
    src_timestamp)
SELECT concat('ce-', toString(src)), {_ts('ended')}, touchpoint, concat('c-', toString(cityHash64(entity, 9) % 2000000)),
    map(), 'pbx', concat('call-', toString(entity)), direction,
    {_ts('queued')}, if(answered, {_ts('queued + wait')}, NULL), {_ts('ended')},
    if({_u(14, 'entity')} < 0.1, floor(-60 * log(1 - {_u(15, 'entity')})), 0), 20 + floor(40 * {_u(16, 'entity')}),
    if(answered, concat('a-', toString(cityHash64(entity, 17) % 400)), ''),
    'history.calls', toUInt32(cityHash64(entity) % 4), number, {_ts('ended + 1 + (number != src) * 300')}
FROM (
    SELECT number, {_versions(50)},
        if({_u(5, 'entity')} < 0.08, 'outbound', 'inbound') AS direction,
        if(direction = 'inbound', {_pick(6, P.CALL_TOUCHPOINTS, 'entity')}, {_pick(7, P.OUTBOUND_TOUCHPOINTS, 'entity')})
            AS touchpoint,
        {occurred} AS queued,
        {_u(8, 'entity')} < 0.9 AS answered,
        if(answered, floor(-25 * log(1 - {_u(10, 'entity')}), 1), 0) AS wait,
        if(answered, queued + wait + 30 + floor(-240 * log(1 - {_u(12, 'entity')})),
           queued + floor(-40 * log(1 - {_u(13, 'entity')}))) + 60 * version2 AS ended
    FROM numbers({rows})
)"""


def reviews_sql(db: str, rows: int, end: date) -> str:
    start = year_start(end)
    platforms = sorted({p for ps in P.REVIEW_PLATFORMS.values() for p in ps})
    return f"""
INSERT INTO {q(db)}.reviews (event_id, occurred_at, touchpoint, customer_id, attributes, source, review_id, platform,
    rating, posted_at, replied_at, text, src_topic, src_partition, src_offset, src_timestamp)
SELECT concat('re-', toString(src)), {_ts('posted + 60 * version2')}, {_pick(4, P.REVIEW_TOUCHPOINTS, 'entity')},
    '', map(), 'review_poller', concat('rev-', toString(entity)), platform,
    toUInt8(1 + cityHash64(src, 5) % 5), {_ts('posted')},
    if({_u(6, 'entity')} < 0.6 OR version2 = 1, {_ts('posted + 3600 * (1 + floor(-30 * log(1 - ' + _u(7, 'entity') + ')))')}, NULL),
    'Good service, minor issues.', 'history.reviews', toUInt32(cityHash64(entity) % 4), number,
    {_ts('posted + 5 + (number != src) * 300')}
FROM (
    SELECT number, {_versions(20)}, {_pick(8, {p: 1 for p in platforms}, 'entity')} AS platform,
        {_instant(1, 2, 3, P.DIGITAL_CURVE, start, 'entity')} AS posted
    FROM numbers({rows})
)"""


def purchases_sql(db: str, rows: int, end: date) -> str:
    start = year_start(end)
    mix = {**{k: 0.5 * v for k, v in P.STORE_TOUCHPOINTS.items()}, **{k: 0.5 * v for k, v in P.DIGITAL_TOUCHPOINTS.items()}}
    customers = max(rows // 12, 1)  # each identified customer buys about once a month
    return f"""
INSERT INTO {q(db)}.purchases (event_id, occurred_at, touchpoint, customer_id, attributes, source, order_id, amount,
    currency, item_count, status, src_topic, src_partition, src_offset, src_timestamp)
SELECT concat('pe-', toString(src)), {_ts('t')}, {_pick(4, mix, 'entity')},
    if({_u(5, 'entity')} < 0.35, '', concat('c-', toString(cityHash64(entity, 9) % {customers}))), map(), 'shop',
    concat('o-', toString(entity)), toDecimal128(round(5 + 195 * {_u(6, 'entity')}, 2), 6), '{P.CURRENCY}',
    toUInt32(1 + cityHash64(entity, 7) % 4), if(version2 = 1, 'refunded', 'completed'),
    'history.purchases', toUInt32(cityHash64(entity) % 4), number, {_ts('t + 1 + (number != src) * 300')}
FROM (
    SELECT number, {_versions(40)}, {_instant(1, 2, 3, P.STORE_CURVE, start, 'entity')} + 86400 * version2 AS t
    FROM numbers({rows})
)"""


def followups_sql(db: str, below: int) -> str:
    """A follow-up for every low survey answer, as the worker raises them."""
    return f"""
INSERT INTO {q(db)}.followups (followup_id, event_id, response_id, customer_id, touchpoint, brand, kind, score,
    comment, occurred_at, due_at, created_at, src_topic, src_partition, src_offset, src_timestamp)
SELECT concat('f-', event_id), event_id, response_id, customer_id, touchpoint, brand, kind, score, comment,
    occurred_at, occurred_at + INTERVAL 48 HOUR, src_timestamp, 'history.followups', src_partition, src_offset,
    src_timestamp
FROM {q(db)}.surveys WHERE score < {int(below)}"""


def dead_letters_sql(db: str, rows: int, end: date) -> str:
    start = year_start(end)
    return f"""
INSERT INTO {q(db)}.dead_letters (type, reason, field, message_key, raw, src_topic, src_partition, src_offset,
    src_timestamp)
SELECT {_pick(1, {'call': 5, 'survey': 3, 'purchase': 1, 'review': 1})} AS type,
    {_pick(2, {"field 'score': must be 0..10, got 11": 1, "field 'occurred_at': has no UTC offset": 2,
               "not valid UTF-8 JSON: unexpected end of data": 2, "field 'event_id': is required": 1})} AS reason,
    '', '', '{{"broken": true}}', concat('history.', type, 's'), toUInt32(number % 4), number,
    {_ts(f'{start} + floor({_u(3)} * {DAYS * 86400})')}
FROM numbers({rows})"""


def plan(db: str, rows: int, end: date, slugs: list[str], followup_below: int) -> list[tuple[str, int | None, str]]:
    """(table, rows or None when derived, SQL) in the order to run them."""
    small = max(rows // 200, 1)
    return [
        ("surveys", rows, surveys_sql(db, rows, end, slugs)),
        ("calls", rows, calls_sql(db, rows, end)),
        ("purchases", max(rows // 20, 1), purchases_sql(db, max(rows // 20, 1), end)),
        ("reviews", small, reviews_sql(db, small, end)),
        ("followups", None, followups_sql(db, followup_below)),
        ("dead_letters", max(rows // 300, 1), dead_letters_sql(db, max(rows // 300, 1), end)),
    ]
