"""The macro expander reproduces Grafana + the ClickHouse plugin, text for text."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from touchpulse.dashboards.macros import MacroError, Selection, expand

FROM = datetime(2025, 3, 1, 21, 30, tzinfo=timezone.utc)
TO = datetime(2025, 3, 15, 12, 0, 0, 500000, tzinfo=timezone.utc)


def run(sql, **kw):
    return expand(sql, time_from=FROM, time_to=TO, **kw)


def test_time_macros_are_utc_like_the_plugin_backend():
    msk = timezone(timedelta(hours=3))
    assert expand("$__timeFilter(ts)", time_from=FROM.astimezone(msk), time_to=TO) == \
        "ts >= toDateTime(1740864600) AND ts <= toDateTime(1742040000)"
    assert run("$__timeFilter_ms(ts)") == \
        "ts >= fromUnixTimestamp64Milli(1740864600000) AND ts <= fromUnixTimestamp64Milli(1742040000500)"
    # the UTC date of 21:30 UTC on March 1st is March 1st, even though it is March 2nd in Moscow
    assert run("$__dateFilter(day)") == "day >= toDate('2025-03-01') AND day <= toDate('2025-03-15')"
    assert run("$__fromTime|$__toTime|$__fromTime_ms") == \
        "toDateTime(1740864600)|toDateTime(1742040000)|fromUnixTimestamp64Milli(1740864600000)"
    assert run("$__dateTimeFilter(d, t)") == ("(d >= toDate('2025-03-01') AND d <= toDate('2025-03-15')) AND "
                                               "(t >= toDateTime(1740864600) AND t <= toDateTime(1742040000))")
    assert run("$__timeInterval(ts) $__interval_s", interval_seconds=60) == \
        "toStartOfInterval(toDateTime(ts), INTERVAL 60 second) 60"


def test_macro_arguments_may_hold_function_calls():
    assert run("$__timeFilter(toDateTime(ts, 'UTC'))").startswith("toDateTime(ts, 'UTC') >= toDateTime(")


def test_variables_in_grafana_formats():
    tp = Selection(("call_centre", "o'hara"))
    assert run("x IN (${tp:singlequote})", variables={"tp": tp}) == "x IN ('call_centre','o\\'hara')"
    assert run("x IN (${tp:sqlstring})", variables={"tp": tp}) == "x IN ('call_centre','o''hara')"
    assert run("${tp:csv}", variables={"tp": tp}) == "call_centre,o'hara"
    # the plugin's own formatter: multi-value variables become a quoted list, single ones go in raw
    assert run("x IN ($tp) AND [[tp]]", variables={"tp": Selection(("a", "b"))}) == "x IN ('a','b') AND 'a','b'"
    assert run("x = '$cur'", variables={"cur": "EUR"}) == "x = 'EUR'"


def test_conditional_all_drops_the_filter_only_when_all_is_selected():
    sql = "WHERE $__conditionalAll(tp IN (${tp:singlequote}), $tp) AND ok"
    assert run(sql, variables={"tp": Selection.all_of(["a", "b"])}) == "WHERE 1=1 AND ok"
    assert run(sql, variables={"tp": Selection(("a",))}) == "WHERE tp IN ('a') AND ok"
    assert run(sql, variables={"tp": Selection(())}) == "WHERE 1=1 AND ok"  # nothing to choose yet


def test_a_repeated_rows_scope_wins_but_conditional_all_still_sees_the_dashboard_value():
    all_tp = Selection.all_of(["a", "b"])
    sql = "$__conditionalAll(tp IN (${tp:singlequote}), $tp) | tp IN (${tp:singlequote})"
    assert run(sql, variables={"tp": all_tp}, scoped={"tp": Selection.one("b")}) == "1=1 | tp IN ('b')"


@pytest.mark.parametrize("sql, message", [
    ("$__timeFilter(a, b)", "expected 1 argument"),
    ("$__timeFiltr(a)", "unknown macro"),
    ("$__timeFilter", "needs arguments"),
    ("$__timeFilter(a", "unbalanced"),
    ("x = $nosuchvar", "unresolved '\\$nosuchvar'"),
    ("$__conditionalAll(x, $nosuch)", "unknown variable"),
    ("${tp:percentencode}", "unsupported variable format"),
])
def test_mistakes_fail_loudly(sql, message):
    with pytest.raises(MacroError, match=message):
        run(sql, variables={"tp": Selection(("a",))})


def test_naive_times_are_refused():
    with pytest.raises(MacroError, match="timezone-aware"):
        expand("$__fromTime", time_from=datetime(2025, 1, 1), time_to=TO)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Moscow"])
def test_a_time_filter_on_business_days_keeps_exactly_the_rows_of_the_plain_time_filter(zone, chdb_client):
    """The extra filter on `day` only lets the key do the work: at every edge of a range, in zones
    14 hours ahead and 11 behind, it keeps the same rows as $__timeFilter alone."""
    from touchpulse.dashboards.sql import time_filter_on_days

    rows = (f"SELECT ts, toDate(ts, '{zone}') AS day FROM (SELECT toDateTime('2025-03-01 00:00:00', 'UTC') "
            "+ number * 37 * 60 AS ts FROM numbers(600))")
    for start, hours in ((FROM, 1), (FROM, 30), (FROM - timedelta(hours=11), 10), (TO - timedelta(days=13), 50)):
        end = start + timedelta(hours=hours)
        counts = []
        for cond in ("$__timeFilter(ts)", time_filter_on_days("ts")):
            sql = expand(f"SELECT count(), groupArraySorted(1000)(ts) FROM ({rows}) WHERE {cond}",
                         time_from=start, time_to=end)
            counts.append(chdb_client.query(sql).result_rows[0])
        assert counts[0] == counts[1] and counts[0][0] > 0
