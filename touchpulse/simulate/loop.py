"""The call-back team of the simulation: what happens after a low answer raises a follow-up.

Most follow-ups are assigned and the customer is contacted and the follow-up closed within the
touchpoint's `followup_hours`; some are handled late, some never, a few customers cannot be
reached, and some customers who were called back answer 9-10 a few days later (won back);
answers about competitors (benchmark panels) are closed at once as not the team's. The
team has its own random stream and sends its updates without the simulation's injected mess,
so adding it leaves every other message of a seed exactly as it was.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Callable

from touchpulse.core.followups import followup_id

HOUR = 3600.0
DAY = 86400.0
FOLLOWUP_BELOW = 8  # the worker's default threshold (TOUCHPULSE_FOLLOWUP_BELOW)
OWNERS = ("anna", "boris", "carla", "dmitri", "elena")
# How a follow-up goes: (share, plan). Cumulative shares are taken in this order.
PLANS = ((0.66, "in_time"), (0.12, "late"), (0.05, "unreachable"), (0.05, "contacted_open"), (0.02, "assigned_only"),
         (0.10, "never"))
WON_BACK_SHARE = 0.3  # of follow-ups closed as resolved with a known customer
NOTES = ("apologised, credit applied to the next bill", "technician booked", "explained the new tariff",
         "refund agreed", "escalated to the store manager")

Send = Callable[[float, str, dict], None]


class CallBackTeam:
    def __init__(self, seed: int, tag: str, hours: Callable[[str], float], send: Send):
        """`hours(touchpoint)`: its followup_hours; `send(t, type, doc)`: emit a message at t."""
        self.rng = random.Random(f"touchpulse-simulate-team|{seed}")
        self.tag, self.hours, self.send = tag, hours, send
        self.counter = 0

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.tag}-t{self.counter:07d}"

    def answered(self, t: float, answer: dict) -> None:
        """A survey answer was given at t: if it raises a follow-up, the team deals with it."""
        if answer["score"] >= FOLLOWUP_BELOW:
            return
        rng = self.rng
        fid, tp = followup_id(answer["event_id"]), answer["touchpoint"]
        due = self.hours(tp) * HOUR
        r, plan = rng.random(), "never"
        for share, name in PLANS:
            if r < share:
                plan = name
                break
            r -= share
        owner = OWNERS[rng.randrange(len(OWNERS))]
        steps: list[tuple[float, str, str | None]] = []  # (seconds after the answer, status, resolution)
        if answer.get("brand", "own") != "own":  # a competitor's customer in a benchmark panel: triaged away
            plan = "benchmark"
            steps = [(rng.uniform(0.02, 0.2) * due, "closed", "unresolved")]
        elif plan == "in_time":
            contact = rng.uniform(0.1, 0.85) * due
            steps = [(rng.uniform(0.02, 0.1) * due, "assigned", None), (contact, "contacted", None),
                     (contact + rng.uniform(300, 0.1 * due), "closed", "resolved" if rng.random() < 0.8 else "unresolved")]
        elif plan == "late":
            contact = rng.uniform(1.05, 2.5) * due
            steps = [(rng.uniform(0.3, 0.9) * due, "assigned", None), (contact, "contacted", None),
                     (contact + rng.uniform(300, 2 * HOUR), "closed", "resolved" if rng.random() < 0.7 else "unresolved")]
        elif plan == "unreachable":
            steps = [(rng.uniform(0.05, 0.3) * due, "assigned", None),
                     (rng.uniform(0.5, 1.5) * due, "closed", "unreachable")]
        elif plan == "contacted_open":
            steps = [(rng.uniform(0.05, 0.3) * due, "assigned", None), (rng.uniform(0.3, 1.2) * due, "contacted", None)]
        elif plan == "assigned_only":
            steps = [(rng.uniform(0.05, 0.5) * due, "assigned", None)]
        for after, status, resolution in steps:
            doc = {"event_id": self._id("upd"), "type": "followup_update", "version": 1,
                   "occurred_at": _utc(t + after), "touchpoint": tp, "source": "crm", "followup_id": fid,
                   "status": status, "owner": owner}
            if resolution:
                doc["resolution"] = resolution
                if plan == "benchmark":
                    doc["note"] = "competitor benchmark answer: not our customer"
                elif resolution != "unreachable" and rng.random() < 0.6:
                    doc["note"] = NOTES[rng.randrange(len(NOTES))]
            self.send(t + after, "followup_update", doc)
        last = steps[-1] if steps else None
        customer = answer.get("customer_id")
        if last and last[2] == "resolved" and customer and rng.random() < WON_BACK_SHARE:
            at = t + last[0] + rng.uniform(1, 20) * DAY  # within the 30-day window
            again = {"event_id": self._id("evt"), "type": "survey", "version": 1, "occurred_at": _utc(at),
                     "touchpoint": tp, "source": "survey_tool", "customer_id": customer,
                     "response_id": self._id("srv"), "score": 10 if rng.random() < 0.6 else 9,
                     "kind": "transactional", "brand": "own"}
            self.send(at, "survey", again)


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"
