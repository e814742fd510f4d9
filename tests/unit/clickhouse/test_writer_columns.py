"""The writer's column conversions give exactly what clickhouse-connect would compute itself."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest
from clickhouse_connect.datatypes.registry import get_from_name

from touchpulse.clickhouse.writer import _columns, datetime64_units, datetime_ticks

UTC = timezone.utc


@pytest.mark.parametrize("type_name", ["DateTime64(6, 'UTC')", "DateTime64(3, 'UTC')",
                                       "Nullable(DateTime64(6, 'UTC'))", "DateTime64(0, 'UTC')"])
def test_ticks_equal_clickhouse_connects_own_conversion(type_name):
    ch_type = get_from_name(type_name)
    [(index, unit)] = datetime64_units([get_from_name("String"), ch_type])
    assert index == 1
    rng = random.Random(7)
    start = datetime(1900, 1, 1, tzinfo=UTC)
    values = [start + timedelta(microseconds=rng.randrange(400 * 365 * 86_400 * 10**6)) for _ in range(5000)]
    values += [datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
               datetime(2299, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
               datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=3)))]
    assert datetime_ticks(values, unit) == [ch_type._datetime64_ticks(v, None) for v in values]


def test_ticks_keep_nulls_and_leave_naive_datetimes_to_clickhouse_connect():
    unit = timedelta(microseconds=1)
    assert datetime_ticks([None, datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)], unit) == [None, 1_000_000]
    naive = [datetime(2024, 1, 1)]
    assert datetime_ticks(naive, unit) is naive


def test_columns_transpose_rows_in_name_order():
    rows = [{"a": 1, "b": "x", "c": None}, {"a": 2, "b": "y", "c": 3.5}]
    assert _columns(rows, ("b", "a", "c")) == [["x", "y"], [1, 2], [None, 3.5]]
    assert _columns(rows, ("a",)) == [[1, 2]]
    assert _columns([], ("a", "b")) == [[], []]
