"""Event contract v1 (docs/events.md): parse and validate one Kafka message, pure and I/O-free.

A message either becomes an `Event` whose `values` are already normalised to the
fact-table columns (UTC datetimes, Decimal amounts, defaults filled in), or raises
`Rejected` with the offending field named, so the dead-letter reason is readable.

Two validators implement the same rules. `parse_event_detailed` (this module) is the
reference: a dict from orjson, checked field by field, with a reason for every refusal.
`touchpulse.core.compiled` decodes straight into msgspec Structs, ~3x faster, and only
ever accepts what the reference accepts, with the same values; when it cannot vouch for a
message (a reject, or an unusual shape), `parse_event` asks the reference, so the reasons
come from one place. tests/unit/core/test_compiled.py holds the two to the same results.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import orjson

from touchpulse.core.timestamps import TimestampError, parse_timestamp

MAX_MESSAGE_BYTES = 64 * 1024
MAX_TEXT_CHARS = 10_000
MAX_ATTRIBUTES = 32
EVENT_TYPES = ("call", "purchase", "review", "survey", "followup_update")
SLUG = re.compile(r"[a-z][a-z0-9_]{0,63}")
CURRENCY = re.compile(r"[A-Z]{3}")
DECIMAL_TEXT = re.compile(r"[0-9]{1,20}(?:\.[0-9]{1,6})?")  # ASCII digits: Decimal() reads any script's
# Amounts are stored as Decimal(38, 6): finer fractions would be silently rounded, so they are refused.
MAX_AMOUNT = Decimal("1e20")

# Columns every fact table starts with, in order.
COMMON_COLUMNS = ("event_id", "occurred_at", "touchpoint", "customer_id", "attributes", "source")
TYPE_COLUMNS = {
    "call": ("call_id", "direction", "queued_at", "answered_at", "ended_at",
             "hold_seconds", "wrap_seconds", "agent_id"),
    "purchase": ("order_id", "amount", "currency", "item_count", "status"),
    "review": ("review_id", "platform", "rating", "posted_at", "replied_at", "text"),
    "survey": ("response_id", "score", "kind", "brand", "interaction_id", "comment"),
    "followup_update": ("followup_id", "status", "resolution", "owner", "note"),
}
ENTITY_KEY = {"call": "call_id", "purchase": "order_id", "review": "review_id", "survey": "response_id",
              "followup_update": "followup_id"}
FOLLOWUP_STATUSES = ("assigned", "contacted", "closed")
RESOLUTIONS = ("resolved", "unresolved", "unreachable")


class Rejected(ValueError):
    """Why a message breaks the contract; `field` is None when it is not about one field."""

    def __init__(self, field: str | None, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"field '{field}': {problem}" if field else problem)

    @property
    def reason(self) -> str:
        return str(self)


@dataclass(slots=True)
class Event:
    type: str
    values: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.values["event_id"]

    @property
    def entity_id(self) -> str:
        return self.values[ENTITY_KEY[self.type]]


def parse_event(raw: bytes, expected_type: str | None = None) -> Event:
    """Decode and validate one message; `expected_type` is the type its topic carries.
    The compiled path takes almost every valid message; rejects, and anything it does not
    vouch for, go through the reference validator, which gives the reason."""
    event = _compiled.decode(raw, expected_type)
    if event is not None:
        return event
    return parse_event_detailed(raw, expected_type)


def parse_event_detailed(raw: bytes, expected_type: str | None = None) -> Event:
    """The reference validator: the same result as `parse_event`, more slowly; every
    rejection reason comes from here."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Rejected(None, f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES}-byte limit")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Rejected(None, f"not valid UTF-8 JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise Rejected(None, f"expected a JSON object, got {_json_type(doc)}")
    return validate_document(doc, expected_type)


def validate_document(doc: dict[str, Any], expected_type: str | None = None) -> Event:
    """Validate an already-decoded JSON object."""
    etype = doc.get("type")
    if etype is None:
        raise Rejected("type", "is required")
    if etype not in EVENT_TYPES:
        raise Rejected("type", f"must be one of {', '.join(EVENT_TYPES)}, got {_show(etype)}")
    if expected_type is not None and etype != expected_type:
        raise Rejected("type", f"'{etype}' event arrived on the {expected_type} topic")
    version = doc.get("version")
    if version is None:
        raise Rejected("version", "is required")
    if type(version) is not int or version != 1:
        raise Rejected("version", f"must be the integer 1, got {_show(version)}")

    values: dict[str, Any] = {
        "event_id": _string(doc, "event_id", required=True, max_len=128),
        "occurred_at": _timestamp(doc, "occurred_at", required=True),
        "touchpoint": _slug(doc, "touchpoint", required=True),
        "customer_id": _string(doc, "customer_id", max_len=128),
        "attributes": _attributes(doc),
        "source": _string(doc, "source", max_len=64),
    }
    _VALIDATORS[etype](doc, values)
    return Event(etype, values)


def _call(doc: dict, v: dict) -> None:
    v["call_id"] = _string(doc, "call_id", required=True, max_len=256)
    v["direction"] = _choice(doc, "direction", ("inbound", "outbound"), "inbound")
    v["queued_at"] = queued = _timestamp(doc, "queued_at", required=True)
    v["answered_at"] = answered = _timestamp(doc, "answered_at")
    v["ended_at"] = ended = _timestamp(doc, "ended_at", required=True)
    if ended < queued:
        raise Rejected("ended_at", "is before queued_at")
    if answered is not None and ended < answered:
        raise Rejected("ended_at", "is before answered_at")
    v["hold_seconds"] = _seconds(doc, "hold_seconds")
    v["wrap_seconds"] = _seconds(doc, "wrap_seconds")
    v["agent_id"] = _string(doc, "agent_id", max_len=256)


def _purchase(doc: dict, v: dict) -> None:
    v["order_id"] = _string(doc, "order_id", required=True, max_len=256)
    v["amount"] = _amount(doc)
    currency = doc.get("currency")
    if currency is None:
        raise Rejected("currency", "is required")
    if not isinstance(currency, str) or not CURRENCY.fullmatch(currency):
        raise Rejected("currency", f"must be an ISO 4217 code of 3 upper-case letters, got {_show(currency)}")
    v["currency"] = currency
    v["item_count"] = _integer(doc, "item_count", 1, 2**31 - 1, default=1)
    v["status"] = _choice(doc, "status", ("completed", "refunded"), "completed")


def _review(doc: dict, v: dict) -> None:
    v["review_id"] = _string(doc, "review_id", required=True, max_len=256)
    v["platform"] = _slug(doc, "platform", required=True)
    v["rating"] = _integer(doc, "rating", 1, 5, required=True)
    v["posted_at"] = posted = _timestamp(doc, "posted_at", required=True)
    v["replied_at"] = replied = _timestamp(doc, "replied_at")
    if replied is not None and replied < posted:
        raise Rejected("replied_at", "is before posted_at")
    v["text"] = _string(doc, "text", max_len=MAX_TEXT_CHARS, min_len=0)


def _survey(doc: dict, v: dict) -> None:
    v["response_id"] = _string(doc, "response_id", required=True, max_len=256)
    v["score"] = _integer(doc, "score", 0, 10, required=True)
    v["kind"] = _choice(doc, "kind", ("transactional", "relationship"), "transactional")
    v["brand"] = _slug(doc, "brand") or "own"
    v["interaction_id"] = _string(doc, "interaction_id", max_len=256)
    v["comment"] = _string(doc, "comment", max_len=MAX_TEXT_CHARS, min_len=0)


def _followup_update(doc: dict, v: dict) -> None:
    v["followup_id"] = _string(doc, "followup_id", required=True, max_len=256)
    status = doc.get("status")
    if status is None:
        raise Rejected("status", "is required")
    v["status"] = _choice(doc, "status", FOLLOWUP_STATUSES, "")
    resolution = _choice(doc, "resolution", RESOLUTIONS, "")
    if resolution and status != "closed":
        raise Rejected("resolution", f"is only given with status closed, got status {_show(status)}")
    v["resolution"] = resolution or ("resolved" if status == "closed" else "")
    v["owner"] = _string(doc, "owner", max_len=128)
    v["note"] = _string(doc, "note", max_len=MAX_TEXT_CHARS, min_len=0)


_VALIDATORS: dict[str, Callable[[dict, dict], None]] = {
    "call": _call, "purchase": _purchase, "review": _review, "survey": _survey, "followup_update": _followup_update,
}


def _string(doc: dict, name: str, *, required: bool = False, max_len: int, min_len: int = 1) -> str:
    """Optional strings are stored as '' when absent; the contract forbids '' where it matters."""
    value = doc.get(name)
    if value is None:
        if required:
            raise Rejected(name, "is required")
        return ""
    if not isinstance(value, str):
        raise Rejected(name, f"must be a string, got {_json_type(value)}")
    if not min_len <= len(value) <= max_len:
        raise Rejected(name, f"must be {min_len}..{max_len} characters, got {len(value)}")
    if "\x00" in value:
        raise Rejected(name, "must not contain NUL characters")
    return value


# Slugs (touchpoints, platforms, brands) repeat on almost every event: remembering the few
# valid ones skips the regex. Bounded, and only ever holds strings the regex accepted.
_VALID_SLUGS: set[str] = set()


def _slug(doc: dict, name: str, *, required: bool = False) -> str:
    value = doc.get(name)
    if value is None:
        if required:
            raise Rejected(name, "is required")
        return ""
    if type(value) is str and value in _VALID_SLUGS:
        return value
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise Rejected(name, f"must be a slug matching ^[a-z][a-z0-9_]{{0,63}}$, got {_show(value)}")
    if len(_VALID_SLUGS) < 10_000:
        _VALID_SLUGS.add(value)
    return value


def _choice(doc: dict, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = doc.get(name)
    if value is None:
        return default
    if value not in allowed or not isinstance(value, str):
        raise Rejected(name, f"must be one of {', '.join(allowed)}, got {_show(value)}")
    return value


def _timestamp(doc: dict, name: str, *, required: bool = False):
    value = doc.get(name)
    if value is None:
        if required:
            raise Rejected(name, "is required")
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise Rejected(name, str(exc)) from None


def _integer(doc: dict, name: str, low: int, high: int, *, required: bool = False, default: int = 0) -> int:
    value = doc.get(name)
    if value is None:
        if required:
            raise Rejected(name, "is required")
        return default
    if type(value) is not int:
        raise Rejected(name, f"must be an integer, got {_json_type(value)} {_show(value)}")
    if not low <= value <= high:
        raise Rejected(name, f"must be {low}..{high}, got {value}")
    return value


def _seconds(doc: dict, name: str) -> float:
    value = doc.get(name)
    if value is None:
        return 0.0
    if type(value) not in (int, float):
        raise Rejected(name, f"must be a number, got {_json_type(value)}")
    if not math.isfinite(value) or value < 0 or value > 1e9:
        raise Rejected(name, f"must be a number >= 0, got {value}")
    return float(value)


def _amount(doc: dict) -> Decimal:
    value = doc.get("amount")
    if value is None:
        raise Rejected("amount", "is required")
    return amount_value(value)


def amount_value(value: object) -> Decimal:
    """A decoded JSON `amount` (number or decimal string) as the Decimal stored, or Rejected."""
    if type(value) is str:
        if not DECIMAL_TEXT.fullmatch(value):
            raise Rejected("amount", f"must be a decimal >= 0 with at most 6 decimal places, got {_show(value)}")
        text = value
    elif type(value) in (int, float):
        if isinstance(value, float) and not math.isfinite(value):
            raise Rejected("amount", "must be a finite number")
        text = repr(value)
    else:
        raise Rejected("amount", f"must be a number or a decimal string, got {_json_type(value)}")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Rejected("amount", f"is not a decimal: {_show(value)}") from None
    if amount < 0:
        raise Rejected("amount", f"must be >= 0, got {text}")
    if amount >= MAX_AMOUNT:
        raise Rejected("amount", f"is too large: {text}")
    if amount != amount.quantize(Decimal("0.000001")):
        raise Rejected("amount", f"has more than 6 decimal places: {text}")
    return amount


def _attributes(doc: dict) -> dict[str, str]:
    value = doc.get("attributes")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected("attributes", f"must be an object of strings, got {_json_type(value)}")
    if len(value) > MAX_ATTRIBUTES:
        raise Rejected("attributes", f"has {len(value)} keys, at most {MAX_ATTRIBUTES} allowed")
    for key, item in value.items():
        if not isinstance(item, str):
            raise Rejected(f"attributes.{_clip(key)}", f"must be a string, got {_json_type(item)}")
        if "\x00" in key or "\x00" in item:
            raise Rejected(f"attributes.{_clip(key)}", "must not contain NUL characters")
    return value


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: object) -> str:
    if isinstance(value, (str, int, float, bool)):
        try:
            return _clip(orjson.dumps(value).decode())
        except (TypeError, orjson.JSONEncodeError):  # integers beyond 64 bits
            return _clip(str(value))
    return _json_type(value)


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# The compiled validator builds on the definitions above (Event, the slug cache, amount_value),
# so it is imported last, as a module: whichever of the two is imported first, both work.
from touchpulse.core import compiled as _compiled  # noqa: E402
