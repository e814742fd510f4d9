"""RFC 3339 timestamps: the contract demands an explicit offset, so naive times never slip in."""

from __future__ import annotations

import re
from datetime import datetime, timezone

# Date, 'T'/'t'/space, time with seconds, optional fraction, then a mandatory Z or +hh:mm.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?(?:[Zz]|[+-]\d{2}:\d{2})"
)


class TimestampError(ValueError):
    """A value that is not an RFC 3339 timestamp with an offset."""


def parse_timestamp(value: object) -> datetime:
    """Parse to an aware UTC datetime with microsecond precision (finer digits are truncated)."""
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
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:  # e.g. month 13 or hour 25
        raise TimestampError(f"{_clip(value)!r} is not a valid date/time: {exc}") from None
    return parsed.astimezone(timezone.utc)


def format_timestamp(ts: datetime) -> str:
    """RFC 3339 in UTC with microseconds, the canonical form touchpulse emits."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
