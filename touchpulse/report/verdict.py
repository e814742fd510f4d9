"""The verdict in words: what got better, what got worse beyond noise, which follow-ups are overdue.

Pure: it takes estimates already measured (see `touchpulse.report.data`) and decides. A metric
counts as changed only when the day differs from a baseline by more than the combined margin
of error, and only when the day has enough observations to say anything at all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Callable

from touchpulse.report.stats import NO_DATA, Change, Estimate, compare

MIN_SAMPLE = 20  # fewer observations on the day than this: "too few to judge", whatever the numbers say


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_is_better: bool
    value_fmt: Callable[[float], str]
    diff_fmt: Callable[[float], str]
    sample_noun: str  # what n counts: "answers", "calls"; "" for a count, which is its own sample


def _points(v: float) -> str:
    return f"{v:+.1f}".replace("-", "\u2212")


def _nps_value(v: float) -> str:
    return f"{v:.1f}".replace("-", "\u2212")


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


def _pp(v: float) -> str:
    return f"{100 * v:+.1f} pp".replace("-", "\u2212")


def _stars(v: float) -> str:
    return f"{v:.2f}"


def _stars_diff(v: float) -> str:
    return f"{v:+.2f}".replace("-", "\u2212")


def _count(v: float) -> str:
    return f"{v:,.0f}"


def _count_diff(v: float) -> str:
    return f"{v:+,.0f}".replace("-", "\u2212")


def money(currency: str) -> tuple[Callable[[float], str], Callable[[float], str]]:
    return (lambda v: f"{v:,.2f} {currency}"), (lambda v: f"{v:+,.2f} {currency}".replace("-", "\u2212"))


NPS = Metric("nps", "NPS", True, _nps_value, _points, "answers")
SERVICE_LEVEL = Metric("service_level", "Service level", True, _pct, _pp, "calls")
ABANDON_RATE = Metric("abandon_rate", "Abandonment", False, _pct, _pp, "calls")
AVG_RATING = Metric("avg_rating", "Average review rating", True, _stars, _stars_diff, "reviews")
REPLIED_IN_TIME = Metric("replied_in_time", "Reviews replied within target", True, _pct, _pp, "reviews")
ORDERS = Metric("orders", "Completed orders", True, _count, _count_diff, "")


def fcr_metric(judged: date) -> Metric:
    """First-contact resolution is judged on the latest day whose repeat window has closed, which
    is not the reported day: the label names it."""
    return Metric("fcr", f"First-contact resolution of {judged.day} {judged:%b} calls", True, _pct, _pp,
                  "answered calls")


def avg_check_metric(currency: str) -> Metric:
    value_fmt, diff_fmt = money(currency)
    return Metric("avg_check", "Average check", True, value_fmt, diff_fmt, "orders")


@dataclass(frozen=True)
class Baseline:
    label: str          # "the previous 7 days"
    estimate: Estimate


@dataclass(frozen=True)
class Comparison:
    """One metric in one scope (a touchpoint, or everything), the day against its baselines."""

    metric: Metric
    scope: str                      # touchpoint slug, "" for all touchpoints
    scope_label: str
    day: Estimate
    baselines: tuple[Baseline, ...]
    min_sample: int = MIN_SAMPLE

    @property
    def changes(self) -> list[Change]:
        return [compare(self.day, b.estimate) for b in self.baselines]

    @property
    def status(self) -> str:
        """no-data, too-few, no-baseline, steady, better or worse."""
        if self.day.empty:
            return "no-data"
        if self.day.n < self.min_sample:
            return "too-few"
        if all(c.diff is None for c in self.changes):
            return "no-baseline"
        strongest = self.strongest
        if strongest is None:
            return "steady"
        up = strongest.diff > 0
        return "better" if up == self.metric.higher_is_better else "worse"

    @property
    def strongest(self) -> Change | None:
        """The significant change that spans the most margins of error, if any."""
        significant = [c for c in self.changes if c.significant]
        return max(significant, key=lambda c: c.strength) if significant else None

    @property
    def strength(self) -> float:
        s = self.strongest
        return s.strength if s else 0.0

    def sentence(self) -> str:
        """e.g. 'NPS at Billing: −50.0 ±13.9 from 106 answers; −28.0 against the previous 7 days (−22.0,
        beyond the ±15.6 noise) and −23.2 against the previous 28 days (−26.8, beyond the ±14.3 noise).'"""
        m = self.metric
        where = f" at {self.scope_label}" if self.scope else " overall"
        if self.day.empty:
            return f"{m.label}{where}: no data on the day."
        head = f"{m.label}{where}: {m.value_fmt(self.day.value)}"
        if self.day.moe is not None:
            head += f" \u00b1{_abs_fmt(m, self.day.moe)}"
        if m.sample_noun:  # a count is its own sample size
            head += f" from {self.day.n:,} {m.sample_noun}"
        parts = []
        for base, ch in zip(self.baselines, self.changes):
            if ch.diff is None:
                parts.append(f"no data for {base.label}")
                continue
            noise = (f"{'beyond' if ch.significant else 'within'} the \u00b1{_abs_fmt(m, ch.moe)} noise"
                     if ch.moe is not None else "noise unknown")
            parts.append(f"{m.diff_fmt(ch.diff)} against {base.label} ({m.value_fmt(base.estimate.value)}, {noise})")
        return head + "; " + " and ".join(parts) + "."


