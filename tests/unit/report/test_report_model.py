"""From counts to judged comparisons: pooled baselines, weekday-aware orders, notes."""

import pytest

from touchpulse.report import model
from touchpulse.report.model import CallCounts, NpsCounts


def by_key(comparisons):
    return {(c.metric.key, c.scope): c for c in comparisons}


def test_baselines_pool_the_answers_instead_of_averaging_daily_ratios(report_data):
    cs = by_key(model.comparisons(report_data()))
    billing = cs[("nps", "billing")]
    assert billing.day.value == pytest.approx(-60.0)
    assert [b.estimate.value for b in billing.baselines] == pytest.approx([-20.0, -20.0])
    assert billing.status == "worse"
    overall = cs[("nps", "")]  # sum of every touchpoint's counts
    assert overall.day.n == 203
    assert overall.day.value == pytest.approx(100 * (10 + 50 + 3 - 70 - 20) / 203)


def test_small_touchpoints_are_listed_as_too_few(report_data):
    cs = by_key(model.comparisons(report_data()))
    assert cs[("nps", "kiosk")].status == "too-few"


def test_call_metrics_exclude_short_abandons():
    c = CallCounts(offered=100, answered=80, short_abandoned=10, answered_in_sla=72)
    assert c.service_level().value == pytest.approx(72 / 90)
    assert c.abandon_rate().value == pytest.approx((20 - 10) / 90)


def test_orders_compare_with_the_same_weekday_only(report_data):
    cs = by_key(model.comparisons(report_data()))
    orders = cs[("orders", "")]
    # the Mondays before had 800 orders, the other days 700: the baseline is 800, not ~714
    assert [b.estimate.value for b in orders.baselines] == [800.0, 800.0]
    assert "Monday" in orders.baselines[0].label
    assert orders.status == "better"


def test_missing_days_leave_the_weekday_baseline_to_the_days_known(report_data):
    data = report_data()
    data.orders = [o for o in data.orders if o.day.weekday() != 0 or o.day == data.day]
    orders = by_key(model.comparisons(data))[("orders", "")]
    assert all(b.estimate.empty for b in orders.baselines) and orders.status == "no-baseline"
    assert "no data for the previous 4 Mondays" in orders.sentence()


def test_verdict_notes_unanswered_reviews(report_data):
    v = model.verdict(report_data())
    assert any("42 reviews" in n and "Website 40" in n for n in v.notes)


def test_counts_add_up():
    assert NpsCounts(1, 2, 5) + NpsCounts(3, 4, 10) == NpsCounts(4, 6, 15)
