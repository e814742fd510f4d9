"""Estimates with 95 % margins of error, and when a change between two of them is beyond noise.

The daily report must not call a wobble a trend: a day's NPS at a small touchpoint rests on a
few dozen answers, so every comparison carries its margin of error, and a change counts only
when it is larger than the combined margin of the two independent samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from touchpulse.core import metrics

Z95 = metrics.Z95


@dataclass(frozen=True)
class Estimate:
    """A measured value with its 95 % margin of error; value None means there was no data."""

    value: float | None
    moe: float | None
    n: int

    @property
    def empty(self) -> bool:
        return self.value is None


NO_DATA = Estimate(None, None, 0)


@dataclass(frozen=True)
class Change:
    """current - baseline, and whether it is beyond noise (|diff| > combined margin of error)."""

    current: Estimate
    baseline: Estimate
    diff: float | None
    moe: float | None

    @property
    def significant(self) -> bool:
        return self.diff is not None and self.moe is not None and abs(self.diff) > self.moe

    @property
    def strength(self) -> float:
        """How many margins of error the change spans (0 when unknown); ranks findings."""
        if self.diff is None or not self.moe:
            return math.inf if self.diff else 0.0
        return abs(self.diff) / self.moe


def nps(promoters: int, detractors: int, responses: int) -> Estimate:
    """NPS in points with the contract's margin (touchpulse/core/metrics.py, as the views compute it)."""
    value = metrics.nps(promoters, detractors, responses)
    return NO_DATA if value is None else Estimate(value[0], value[1], responses)


def proportion(successes: int, trials: int) -> Estimate:
    """A share (0..1). The margin uses the Agresti-Coull adjustment so that 0/12 or 12/12 is not
    reported as exact: a day with 12 calls all answered in time is not proof of a perfect queue."""
    if trials <= 0:
        return NO_DATA
    adj = (successes + 2) / (trials + 4)
    return Estimate(successes / trials, Z95 * math.sqrt(adj * (1 - adj) / (trials + 4)), trials)


def mean(total: float, total_sq: float, n: int) -> Estimate:
    """A mean from its sums (sum x, sum x^2, n), with the margin of error of the mean."""
    if n <= 0:
        return NO_DATA
    m = total / n
    if n == 1:
        return Estimate(m, None, 1)
    var = max(total_sq - n * m * m, 0.0) / (n - 1)
    return Estimate(m, Z95 * math.sqrt(var / n), n)


def daily_count(count: int) -> Estimate:
    """A count of events in one day, treated as Poisson: the margin is 1.96 * sqrt(count)."""
    return Estimate(float(count), Z95 * math.sqrt(max(count, 1)), count)


def mean_daily_count(total: int, days: int) -> Estimate:
    """The average daily count over `days` comparable days (Poisson: variance of the mean = mean/days)."""
    if days <= 0:
        return NO_DATA
    m = total / days
    return Estimate(m, Z95 * math.sqrt(max(m, 1.0) / days), total)


def compare(current: Estimate, baseline: Estimate) -> Change:
    """Independent samples: the margins add in quadrature."""
    if current.empty or baseline.empty:
        return Change(current, baseline, None, None)
    diff = current.value - baseline.value
    if current.moe is None or baseline.moe is None:
        return Change(current, baseline, diff, None)
    return Change(current, baseline, diff, math.hypot(current.moe, baseline.moe))
