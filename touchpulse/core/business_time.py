"""Business-day rules: days and hours are calendar days/hours in the business time zone.

Every event time is stored in UTC; which day it counts in is decided here (and by the
same rule in ClickHouse, `toDate(ts, tz)`), never by the server's or the host's zone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimezoneError(ValueError):
    """An unknown IANA time zone name."""


def business_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TimezoneError(f"unknown time zone {name!r} (use an IANA name such as Europe/Moscow)") from None


def business_day(ts: datetime, zone: ZoneInfo) -> date:
    return ts.astimezone(zone).date()


def business_hour(ts: datetime, zone: ZoneInfo) -> int:
    return ts.astimezone(zone).hour


def day_bounds_utc(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a business day in UTC; 23 or 25 hours long on DST changes."""
    start = datetime.combine(day, time(0), zone).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(timezone.utc)
    return start, end


def today(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(timezone.utc)).astimezone(zone).date()


def last_full_day(zone: ZoneInfo, now: datetime | None = None) -> date:
    """Yesterday in the business zone: the latest day that cannot gain on-time events."""
    return today(zone, now) - timedelta(days=1)
