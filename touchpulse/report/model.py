"""What the daily report knows about a day: additive counts read from the metric views.

Counts, not ratios, cross the I/O boundary: NPS, service level and averages are derived here
from sums, so a baseline over 28 days is the pooled sample (every answer weighs the same),
not an average of daily ratios. Everything in this module is pure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from touchpulse.report import stats
from touchpulse.report.resolution import Resolution, ResolutionCounts
from touchpulse.report.stats import Estimate
from touchpulse.report.verdict import (ABANDON_RATE, AVG_RATING, NPS, ORDERS, SERVICE_LEVEL, Baseline,
                                       Comparison, Overdue, Verdict, avg_check_metric, fcr_metric)

SERVICE_LEVEL_GOAL = 0.8   # share of calls answered within the touchpoint's sla_answer_seconds
WINDOWS = ("day", "base7", "base28")
LAST_7, LAST_28 = "the previous 7 days", "the previous 28 days"


@dataclass(frozen=True)
class NpsCounts:
    promoters: int = 0
    detractors: int = 0
    responses: int = 0

    def estimate(self) -> Estimate:
        return stats.nps(self.promoters, self.detractors, self.responses)

    def __add__(self, other: NpsCounts) -> NpsCounts:
        return NpsCounts(self.promoters + other.promoters, self.detractors + other.detractors,
                         self.responses + other.responses)


@dataclass(frozen=True)
class CallCounts:
    offered: int = 0
    answered: int = 0
    short_abandoned: int = 0
    answered_in_sla: int = 0

    def service_level(self) -> Estimate:
        return stats.proportion(self.answered_in_sla, self.offered - self.short_abandoned)

    def abandon_rate(self) -> Estimate:
        abandoned = self.offered - self.answered
        return stats.proportion(abandoned - self.short_abandoned, self.offered - self.short_abandoned)

    def __add__(self, other: CallCounts) -> CallCounts:
        return CallCounts(self.offered + other.offered, self.answered + other.answered,
                          self.short_abandoned + other.short_abandoned, self.answered_in_sla + other.answered_in_sla)


@dataclass(frozen=True)
class Sums:
    """sum x, sum x^2 and n: enough for a mean and its margin of error."""

    total: float = 0.0
    total_sq: float = 0.0
    n: int = 0

    def mean(self) -> Estimate:
        return stats.mean(self.total, self.total_sq, self.n)


@dataclass(frozen=True)
class Windows:
    """The same counts over the day, the 7 days before it and the 28 days before it."""

    day: object
    base7: object
    base28: object


@dataclass(frozen=True)
class ReviewStats:
    reviews: int
    replied: int
    replied_in_time: int
    reply_p50_hours: float | None
    target_hours: float
    unanswered_past_target: int


@dataclass(frozen=True)
class DayOrders:
    day: date
    orders: int
    revenue: float
    customers: int
    repeat_customers: int


@dataclass
class ReportData:
    day: date
    timezone: str
    generated_at: datetime
    names: dict[str, str]                       # touchpoint slug -> display name
    nps: dict[str, Windows]                     # own brand, by touchpoint: Windows of NpsCounts
    nps_trend: dict[date, NpsCounts]            # own brand, every touchpoint, per day (day-34 .. day)
    benchmark: dict[str, NpsCounts]             # relationship surveys by brand, day-27 .. day
    calls: dict[str, Windows]                   # by touchpoint: Windows of CallCounts
    sla_seconds: dict[str, float]               # by touchpoint
    missed_by_hour: list[int]                   # 24 values on the day
    offered_by_hour: list[int]
    missed_by_hour_base7: list[float]           # mean per hour over the 7 days before
    reviews: dict[str, ReviewStats]             # by touchpoint, reviews posted day-27 .. day
    ratings: Windows                            # Windows of Sums over every review
    currency: str
    orders: list[DayOrders]                     # main currency, day-28 .. day (missing days absent)
    checks: Windows                             # Windows of Sums of completed order amounts
    overdue: Overdue
    notes: list[str] = field(default_factory=list)
    resolution: Resolution | None = None        # first-contact resolution and missed callers

    def name(self, slug: str) -> str:
        return self.names.get(slug) or slug

    @property
    def zone_label(self) -> str:
        return self.timezone


def _baselines(w: Windows, fn) -> tuple[Baseline, ...]:
    return (Baseline(LAST_7, fn(w.base7)), Baseline(LAST_28, fn(w.base28)))


def _total(windows: dict[str, Windows], zero) -> Windows:
    out = Windows(zero, zero, zero)
    for w in windows.values():
        out = Windows(out.day + w.day, out.base7 + w.base7, out.base28 + w.base28)
    return out


def orders_comparison(data: ReportData) -> Comparison:
    """Orders have a strong weekly rhythm, so the day is compared with the same weekday only."""
    by_day = {o.day: o.orders for o in data.orders}
    today = by_day.get(data.day)
    current = stats.daily_count(today) if today is not None else stats.NO_DATA
    week_ago = data.day - timedelta(days=7)
    same_weekdays = [data.day - timedelta(days=7 * k) for k in range(1, 5)]
    base1 = (stats.mean_daily_count(by_day[week_ago], 1) if week_ago in by_day else stats.NO_DATA)
    known = [d for d in same_weekdays if d in by_day]
    base4 = stats.mean_daily_count(sum(by_day[d] for d in known), len(known)) if known else stats.NO_DATA
    weekday = data.day.strftime("%A")
    return Comparison(ORDERS, "", "", current,
                      (Baseline(f"{weekday} a week before", base1), Baseline(f"the previous 4 {weekday}s", base4)))


def comparisons(data: ReportData) -> list[Comparison]:
    """Every judged metric: NPS and the call queue per touchpoint and overall, reviews and orders overall."""
    out: list[Comparison] = []
    everything = _total(data.nps, NpsCounts())
    out.append(Comparison(NPS, "", "", everything.day.estimate(), _baselines(everything, NpsCounts.estimate)))
    for slug, w in sorted(data.nps.items()):
        out.append(Comparison(NPS, slug, data.name(slug), w.day.estimate(), _baselines(w, NpsCounts.estimate)))
    calls = _total(data.calls, CallCounts())
    for metric, fn in ((SERVICE_LEVEL, CallCounts.service_level), (ABANDON_RATE, CallCounts.abandon_rate)):
        out.append(Comparison(metric, "", "", fn(calls.day), _baselines(calls, fn)))
        for slug, w in sorted(data.calls.items()):
            out.append(Comparison(metric, slug, data.name(slug), fn(w.day), _baselines(w, fn)))
    out.append(Comparison(AVG_RATING, "", "", data.ratings.day.mean(), _baselines(data.ratings, Sums.mean)))
    out.append(orders_comparison(data))
    out.append(Comparison(avg_check_metric(data.currency), "", "", data.checks.day.mean(),
                          _baselines(data.checks, Sums.mean)))
    out.extend(fcr_comparisons(data))
    return out


def fcr_comparisons(data: ReportData) -> list[Comparison]:
    """First-contact resolution per touchpoint, each on its own judged day (resolution.py)."""
    if data.resolution is None:
        return []
    return [Comparison(fcr_metric(w.judged_day), slug, data.name(slug), w.day.fcr(),
                       _baselines(w, ResolutionCounts.fcr)) for slug, w in data.resolution.fcr.items()]


def verdict(data: ReportData) -> Verdict:
    notes = list(data.notes)
    late = sum(r.unanswered_past_target for r in data.reviews.values())
    if late:
        worst = sorted(((r.unanswered_past_target, s) for s, r in data.reviews.items() if r.unanswered_past_target),
                       key=lambda x: (-x[0], x[1]))[:3]
        notes.append(f"{late:,} reviews posted in the last 28 days are still unanswered past their reply target "
                     f"(most at {', '.join(f'{data.name(s)} {n:,}' for n, s in worst)}).")
    return Verdict(data.day, comparisons(data), data.overdue, notes)
