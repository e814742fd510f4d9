"""A hand-built ReportData: known counts, so every derived number can be checked by hand."""

from datetime import date, datetime, timedelta, timezone

import pytest

from touchpulse.report.model import (CallCounts, DayOrders, NpsCounts, ReportData, ReviewStats, Sums, Windows)
from touchpulse.report.stats import proportion
from touchpulse.report.verdict import Overdue, OverdueFollowup

DAY = date(2024, 6, 3)  # a Monday


def make_data(**overrides) -> ReportData:
    orders = [DayOrders(DAY - timedelta(days=i), 800 if (DAY - timedelta(days=i)).weekday() == 0 else 700,
                        28000.0, 600, 250) for i in range(28, 0, -1)]
    orders.append(DayOrders(DAY, 1000, 36000.0, 700, 300))
    due = datetime(2024, 6, 3, 9, tzinfo=timezone.utc)
    fields = dict(
        day=DAY, timezone="Europe/Moscow", generated_at=datetime(2024, 6, 4, 4, tzinfo=timezone.utc),
        names={"billing": "Billing & payments", "website": "Website"},
        nps={
            # billing collapses on the day: NPS -60 on 100 answers against -20 on thousands
            "billing": Windows(NpsCounts(10, 70, 100), NpsCounts(140, 280, 700), NpsCounts(600, 1200, 3000)),
            "website": Windows(NpsCounts(50, 20, 100), NpsCounts(350, 140, 700), NpsCounts(1500, 600, 3000)),
            "kiosk": Windows(NpsCounts(3, 0, 3), NpsCounts(), NpsCounts()),
        },
        nps_trend={DAY - timedelta(days=i): NpsCounts(60, 90, 200) for i in range(35)},
        benchmark={"own": NpsCounts(400, 240, 1000), "rival": NpsCounts(450, 200, 1000)},
        calls={"call_centre": Windows(CallCounts(1000, 900, 20, 700), CallCounts(7000, 6400, 140, 5900),
                                      CallCounts(28000, 25600, 560, 23600))},
        sla_seconds={"call_centre": 20.0},
        missed_by_hour=[0] * 9 + [5, 8, 9, 10, 60, 9, 8, 7, 6, 5, 4, 3, 0, 0, 0],
        offered_by_hour=[0] * 9 + [80] * 12 + [0] * 3,
        missed_by_hour_base7=[0.0] * 9 + [5, 8, 9, 10, 20, 9, 8, 7, 6, 5, 4, 3, 0, 0, 0],
        reviews={"website": ReviewStats(300, 75, 60, 80.0, 48.0, 40),
                 "billing": ReviewStats(100, 90, 88, 3.0, 24.0, 2)},
        ratings=Windows(Sums(400.0, 1800.0, 100), Sums(2800.0, 12600.0, 700), Sums(11200.0, 50400.0, 2800)),
        currency="EUR", orders=orders,
        checks=Windows(Sums(36000.0, 36000.0 * 36 * 2, 1000), Sums(196000.0, 196000.0 * 35 * 2, 5600),
                       Sums(784000.0, 784000.0 * 35 * 2, 22400)),
        overdue=Overdue(datetime(2024, 6, 4, tzinfo=timezone.utc), 3, 1, {"billing": (3, 1)},
                        [OverdueFollowup("billing", "cus-<1>", 2, "Charged twice & <b>angry</b>",
                                         due - timedelta(hours=48), due)], proportion(30, 40), proportion(100, 160)),
    )
    fields.update(overrides)
    return ReportData(**fields)


@pytest.fixture
def report_data():
    return make_data
