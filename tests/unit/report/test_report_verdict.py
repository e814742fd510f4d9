"""The verdict: better or worse only beyond noise, in the metric's own direction."""

from datetime import date, datetime, timezone

import pytest

from touchpulse.report.stats import Estimate, NO_DATA
from touchpulse.report.verdict import (ABANDON_RATE, NPS, ORDERS, Baseline, Comparison, Overdue, OverdueFollowup,
                                       Verdict)


def _cmp(metric, day, *bases, scope="billing"):
    return Comparison(metric, scope, "Billing", day,
                      tuple(Baseline(f"base {i}", b) for i, b in enumerate(bases)))


def _overdue(total=0):
    return Overdue(datetime(2024, 6, 4, tzinfo=timezone.utc), total, 0, {"billing": (total, 0)} if total else {}, [])


def test_a_drop_in_nps_beyond_the_margin_is_worse():
    c = _cmp(NPS, Estimate(-50.0, 14.0, 106), Estimate(-22.0, 8.0, 700), Estimate(-26.8, 4.0, 3000))
    assert c.status == "worse"
    assert c.strongest.diff == pytest.approx(-28.0)  # 1.7 margins against 7 days beats 1.6 against 28
    text = c.sentence()
    assert "NPS at Billing" in text and "beyond the" in text and "106 answers" in text


def test_a_rise_in_abandonment_is_worse_and_a_fall_is_better():
    up = _cmp(ABANDON_RATE, Estimate(0.15, 0.01, 2000), Estimate(0.10, 0.01, 14000))
    down = _cmp(ABANDON_RATE, Estimate(0.05, 0.01, 2000), Estimate(0.10, 0.01, 14000))
    assert (up.status, down.status) == ("worse", "better")


def test_changes_within_the_margin_are_steady():
    c = _cmp(NPS, Estimate(30.0, 12.0, 120), Estimate(25.0, 5.0, 800), Estimate(22.0, 3.0, 3000))
    assert c.status == "steady" and c.strongest is None
    assert c.sentence().count("within the") == 2


def test_too_few_observations_are_not_judged_however_big_the_change():
    c = _cmp(NPS, Estimate(100.0, 0.0, 3), Estimate(10.0, 3.0, 3000))
    assert c.status == "too-few"


def test_no_data_on_the_day():
    c = _cmp(NPS, NO_DATA, Estimate(10.0, 3.0, 3000))
    assert c.status == "no-data"
    assert "no data" in c.sentence()


def test_the_strongest_significant_change_decides_the_direction():
    # against 7 days it went up a little, against 28 days down a lot: the bigger evidence wins
    c = _cmp(NPS, Estimate(20.0, 2.0, 2000), Estimate(17.0, 2.0, 9000), Estimate(40.0, 2.0, 40000))
    assert c.status == "worse"
    assert c.strongest.baseline.value == 40.0


def test_counts_do_not_repeat_their_sample_size():
    c = _cmp(ORDERS, Estimate(869.0, 58.0, 869), Estimate(785.0, 55.0, 785), scope="")
    assert "from 869" not in c.sentence() and c.sentence().startswith("Completed orders overall: 869")


def test_verdict_sorts_findings_and_counts_the_comparisons():
    worse_a = _cmp(NPS, Estimate(-50.0, 5.0, 500), Estimate(0.0, 5.0, 5000))          # ~7 margins
    worse_b = _cmp(NPS, Estimate(-10.0, 5.0, 500), Estimate(0.0, 5.0, 5000), scope="delivery")  # ~1.4 margins
    better = _cmp(NPS, Estimate(30.0, 5.0, 500), Estimate(0.0, 5.0, 5000), scope="website")
    steady = _cmp(NPS, Estimate(1.0, 5.0, 500), Estimate(0.0, 5.0, 5000), scope="chat")
    few = _cmp(NPS, Estimate(1.0, 5.0, 5), Estimate(0.0, 5.0, 5000), scope="kiosk")
    v = Verdict(date(2024, 6, 3), [worse_b, steady, better, few, worse_a], _overdue(3))
    assert [c.scope for c in v.worse] == ["billing", "delivery"]
    assert [c.scope for c in v.better] == ["website"]
    assert v.tests == 4  # the too-few comparison is not a test
    assert v.headline().startswith("2 metrics got worse and 1 metric got better beyond noise; 3 follow-ups overdue")
    assert "4 comparisons" in v.chance_note()


def test_headline_when_nothing_moved():
    v = Verdict(date(2024, 6, 3), [_cmp(NPS, Estimate(1.0, 5.0, 500), Estimate(0.0, 5.0, 5000))], _overdue(1))
    assert v.headline().startswith("Nothing moved beyond noise")
    assert "1 follow-up overdue" in v.headline()


def test_overdue_sentence_counts_open_follow_ups_and_judges_the_in_time_rate_against_its_noise():
    from touchpulse.report.stats import proportion
    item = OverdueFollowup("billing", "cus-1", 3, "charged twice", datetime(2024, 6, 1, tzinfo=timezone.utc),
                           datetime(2024, 6, 3, tzinfo=timezone.utc))
    od = Overdue(datetime(2024, 6, 4, tzinfo=timezone.utc), 42, 5, {"billing": (30, 4), "chat": (12, 1)}, [item],
                 proportion(60, 100), proportion(320, 400))
    text = od.sentence("UTC", {"billing": "Billing and payments"}.get)
    assert text.startswith("42 follow-ups are still open past the due time as of 4 Jun 2024 00:00 (UTC), 5 of them")
    assert "Billing and payments 30" in text
    assert "closure event" not in text  # the team's updates say which are closed
    # 60 % of 100 against 80 % of 400: a 20-point fall, beyond a combined margin of about 10 points
    assert "Of the 100 follow-ups that fell due in the last 7 days, 60% were closed in time (±9%)" in text, text
    assert "against 80% in the 28 days before: beyond the ±10% noise." in text, text
    close = Overdue(od.as_of, 0, 0, {}, [], proportion(78, 100), proportion(320, 400))
    assert "No follow-up is open past its due time" in close.sentence("UTC") and "within the" in close.sentence("UTC")
    assert Overdue(od.as_of, 0, 0, {}, [], proportion(5, 10)).sentence("UTC").endswith(
        "no baseline in the 28 days before.")
    assert "No follow-up" in _overdue(0).sentence("UTC") and "closed in time" not in _overdue(0).sentence("UTC")
