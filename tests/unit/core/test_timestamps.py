"""RFC 3339 parsing: an offset is mandatory, results are aware UTC, and what touchpulse emits parses back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchpulse.core.timestamps import (MAX_TIMESTAMP, MIN_TIMESTAMP, TimestampError, format_timestamp,
                                        parse_timestamp)

UTC = timezone.utc


@pytest.mark.parametrize("text,expected", [
    ("2024-03-31T01:30:00Z", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
    ("2024-03-31t01:30:00z", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
    ("2024-03-31 01:30:00Z", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
    ("2024-03-31T04:30:00+03:00", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
    ("2024-03-30T23:00:00-02:30", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
    ("2024-03-31T01:30:00-00:00", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
    ("2024-03-31T01:30:00.1Z", datetime(2024, 3, 31, 1, 30, 0, 100000, tzinfo=UTC)),
    ("2024-03-31T01:30:00.000001Z", datetime(2024, 3, 31, 1, 30, 0, 1, tzinfo=UTC)),
    ("2024-03-31T01:30:00.9999999Z", datetime(2024, 3, 31, 1, 30, 0, 999999, tzinfo=UTC)),
    ("2024-03-31T01:30:00.123456789+01:00", datetime(2024, 3, 31, 0, 30, 0, 123456, tzinfo=UTC)),
    ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
    ("1900-01-01T00:00:00Z", MIN_TIMESTAMP),
    ("2299-12-31T23:59:59.999999Z", MAX_TIMESTAMP - timedelta(microseconds=1)),
])
def test_parses_to_aware_utc(text, expected):
    got = parse_timestamp(text)
    assert got == expected
    assert got.tzinfo is UTC


@pytest.mark.parametrize("text", ["2024-03-31T01:30:00", "2024-03-31T01:30:00.123", "2024-03-31 01:30:00"])
def test_naive_times_are_refused_as_missing_an_offset(text):
    with pytest.raises(TimestampError, match="no UTC offset"):
        parse_timestamp(text)


@pytest.mark.parametrize("value", [
    "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T23:60:00Z",
    "2024-01-01T00:00:00+24:00", "2024-01-01T00:00:00.1234567890Z", "2024-1-01T00:00:00Z", "24-01-01T00:00:00Z",
    "2024-01-01T00:00:00ZZ", " 2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z\n", "2024-01-01",
    "1899-12-31T23:59:59.999999Z", "2300-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59-00:01", "0000-01-01T00:00:00Z",
    "\u0662\u0660\u0662\u0664-01-01T00:00:00Z", "2024-01-01T00:00:00\uff3a",
    1714557480, 1714557480.5, None, True, ["2024-01-01T00:00:00Z"],
])
def test_refused_values_raise_timestamp_error_only(value):
    with pytest.raises(TimestampError) as info:
        parse_timestamp(value)
    assert str(info.value)


def test_error_message_clips_long_input():
    with pytest.raises(TimestampError) as info:
        parse_timestamp("9" * 10_000)
    assert len(str(info.value)) < 120


def test_format_is_utc_with_microseconds_and_z():
    moscow = timezone(timedelta(hours=3))
    assert format_timestamp(datetime(2024, 1, 1, 2, 0, 0, 5, tzinfo=moscow)) == "2023-12-31T23:00:00.000005Z"
    assert format_timestamp(datetime(2024, 7, 1, tzinfo=UTC)) == "2024-07-01T00:00:00.000000Z"


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2299, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=3)),
                                               timezone(timedelta(hours=-9, minutes=-30))])))
def test_format_then_parse_round_trips(ts):
    assert parse_timestamp(format_timestamp(ts)) == ts
    assert parse_timestamp(ts.isoformat()) == ts


# The fast path must agree with the reference parser on everything: values and error messages.
_YEARS = st.sampled_from(["0000", "0001", "1899", "1900", "1970", "2024", "2299", "2300", "9999"])
_TWO = st.sampled_from(["00", "01", "09", "12", "13", "23", "24", "28", "29", "30", "31", "59", "60", "99"])
_OFFSETS = st.sampled_from(["Z", "z", "+00:00", "-00:00", "+03:00", "-02:30", "+05:45", "+23:59", "-23:59",
                            "+24:00", "+12:60", "+1:00", "", "ZZ"])


def _outcome(fn, value):
    from touchpulse.core.timestamps import TimestampError
    try:
        got = fn(value)
    except TimestampError as exc:
        return ("error", str(exc))
    return ("ok", got, got.tzinfo is UTC)


@settings(max_examples=3000, deadline=None)
@given(_YEARS, _TWO, _TWO, st.sampled_from("Tt x"), _TWO, _TWO, _TWO,
       st.sampled_from(["", ".", ".1", ".123", ".123456", ".1234567", ".123456789", ".1234567890"]), _OFFSETS)
def test_fast_path_matches_the_reference_parser(year, month, day, sep, hour, minute, second, frac, offset):
    from touchpulse.core.timestamps import _parse_slow
    text = f"{year}-{month}-{day}{sep}{hour}:{minute}:{second}{frac}{offset}"
    assert _outcome(parse_timestamp, text) == _outcome(_parse_slow, text)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_fast_path_matches_the_reference_parser_on_any_text(text):
    from touchpulse.core.timestamps import _parse_slow
    assert _outcome(parse_timestamp, text) == _outcome(_parse_slow, text)


@settings(max_examples=1000, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.sampled_from(
    [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-2, minutes=-30))])))
def test_format_timestamp_matches_strftime(ts):
    try:
        utc = ts.astimezone(UTC)
    except OverflowError:
        return
    assert format_timestamp(ts) == utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
