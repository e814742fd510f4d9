"""First-contact resolution and missed callers in the daily report: judged on the right day, against
the binomial margin, and told in words a duty manager can act on."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from touchpulse.report.daily import render_report
from touchpulse.report.model import verdict
from touchpulse.report.resolution import (FcrWindows, MissedCallers, Resolution, ResolutionCounts, fcr_windows,
                                          judged_day, missed_sentence)

from tests.unit.report.conftest import DAY


@pytest.mark.parametrize("hours, back", [(72, 3), (168, 7), (24, 1), (25, 2), (1, 1), (0.5, 1)])
def test_the_judged_day_is_the_latest_whose_repeat_window_has_closed(hours, back):
    assert judged_day(DAY, hours) == DAY - timedelta(days=back)


def test_baselines_pool_the_days_before_the_judged_day_only():
    judged = DAY - timedelta(days=3)
    by_day = {judged - timedelta(days=k): ResolutionCounts(100 + k, k) for k in range(0, 40)}
    by_day[DAY] = ResolutionCounts(999, 999)  # after the judged day: never counted
    w = fcr_windows(by_day, judged)
    assert w.day == ResolutionCounts(100, 0)
    assert w.base7 == ResolutionCounts(sum(100 + k for k in range(1, 8)), sum(range(1, 8)))
    assert w.base28 == ResolutionCounts(sum(100 + k for k in range(1, 29)), sum(range(1, 29)))


def fcr(day: tuple[int, int], base: tuple[int, int], judged: date = DAY - timedelta(days=3)) -> FcrWindows:
    """(answered, repeats) on the judged day and per day over the 28 days before it."""
    per_day = ResolutionCounts(*base)
    week, month = ResolutionCounts(), ResolutionCounts()
    for k in range(28):
        month = month + per_day
        if k < 7:
            week = week + per_day
    return FcrWindows(judged, ResolutionCounts(*day), week, month)


def comparisons(report_data, **by_touchpoint: FcrWindows) -> dict:
    data = report_data(resolution=Resolution(dict(by_touchpoint), {}))
    return {c.scope: c for c in verdict(data).comparisons if c.metric.key == "fcr"}


def test_a_drop_beyond_the_combined_margin_is_worse_and_a_wobble_is_not(report_data):
    found = comparisons(report_data,
                        billing=fcr((300, 120), (400, 80)),    # 60 % against 80 %: far beyond noise
                        website=fcr((300, 66), (400, 80)),     # 78 % against 80 %: noise
                        kiosk=fcr((12, 0), (20, 10)),          # 100 % on 12 calls: too few to judge
                        tech=fcr((300, 30), (400, 80)))        # 90 % against 80 %: better
    assert {tp: c.status for tp, c in found.items()} == {"billing": "worse", "website": "steady",
                                                         "kiosk": "too-few", "tech": "better"}
    drop = found["billing"].changes[0]
    assert drop.diff == pytest.approx(-0.2) and drop.significant and drop.moe < 0.1
    wobble = found["website"].changes[0]
    assert abs(wobble.diff) < wobble.moe  # the margin decides, not the size alone
    text = found["billing"].sentence()
    judged = DAY - timedelta(days=3)
    assert text.startswith(f"First-contact resolution of {judged.day} {judged:%b} calls at Billing & payments: "
                           "60.0 % \u00b1")
    assert "from 300 answered calls" in text and "\u221220.0 pp against the previous 7 days (80.0 %, beyond" in text


def test_the_page_names_fcr_findings_and_the_missed_callers(report_data):
    missed = {"billing": MissedCallers(40, 10, 12), "website": MissedCallers(20, 18, 1),
              "call_centre": MissedCallers(50, 45, 0), "kiosk": MissedCallers(5, 5, 0)}
    data = report_data(resolution=Resolution({"billing": fcr((300, 120), (400, 80))}, missed))
    page = render_report(data)
    v = verdict(data)
    assert any(c.metric.key == "fcr" and c.scope == "billing" for c in v.worse)
    assert "First-contact resolution of" in page and "Billing &amp; payments: 60.0 %" in page
    # 30 + 2 + 5 = 37 of 115 not called back in time, 13 never; worst first
    assert ("37 of 115 missed callers (32.2 %) on Monday were not called back within the target; 13 of them "
            "have had no call back at all so far. Most at Billing &amp; payments 30, call_centre 5, Website 2.") in page
    table = page.split('id="missed-callers"', 1)[1]
    order = [table.index(name) for name in ("Billing &amp; payments", "call_centre", "Website", "kiosk")]
    assert order == sorted(order)
    assert "<td class=\"num\">25 %</td>" in table  # billing: 10 of 40 called back in time
    assert 'id="first-contact-resolution"' in page


def test_missed_sentence_without_missed_or_late_callers():
    assert missed_sentence({}, DAY) == "No known caller was missed on Monday (short abandons aside)."
    assert missed_sentence({"a": MissedCallers(7, 7, 0)}, DAY) == \
        "All 7 missed callers on Monday were called back within the target."


def test_a_report_without_contact_centre_data_still_renders(report_data):
    data = report_data()
    assert data.resolution is None
    page = render_report(data)
    assert "Missed callers" not in page and not [c for c in verdict(data).comparisons if c.metric.key == "fcr"]
