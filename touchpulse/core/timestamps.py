"""RFC 3339 timestamps: the contract demands an explicit offset, so naive times never slip in."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

# Date, 'T'/'t'/space, time with seconds, optional fraction, then a mandatory Z or +hh:mm.
# ASCII digits only: a Unicode \d would let e.g. Arabic-Indic digits through the pattern.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# The range of ClickHouse DateTime64(6): later times would be stored wrong, and keeping well
# inside datetime's own range means adding follow-up hours can never overflow.
MIN_TIMESTAMP = datetime(1900, 1, 1, tzinfo=timezone.utc)
MAX_TIMESTAMP = datetime(2300, 1, 1, tzinfo=timezone.utc)


class TimestampError(ValueError):
    """A value that is not an RFC 3339 timestamp with an offset."""


_fromisoformat = datetime.fromisoformat
_UTC = timezone.utc
# UTC offset text ("+03:00") -> timedelta, for the offsets fromisoformat accepts; a few dozen exist.
_OFFSETS: dict[str, timedelta] = {}
_MIN_YEAR, _MAX_YEAR = MIN_TIMESTAMP.year, MAX_TIMESTAMP.year


def parse_timestamp(value: object) -> datetime:
    """Parse to an aware UTC datetime with microsecond precision (finer digits are truncated).

    The worker parses three or four timestamps per event, so the common shapes (a 'Z' or a
    '+hh:mm' offset, at most microseconds) take a fast path: one regex match and one
    `fromisoformat` of the UTC text, the offset subtracted as a cached timedelta instead of
    `astimezone` (which alone cost more than the rest). Anything unusual, and every error, goes
    through `_parse_slow`, the reference path, so results and messages are the same either way."""
    if type(value) is not str:
        return _parse_slow(value)
    m = _RFC3339.fullmatch(value)
    if m is None:
        return _parse_slow(value)
    frac = m.group(1)
    if frac is not None and len(frac) > 6:
        return _parse_slow(value)
    last = value[-1]
    try:
        if last == "Z":
            parsed = _fromisoformat(value)
        elif last in "z":
            return _parse_slow(value)
        else:
            offset = _OFFSETS.get(value[-6:])
            if offset is None:
                offset = _offset(value[-6:])
            # "...Z" parses as UTC; subtracting the offset gives the same instant in UTC.
            parsed = _fromisoformat(value[:-6] + "Z") - offset
    except (ValueError, OverflowError):
        return _parse_slow(value)
    if not _MIN_YEAR <= parsed.year < _MAX_YEAR:
        return _parse_slow(value)
    return parsed


def _offset(text: str) -> timedelta:
    """The timedelta of '+hh:mm', validated by fromisoformat itself (raises ValueError like it)."""
    offset = _fromisoformat("2000-01-01T00:00:00" + text).utcoffset()
    if len(_OFFSETS) < 4096:
        _OFFSETS[text] = offset
    return offset


def _parse_slow(value: object) -> datetime:
    """The reference parser: every accepted shape, and the error messages."""
    if not isinstance(value, str):
        raise TimestampError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    m = _RFC3339.fullmatch(value)
    if m is None:
        if _RFC3339.fullmatch(value + "Z"):
            raise TimestampError(f"timestamp {value!r} has no UTC offset")
        raise TimestampError(f"{_clip(value)!r} is not an RFC 3339 timestamp with offset")
    text = value
    frac = m.group(1)
    if frac is not None and len(frac) > 6:
        text = value.replace("." + frac, "." + frac[:6], 1)
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text).astimezone(timezone.utc)
    except ValueError as exc:  # e.g. month 13 or hour 25
        raise TimestampError(f"{_clip(value)!r} is not a valid date/time: {exc}") from None
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        parsed = None
    if parsed is None or not MIN_TIMESTAMP <= parsed < MAX_TIMESTAMP:
        raise TimestampError(f"{_clip(value)!r} is outside the supported range 1900-01-01..2299-12-31 UTC")
    return parsed


def format_timestamp(ts: datetime) -> str:
    """RFC 3339 in UTC with microseconds, the canonical form touchpulse emits. (For UTC times
    with four-digit years, all that parsing produces, `isoformat` gives the same text ~4x faster.)"""
    if ts.tzinfo is _UTC and ts.year >= 1000:
        return ts.isoformat(timespec="microseconds")[:-6] + "Z"
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
