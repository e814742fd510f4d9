"""Margins of error and the 'beyond noise' rule of the daily report."""

import math

import pytest

from touchpulse.report import stats


def test_nps_follows_the_contract_formula():
    e = stats.nps(promoters=50, detractors=20, responses=100)
    assert e.value == pytest.approx(30.0)
    p, d = 0.5, 0.2
    assert e.moe == pytest.approx(196 * math.sqrt((p + d - (p - d) ** 2) / 100))
    assert e.n == 100


def test_no_answers_is_no_data_not_zero():
    assert stats.nps(0, 0, 0).empty
    assert stats.proportion(0, 0).empty
    assert stats.mean(0.0, 0.0, 0).empty
    assert stats.mean_daily_count(10, 0).empty


def test_proportion_margin_is_never_zero_at_the_extremes():
    all_in = stats.proportion(12, 12)
    assert all_in.value == 1.0
    assert all_in.moe > 0.05  # 12 calls are no proof of a perfect queue
    assert stats.proportion(0, 12).moe == pytest.approx(all_in.moe)


def test_proportion_margin_shrinks_with_the_sample():
    assert stats.proportion(800, 1000).moe < stats.proportion(80, 100).moe / 3


def test_mean_margin_uses_the_sample_variance():
    values = [1, 2, 3, 4, 5]
    e = stats.mean(sum(values), sum(v * v for v in values), len(values))
    assert e.value == 3
    sd = math.sqrt(sum((v - 3) ** 2 for v in values) / 4)
    assert e.moe == pytest.approx(1.96 * sd / math.sqrt(5))
    assert stats.mean(7.0, 49.0, 1).moe is None  # one value: no spread to measure


def test_change_beyond_noise_needs_more_than_the_combined_margin():
    a, b = stats.Estimate(10.0, 3.0, 100), stats.Estimate(5.0, 4.0, 100)
    change = stats.compare(a, b)
    assert change.diff == 5.0 and change.moe == pytest.approx(5.0)
    assert not change.significant  # equal to the margin is still noise
    assert stats.compare(stats.Estimate(10.01, 3.0, 100), b).significant
    assert stats.compare(stats.Estimate(-0.01, 3.0, 100), b).significant


def test_change_against_missing_data_is_never_significant():
    change = stats.compare(stats.Estimate(10.0, 1.0, 50), stats.NO_DATA)
    assert change.diff is None and not change.significant and change.strength == 0


def test_poisson_counts_compare_a_day_with_the_mean_of_comparable_days():
    day, base = stats.daily_count(900), stats.mean_daily_count(3200, 4)
    assert base.value == 800
    change = stats.compare(day, base)
    assert change.moe == pytest.approx(1.96 * math.sqrt(900 + 800 / 4))
    assert change.significant  # +100 against a margin of ~65
