"""Business days and hours are decided in the business zone, never in UTC or the host's zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from touchpulse.core.business_time import (TimezoneError, business_day, business_hour, business_zone,
                                           day_bounds_utc, last_full_day, today)

UTC = timezone.utc
MOSCOW = business_zone("Europe/Moscow")
BERLIN = business_zone("Europe/Berlin")


@pytest.mark.parametrize("ts,moscow_day,moscow_hour,utc_day,utc_hour", [
    (datetime(2024, 3, 10, 20, 59, 59, tzinfo=UTC), date(2024, 3, 10), 23, date(2024, 3, 10), 20),
    (datetime(2024, 3, 10, 21, 0, 0, tzinfo=UTC), date(2024, 3, 11), 0, date(2024, 3, 10), 21),
    (datetime(2024, 3, 10, 23, 30, tzinfo=UTC), date(2024, 3, 11), 2, date(2024, 3, 10), 23),
    (datetime(2024, 3, 11, 0, 30, tzinfo=UTC), date(2024, 3, 11), 3, date(2024, 3, 11), 0),
    (datetime(2023, 12, 31, 22, 0, tzinfo=UTC), date(2024, 1, 1), 1, date(2023, 12, 31), 22),
])
def test_day_and_hour_around_midnight(ts, moscow_day, moscow_hour, utc_day, utc_hour):
    assert business_day(ts, MOSCOW) == moscow_day
    assert business_hour(ts, MOSCOW) == moscow_hour
    utc = business_zone("UTC")
    assert business_day(ts, utc) == utc_day
    assert business_hour(ts, utc) == utc_hour


def test_same_instant_in_another_offset_gives_the_same_business_day():
    a = datetime(2024, 3, 10, 21, 15, tzinfo=UTC)
    b = a.astimezone(timezone(timedelta(hours=-7)))
    assert business_day(a, MOSCOW) == business_day(b, MOSCOW) == date(2024, 3, 11)


@pytest.mark.parametrize("day,hours", [(date(2024, 3, 31), 23), (date(2024, 10, 27), 25), (date(2024, 6, 1), 24)])
def test_berlin_day_bounds_follow_dst(day, hours):
    start, end = day_bounds_utc(day, BERLIN)
    assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
    assert end - start == timedelta(hours=hours)
    assert business_day(start, BERLIN) == day
    assert business_day(end - timedelta(microseconds=1), BERLIN) == day
    assert business_day(end, BERLIN) == day + timedelta(days=1)


def test_moscow_day_starts_at_21_utc_the_day_before():
    start, end = day_bounds_utc(date(2024, 3, 11), MOSCOW)
    assert start == datetime(2024, 3, 10, 21, tzinfo=UTC)
    assert end == datetime(2024, 3, 11, 21, tzinfo=UTC)


def test_today_and_last_full_day_use_the_zone():
    now = datetime(2024, 3, 10, 21, 30, tzinfo=UTC)
    assert today(MOSCOW, now) == date(2024, 3, 11)
    assert last_full_day(MOSCOW, now) == date(2024, 3, 10)
    assert today(business_zone("UTC"), now) == date(2024, 3, 10)
    assert last_full_day(business_zone("UTC"), now) == date(2024, 3, 9)


def test_today_without_now_is_the_current_day():
    before = datetime.now(UTC).astimezone(MOSCOW).date()
    got = today(MOSCOW)
    after = datetime.now(UTC).astimezone(MOSCOW).date()
    assert got in (before, after)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd", "Europe/"])
def test_unknown_zone_raises_timezone_error(name):
    with pytest.raises(TimezoneError, match="unknown time zone"):
        business_zone(name)
