"""The contact centre in the daily report: first-contact resolution per touchpoint, and the missed
callers nobody called back.

A day's first-contact resolution is final only once its calls have had their whole repeat window
(72 hours by default, a week at some lines): before that, customers who will call again have not
yet, and the day looks better than it is. So each touchpoint is judged on the latest day whose
window has closed by the end of the reported day, against the 7 and 28 days before that one.
Missed callers are final sooner: the call-back target is minutes, so the reported day itself is
judged. `collect` reads the views; everything else here is pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Callable

from touchpulse.clickhouse.quoting import q
from touchpulse.core.touchpoints import Registry
from touchpulse.report import stats
from touchpulse.report.stats import Estimate

WORST = 3  # touchpoints named in the sentence


@dataclass(frozen=True)
class ResolutionCounts:
    answered_identified: int = 0
    repeat_contacts: int = 0

    def fcr(self) -> Estimate:
        """First-contact resolution as a share, with the binomial margin the report uses for ratios."""
        return stats.proportion(self.answered_identified - self.repeat_contacts, self.answered_identified)

    def __add__(self, other: ResolutionCounts) -> ResolutionCounts:
        return ResolutionCounts(self.answered_identified + other.answered_identified,
                                self.repeat_contacts + other.repeat_contacts)


@dataclass(frozen=True)
class MissedCallers:
    """Known customers missed on the day (not short abandons), by what happened next."""

    missed: int = 0
    called_back: int = 0   # within the touchpoint's callback_minutes
    never: int = 0         # of those not called back in time: no call back at all, so far

    @property
    def not_called_back(self) -> int:
        return self.missed - self.called_back


@dataclass(frozen=True)
class FcrWindows:
    """One touchpoint's counts on its judged day and over the 7 and 28 days before it."""

    judged_day: date
    day: ResolutionCounts
    base7: ResolutionCounts
    base28: ResolutionCounts


@dataclass
class Resolution:
    fcr: dict[str, FcrWindows]          # by touchpoint
    missed: dict[str, MissedCallers]    # the reported day, by touchpoint


def judged_day(day: date, repeat_window_hours: float) -> date:
    """The latest day whose every call has had its whole repeat window by the end of `day`."""
    return day - timedelta(days=math.ceil(repeat_window_hours / 24))


def fcr_windows(by_day: dict[date, ResolutionCounts], day: date) -> FcrWindows:
    def total(first: int, last: int) -> ResolutionCounts:
        out = ResolutionCounts()
        for k in range(first, last + 1):
            out = out + by_day.get(day - timedelta(days=k), ResolutionCounts())
        return out

    return FcrWindows(day, by_day.get(day, ResolutionCounts()), total(1, 7), total(1, 28))


def missed_sentence(missed: dict[str, MissedCallers], day: date, name: Callable[[str], str] = str) -> str:
    """e.g. '97 of 412 missed callers (23.5 %) on Monday were not called back within the target;
    41 of them have had no call back at all so far. Most at Billing 31, Call centre 22, Delivery 9.'"""
    total = sum(m.missed for m in missed.values())
    if not total:
        return f"No known caller was missed on {day:%A} (short abandons aside)."
    late = sum(m.not_called_back for m in missed.values())
    if not late:
        return f"All {total:,} missed callers on {day:%A} were called back within the target."
    never = sum(m.never for m in missed.values())
    worst = sorted(((m.not_called_back, s) for s, m in missed.items() if m.not_called_back),
                   key=lambda x: (-x[0], x[1]))[:WORST]
    return (f"{late:,} of {total:,} missed callers ({100 * late / total:.1f} %) on {day:%A} were not called back "
            f"within the target; {never:,} of them have had no call back at all so far. "
            f"Most at {', '.join(f'{name(s)} {n:,}' for n, s in worst)}.")


def collect(client, database: str, day: date, registry: Registry) -> Resolution:
    """FCR counts per touchpoint around each one's judged day, and the day's missed callers.
    `database` is the name, unquoted; dates are bound parameters."""
    db = q(database)
    windows = [tp.targets.repeat_window_hours for tp in registry.touchpoints.values()]
    longest = max([registry.defaults.repeat_window_hours, *windows])
    first = judged_day(day, longest) - timedelta(days=28)
    params = {"first": first, "d": day}
    result = client.query(f"""
SELECT touchpoint, day, sum(answered_identified) AS answered, sum(repeat_contacts) AS repeats,
    sum(missed_identified) AS missed, sum(called_back) AS back
FROM {db}.calls_resolution_daily WHERE day >= {{first:Date32}} AND day <= {{d:Date32}}
GROUP BY touchpoint, day""", parameters=params)
    counts: dict[str, dict[date, ResolutionCounts]] = {}
    missed: dict[str, MissedCallers] = {}
    for tp, d, answered, repeats, lost, back in result.result_rows:
        counts.setdefault(tp, {})[d] = ResolutionCounts(int(answered), int(repeats))
        if d == day and lost:
            missed[tp] = MissedCallers(int(lost), int(back))
    never = client.query(f"""
SELECT touchpoint, count() FROM {db}.missed_not_called_back
WHERE day = {{d:Date32}} AND called_back_after_minutes IS NULL GROUP BY touchpoint""", parameters=params)
    for tp, n in never.result_rows:
        if tp in missed:
            missed[tp] = MissedCallers(missed[tp].missed, missed[tp].called_back, int(n))
    fcr = {}
    for tp, by_day in sorted(counts.items()):
        w = fcr_windows(by_day, judged_day(day, registry.targets(tp).repeat_window_hours))
        if w.day.answered_identified or w.base28.answered_identified:
            fcr[tp] = w
    return Resolution(fcr, dict(sorted(missed.items())))