def _abs_fmt(metric: Metric, value: float) -> str:
    return metric.diff_fmt(abs(value)).lstrip("+")


@dataclass(frozen=True)
class OverdueFollowup:
    touchpoint: str
    customer_id: str
    score: int
    comment: str
    occurred_at: datetime
    due_at: datetime


@dataclass(frozen=True)
class Overdue:
    """Follow-ups still open past their due time as of a moment (the team's updates say which are
    closed: docs/events.md, followup_update), and how many the team closed in time lately.

    `by_touchpoint` maps a touchpoint to (overdue in total, of which fell due on the reported day);
    `recent` lists the oldest overdue ones, those who have waited longest for a call back.
    `in_time` is the share of the follow-ups that fell due in the 7 days up to `as_of` that were
    closed by their due time, with its margin; `in_time_base` the same over the 28 days before.
    """

    as_of: datetime
    total: int
    due_on_day: int
    by_touchpoint: dict[str, tuple[int, int]]
    recent: list[OverdueFollowup]
    in_time: Estimate = NO_DATA
    in_time_base: Estimate = NO_DATA

    def sentence(self, zone_label: str, name: Callable[[str], str] = str) -> str:
        when = f"{self.as_of.day} {self.as_of:%b %Y %H:%M} ({zone_label})"
        if self.total == 0:
            text = f"No follow-up is open past its due time as of {when}."
        else:
            worst = sorted(self.by_touchpoint.items(), key=lambda kv: (-kv[1][0], kv[0]))[:3]
            where = ", ".join(f"{name(tp)} {n[0]:,}" for tp, n in worst)
            noun = "follow-up is" if self.total == 1 else "follow-ups are"
            text = (f"{self.total:,} {noun} still open past the due time as of {when}, {self.due_on_day:,} of them "
                    f"fell due on the day; most at {where}.")
        return text + self.in_time_sentence()

    def in_time_sentence(self) -> str:
        """The in-time rate of the last 7 days against the 28 before, judged against its noise."""
        now, base = self.in_time, self.in_time_base
        if now.empty:
            return ""
        text = (f" Of the {now.n:,} follow-ups that fell due in the last 7 days, {now.value:.0%} were closed in "
                f"time (\u00b1{now.moe:.0%})")
        if base.empty:
            return text + "; no baseline in the 28 days before."
        change = compare(now, base)
        verdict = "beyond" if change.significant else "within"
        return (text + f", against {base.value:.0%} in the 28 days before: {verdict} the "
                f"\u00b1{change.moe:.0%} noise.")


@dataclass
class Verdict:
    day: date
    comparisons: list[Comparison]
    overdue: Overdue
    notes: list[str] = field(default_factory=list)  # extra facts: unanswered reviews, missing data

    def _with(self, status: str) -> list[Comparison]:
        found = [c for c in self.comparisons if c.status == status]
        return sorted(found, key=lambda c: (-c.strength, c.metric.key, c.scope))

    @property
    def better(self) -> list[Comparison]:
        return self._with("better")

    @property
    def worse(self) -> list[Comparison]:
        return self._with("worse")

    @property
    def steady(self) -> list[Comparison]:
        return self._with("steady")

    @property
    def too_few(self) -> list[Comparison]:
        return self._with("too-few")

    @property
    def no_baseline(self) -> list[Comparison]:
        return self._with("no-baseline")

    @property
    def tests(self) -> int:
        """Comparisons actually judged: each may cross its margin by chance 1 time in 20."""
        return sum(len([c for c in x.changes if c.moe is not None]) for x in self.comparisons
                   if x.status in ("better", "worse", "steady"))

    def headline(self) -> str:
        judged = [c for c in self.comparisons if c.status in ("better", "worse", "steady")]
        if not judged:
            return f"No metric had enough data on {self.day:%d %b %Y} to judge."
        b, w = len(self.better), len(self.worse)
        things = lambda n: "1 metric" if n == 1 else f"{n} metrics"  # noqa: E731
        text = f"{things(w)} got worse and {things(b)} got better beyond noise"
        if not b and not w:
            text = f"Nothing moved beyond noise: all {len(judged)} metrics judged stayed within their margins"
        text += f"; {self.overdue.total:,} follow-up{'s' if self.overdue.total != 1 else ''} overdue."
        return text

    def chance_note(self) -> str:
        n = self.tests
        expected = n / 20
        return (f"{n} comparisons were made at 95 % confidence, so about {math.floor(expected + 0.5)} "
                "of them may cross their margin by chance alone: treat a single finding as a lead, "
                "a finding that repeats on the next days as a fact.")
