"""The event contract compiled into msgspec Structs: the validator's fast path, pure and I/O-free.

msgspec decodes a message straight into typed Structs (required fields, types, lengths, ranges
and choices checked in C, no intermediate dict), and a few lines per type finish what it cannot
express: timestamps, slugs, currency codes, amounts, the time-order rules. `decode` returns the same
`Event` as `events.parse_event_detailed`, or None when it cannot vouch for the message; the
caller then runs the reference validator, which also words the reason. So this module never
rejects anything itself, and only has to be right about what it accepts.

Where msgspec is more lenient than the reference, the message is left to the reference:
- timestamps are decoded as strings and read here: msgspec's own datetime parser rounds
  fractions beyond microseconds (the reference truncates them, and refuses more than 9 digits)
  and takes `+hhmm` offsets. `_time` takes the common shapes (at most 6 fraction digits, `Z` or
  `+hh:mm`) through the reference's own regex and `datetime.fromisoformat`, nothing else;
- ignored fields: msgspec skips unknown fields without checking their UTF-8, depth or number
  range, so the Structs forbid unknown fields; a message with some is decoded again by
  Structs that ignore them, after orjson (the reference's parser) has accepted the whole text;
- NUL characters, which the contract refuses in every string, can only be written `\\u0000`;
- a decoder of one tagged Struct does not require the tag: the union decoder is always used;
- integers beyond 64 bits: orjson reads them as floats, msgspec exactly; only `amount` could
  tell the difference, so such an amount is left to the reference.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from typing import Annotated, Callable, Literal, Union

import msgspec
import orjson
from msgspec import Meta

from touchpulse.core import events as _events
from touchpulse.core.events import (CURRENCY, DECIMAL_TEXT, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES, MAX_TEXT_CHARS, SLUG,
                                    Event)
from touchpulse.core.timestamps import MAX_TIMESTAMP, MIN_TIMESTAMP

_UTC = timezone.utc
_MIN_YEAR, _MAX_YEAR = MIN_TIMESTAMP.year, MAX_TIMESTAMP.year  # whole years: [1900, 2300)
_UINT64_END = 2**64  # orjson reads larger integers as floats

# The timestamps `_time` reads itself: the reference's pattern (touchpulse/core/timestamps.py)
# without its rare shapes (a lower-case 'z', 7-9 fraction digits), which the reference handles.
_COMMON_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})")
_fromisoformat = datetime.fromisoformat

Text128 = Annotated[str, Meta(min_length=1, max_length=128)]
Text64 = Annotated[str, Meta(min_length=1, max_length=64)]
Key = Annotated[str, Meta(min_length=1, max_length=256)]
LongText = Annotated[str, Meta(max_length=MAX_TEXT_CHARS)]
Time = str  # read by `_time`
Seconds = Annotated[float, Meta(ge=0, le=1e9)]
Attributes = Annotated[dict[str, str], Meta(max_length=MAX_ATTRIBUTES)]


class _Envelope(msgspec.Struct, kw_only=True, gc=False):
    event_id: Text128
    version: Literal[1]
    occurred_at: Time
    touchpoint: str
    customer_id: Text128 | None = None
    attributes: Attributes | None = None
    source: Text64 | None = None


class _Call(_Envelope, kw_only=True, gc=False):
    call_id: Key
    direction: Literal["inbound", "outbound"] | None = None
    queued_at: Time
    answered_at: Time | None = None
    ended_at: Time
    hold_seconds: Seconds | None = None
    wrap_seconds: Seconds | None = None
    agent_id: Key | None = None


class _Purchase(_Envelope, kw_only=True, gc=False):
    order_id: Key
    amount: int | float | str
    currency: str
    item_count: Annotated[int, Meta(ge=1, le=2**31 - 1)] | None = None
    status: Literal["completed", "refunded"] | None = None


class _Review(_Envelope, kw_only=True, gc=False):
    review_id: Key
    platform: str
    rating: Annotated[int, Meta(ge=1, le=5)]
    posted_at: Time
    replied_at: Time | None = None
    text: LongText | None = None


class _Survey(_Envelope, kw_only=True, gc=False):
    response_id: Key
    score: Annotated[int, Meta(ge=0, le=10)]
    kind: Literal["transactional", "relationship"] | None = None
    brand: str | None = None
    interaction_id: Key | None = None
    comment: LongText | None = None


class _FollowupUpdate(_Envelope, kw_only=True, gc=False):
    followup_id: Key
    status: Literal["assigned", "contacted", "closed"]
    resolution: Literal["resolved", "unresolved", "unreachable"] | None = None
    owner: Text128 | None = None
    note: LongText | None = None


_BASES = {"call": _Call, "purchase": _Purchase, "review": _Review, "survey": _Survey,
          "followup_update": _FollowupUpdate}


def _tagged(forbid_unknown_fields: bool) -> dict[str, type]:
    """One Struct per type, tagged by the `type` field, for the tagged-union decoder."""
    return {etype: msgspec.defstruct(f"{base.__name__[1:]}{'Strict' if forbid_unknown_fields else ''}", [],
                                     bases=(base,), tag=etype, tag_field="type", kw_only=True, gc=False,
                                     forbid_unknown_fields=forbid_unknown_fields)
            for etype, base in _BASES.items()}


def _decoder(structs: dict[str, type]) -> msgspec.json.Decoder:
    """The tagged union: `type` picks the Struct. (A decoder of one tagged Struct would accept a
    message without `type`, so the topic's type is checked after decoding instead.)"""
    return msgspec.json.Decoder(Union[tuple(structs.values())])  # type: ignore[misc]


_STRICT = _tagged(forbid_unknown_fields=True)
_LENIENT = _tagged(forbid_unknown_fields=False)
_STRICT_DECODER = _decoder(_STRICT)
_LENIENT_DECODER = _decoder(_LENIENT)


def decode(raw: bytes, expected_type: str | None = None) -> Event | None:
    """The Event that `parse_event_detailed` would return, or None: not vouched for (most
    likely rejected; the reference decides and gives the reason)."""
    if type(raw) is not bytes or len(raw) > MAX_MESSAGE_BYTES or (b"\\" in raw and b"\\u0000" in raw):
        return None
    try:
        s = _STRICT_DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        if not str(exc).startswith("Object contains unknown field"):
            return None
        s = _with_unknown_fields(raw)
        if s is None:
            return None
    except Exception:  # malformed JSON, too deep, ...: the reference says why
        return None
    etype, build = _BUILDERS[type(s)]
    if expected_type is not None and etype != expected_type:
        return None
    return build(s)


def _with_unknown_fields(raw: bytes):
    """Forward-compatible messages (fields the contract does not know): orjson checks the whole
    text as the reference would, then Structs that skip unknown fields decode it."""
    try:
        orjson.loads(raw)
        return _LENIENT_DECODER.decode(raw)
    except Exception:
        return None


def _time(text: str) -> datetime | None:
    """What `parse_timestamp` returns for `text`, for the common shapes; None otherwise."""
    if _COMMON_TIME.fullmatch(text) is None:
        return None
    try:
        ts = _fromisoformat(text)
        if ts.tzinfo is not _UTC:  # "+00:00" and "Z" give UTC itself
            ts = ts.astimezone(_UTC)
    except (ValueError, OverflowError):  # e.g. February 30th, or year 1 at +01:00
        return None
    return ts if _MIN_YEAR <= ts.year < _MAX_YEAR else None


def _slug(value: str) -> bool:
    if value in _VALID_SLUGS:
        return True
    if SLUG.fullmatch(value) is None:
        return False
    if len(_VALID_SLUGS) < 10_000:
        _VALID_SLUGS.add(value)
    return True


_VALID_SLUGS = _events._VALID_SLUGS  # the reference's cache: only strings its regex accepted
_VALID_CURRENCIES: set[str] = set()


def _envelope(s: _Envelope) -> dict | None:
    occurred = _time(s.occurred_at)
    if occurred is None:
        return None
    touchpoint = s.touchpoint
    if touchpoint not in _VALID_SLUGS and not _slug(touchpoint):
        return None
    customer_id, attributes, source = s.customer_id, s.attributes, s.source
    return {"event_id": s.event_id, "occurred_at": occurred, "touchpoint": touchpoint,
            "customer_id": "" if customer_id is None else customer_id,
            "attributes": {} if attributes is None else attributes,
            "source": "" if source is None else source}


def _call(s: _Call) -> Event | None:
    v = _envelope(s)
    if v is None:
        return None
    queued = _time(s.queued_at)
    answered = s.answered_at
    if answered is not None:
        answered = _time(answered)
        if answered is None:
            return None
    # A CDR usually occurs when the call ends: the same text, read once.
    ended = v["occurred_at"] if s.ended_at == s.occurred_at else _time(s.ended_at)
    if queued is None or ended is None or ended < queued or (answered is not None and ended < answered):
        return None
    direction, hold, wrap, agent = s.direction, s.hold_seconds, s.wrap_seconds, s.agent_id
    v["call_id"] = s.call_id
    v["direction"] = "inbound" if direction is None else direction
    v["queued_at"] = queued
    v["answered_at"] = answered
    v["ended_at"] = ended
    v["hold_seconds"] = 0.0 if hold is None else hold
    v["wrap_seconds"] = 0.0 if wrap is None else wrap
    v["agent_id"] = "" if agent is None else agent
    return Event("call", v)


def _amount(value: int | float | str) -> Decimal | None:
    """`amount_value(value)` without its slow general checks, where the shape makes them moot."""
    if type(value) is str:
        # The pattern allows at most 20 integer digits and 6 decimals: < 1e20, nothing to round.
        return Decimal(value) if DECIMAL_TEXT.fullmatch(value) is not None else None
    if type(value) is int:
        # 2**64 and above are floats to the reference (orjson), see the module docstring.
        return Decimal(value) if 0 <= value < _UINT64_END else None
    if not 0.0 <= value < 1e20:  # the reference compares Decimal(repr(value)): the same verdict
        return None
    # repr gives the shortest digits that read back as the float: no trailing zeros after the
    # first decimal, so at most 6 decimals written means nothing beyond the 6th place.
    # (Exponent forms, below 1e-4 or from 1e16 up, are left to the reference.)
    text = repr(value)
    if "e" in text or len(text) - text.index(".") > 7:
        return None
    return Decimal(text)


def _purchase(s: _Purchase) -> Event | None:
    v = _envelope(s)
    if v is None:
        return None
    amount = _amount(s.amount)
    if amount is None:
        return None
    currency = s.currency
    if currency not in _VALID_CURRENCIES:
        if CURRENCY.fullmatch(currency) is None:
            return None
        if len(_VALID_CURRENCIES) < 1_000:
            _VALID_CURRENCIES.add(currency)
    count, status = s.item_count, s.status
    v["order_id"] = s.order_id
    v["amount"] = amount
    v["currency"] = currency
    v["item_count"] = 1 if count is None else count
    v["status"] = "completed" if status is None else status
    return Event("purchase", v)


def _review(s: _Review) -> Event | None:
    v = _envelope(s)
    if v is None:
        return None
    platform = s.platform
    if platform not in _VALID_SLUGS and not _slug(platform):
        return None
    posted, replied = _time(s.posted_at), s.replied_at
    if posted is None:
        return None
    if replied is not None:
        replied = _time(replied)
        if replied is None or replied < posted:
            return None
    text = s.text
    v["review_id"] = s.review_id
    v["platform"] = platform
    v["rating"] = s.rating
    v["posted_at"] = posted
    v["replied_at"] = replied
    v["text"] = "" if text is None else text
    return Event("review", v)


def _survey(s: _Survey) -> Event | None:
    v = _envelope(s)
    if v is None:
        return None
    kind, brand, interaction, comment = s.kind, s.brand, s.interaction_id, s.comment
    if brand is None:
        brand = "own"
    elif brand not in _VALID_SLUGS and not _slug(brand):
        return None
    v["response_id"] = s.response_id
    v["score"] = s.score
    v["kind"] = "transactional" if kind is None else kind
    v["brand"] = brand
    v["interaction_id"] = "" if interaction is None else interaction
    v["comment"] = "" if comment is None else comment
    return Event("survey", v)


def _followup_update(s: _FollowupUpdate) -> Event | None:
    v = _envelope(s)
    if v is None:
        return None
    status, resolution, owner, note = s.status, s.resolution, s.owner, s.note
    if resolution is None:
        resolution = "resolved" if status == "closed" else ""
    elif status != "closed":  # refused: the reference words why
        return None
    v["followup_id"] = s.followup_id
    v["status"] = status
    v["resolution"] = resolution
    v["owner"] = "" if owner is None else owner
    v["note"] = "" if note is None else note
    return Event("followup_update", v)


_BY_TYPE: dict[str, Callable] = {"call": _call, "purchase": _purchase, "review": _review, "survey": _survey,
                                 "followup_update": _followup_update}
_BUILDERS: dict[type, tuple[str, Callable]] = {structs[etype]: (etype, build) for structs in (_STRICT, _LENIENT)
                                               for etype, build in _BY_TYPE.items()}
