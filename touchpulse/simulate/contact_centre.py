"""The contact centre's people: agents who differ, callers who call again when their problem was
not solved, and missed callers who are called back, late when the call-back falls at lunch.

`World.calls` asks it who answers, whether that solved the problem, when an unsolved caller
calls again and when a missed caller is called back. Every choice comes from the world's one
seeded `random.Random`, so a run stays reproducible; the numbers live in profiles.py.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from touchpulse.simulate import profiles as P

HOUR = 3600.0
OPEN_HOURS = [h for h, w in enumerate(P.CALL_CURVE) if w > 0]


@dataclass(frozen=True)
class Agent:
    agent_id: str
    handle_factor: float  # multiplies the talk time: rushers are quick, new starters slow
    unresolved: float     # chance that a call they answer leaves the problem unsolved


class ContactCentre:
    """Rosters per touchpoint, and the repeat calls still to come (a heap by queue time)."""

    def __init__(self, rng: random.Random, zone: ZoneInfo, call_shares: dict[str, float], daily_calls: float):
        self.rng, self.zone = rng, zone
        total = sum(call_shares.values())
        self.daily = {tp: daily_calls * share / total for tp, share in call_shares.items()}
        self.rosters: dict[str, list[Agent]] = {}
        self.due: list[tuple[float, int, str, str]] = []
        self.seq = 0
        self.open_weights = [P.CALL_CURVE[h] for h in OPEN_HOURS]

    def roster(self, tp: str) -> list[Agent]:
        """A touchpoint's agents, hired the first time it gets a call (so a run stays reproducible)."""
        if tp not in self.rosters:
            rng = self.rng
            size = math.ceil(self.daily.get(tp, 40) / P.CALLS_PER_AGENT) + 2
            agents = []
            for i in range(size):
                r, kind = rng.random(), P.AGENT_KINDS[-1]
                for k in P.AGENT_KINDS:
                    if r < k[0]:
                        kind = k
                        break
                    r -= k[0]
                base = P.UNRESOLVED.get(tp, P.DEFAULT_UNRESOLVED)
                agents.append(Agent(f"{tp[:4]}-{i:03d}", rng.uniform(*kind[1]),
                                    min(0.7, base * rng.uniform(*kind[2]))))
            self.rosters[tp] = agents
        return self.rosters[tp]

    def agent(self, tp: str, hour: int) -> Agent:
        """Who takes a call at this local hour; at lunch only half the roster is on the phones."""
        roster = self.roster(tp)
        if hour in P.LUNCH_HOURS:
            roster = roster[: max(1, len(roster) // 2)]
        return roster[self.rng.randrange(len(roster))]

    def hour(self, t: float) -> int:
        return datetime.fromtimestamp(t, self.zone).hour

    # ---- callers who call again -------------------------------------------------------------
    def call_again(self, tp: str, ended: float, customer: str, other_tp) -> None:
        """An unsolved caller's next call: hours or days later, within opening hours, usually to
        the same line. `other_tp(rng)` picks another line for the rest."""
        rng = self.rng
        r, (lo, hi) = rng.random(), P.REPEAT_DELAYS[-1][1]
        for share, bounds in P.REPEAT_DELAYS:
            if r < share:
                lo, hi = bounds
                break
            r -= share
        delay = math.exp(rng.uniform(math.log(lo), math.log(hi))) * HOUR
        at = self.opening(ended + delay, spread=True)
        to = tp if rng.random() < P.REPEAT_SAME_TOUCHPOINT else other_tp(rng)
        self.seq += 1
        heapq.heappush(self.due, (at, self.seq, to, customer))

    def calls_due(self, before: float) -> Iterator[tuple[float, str, str]]:
        """(queued_at, touchpoint, customer) of the repeat calls queued before `before`, in time
        order; a call handled meanwhile may add more (a caller can stay unsolved twice)."""
        while self.due and self.due[0][0] < before:
            at, _, tp, customer = heapq.heappop(self.due)
            yield at, tp, customer

    # ---- call-backs to missed callers --------------------------------------------------------
    def call_back_at(self, ended: float) -> float | None:
        """When a missed caller is called back (None: never). Minutes later as a rule; a call-back
        that falls in the lunch hour usually waits until the team is back from lunch."""
        rng = self.rng
        if rng.random() >= P.CALLBACK_SHARE:
            return None
        typical = math.log(P.CALLBACK_MEDIAN_MINUTES * 60)
        at = ended + rng.lognormvariate(typical, 0.7)
        local = datetime.fromtimestamp(at, self.zone)
        if local.hour in P.LUNCH_HOURS and rng.random() < P.LUNCH_DEFERRAL:
            back = local.hour
            while back in P.LUNCH_HOURS:
                back += 1
            backlog = rng.lognormvariate(math.log(P.LUNCH_BACKLOG_MINUTES * 60), 0.5)
            at = datetime.combine(local.date(), time(back), self.zone).timestamp() + backlog
        return self.opening(at, spread=False)

    # ---- opening hours -----------------------------------------------------------------------
    def opening(self, t: float, spread: bool) -> float:
        """`t` if the lines are open then; otherwise the next opening: at an hour as busy as the
        day's curve (`spread`, a customer choosing when to call) or first thing (the team's queue)."""
        local = datetime.fromtimestamp(t, self.zone)
        if local.hour in OPEN_HOURS:
            return t
        day = local.date() if local.hour < OPEN_HOURS[0] else local.date() + timedelta(days=1)
        if spread:
            h = self.rng.choices(OPEN_HOURS, weights=self.open_weights)[0]
            return datetime.combine(day, time(h), self.zone).timestamp() + self.rng.random() * HOUR
        return datetime.combine(day, time(OPEN_HOURS[0]), self.zone).timestamp() + self.rng.expovariate(1 / 1200)
