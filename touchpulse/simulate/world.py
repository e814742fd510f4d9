"""One simulated day of a telecom's customer contacts, as contract-v1 documents.

All times are epoch seconds (UTC) while generating; they are only turned into RFC 3339
strings, with the producer's habitual offset, when a document is built. Every random
choice comes from the one seeded `random.Random`, so a run is reproducible.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime, time, timedelta, timezone
from itertools import accumulate
from typing import Callable
from zoneinfo import ZoneInfo

from touchpulse.simulate import profiles as P
from touchpulse.simulate.contact_centre import ContactCentre

HOUR = 3600.0
DAY = 86400.0
# A callback that queues one document: (emit epoch seconds, event type, document).
Emit = Callable[[float, str, dict], None]


class _Picker:
    """Weighted choice with precomputed cumulative weights (random.choices is slow per call)."""

    def __init__(self, weights: dict[str, float]):
        self.items = list(weights)
        self.cum = list(accumulate(weights.values()))

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cum)[0]


class World:
    """The state that outlives one day: ids, regular buyers and their habits."""

    def __init__(self, rng: random.Random, zone: ZoneInfo, tag: str, first_day: date, emit: Emit,
                 extra: list[str] = ()):
        """`extra`: registry touchpoints the profiles do not know; they get calls and surveys too."""
        self.rng, self.zone, self.tag, self.emit = rng, zone, tag, emit
        self.counter = 0
        more = {slug: 0.04 for slug in extra}
        self.call_tp, self.out_tp = _Picker(P.CALL_TOUCHPOINTS | more), _Picker(P.OUTBOUND_TOUCHPOINTS)
        self.store_tp, self.digital_tp = _Picker(P.STORE_TOUCHPOINTS), _Picker(P.DIGITAL_TOUCHPOINTS)
        self.survey_tp, self.panel_tp = _Picker(P.SURVEY_TOUCHPOINTS | more), _Picker(P.RELATIONSHIP_PANELS)
        self.review_tp, self.brand = _Picker(P.REVIEW_TOUCHPOINTS), _Picker(P.BRANDS)
        self.desk = ContactCentre(rng, zone, P.CALL_TOUCHPOINTS | more, P.INBOUND_CALLS)
        # Regular buyers: (next purchase day as an ordinal float, interval days, speed-up, touchpoint).
        start = first_day.toordinal()
        self.regulars = []
        for _ in range(P.REGULAR_CUSTOMERS):
            interval = min(60.0, max(2.0, rng.lognormvariate(math.log(12), 0.5)))
            speedup = rng.uniform(*P.SPEEDUP_RANGE) if rng.random() < P.SPEEDUP_SHARE else 1.0
            tp = self.store_tp(rng) if rng.random() < 0.5 else self.digital_tp(rng)
            self.regulars.append([start + rng.uniform(0, interval), interval, speedup, tp])

    # ---- helpers -------------------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.tag}-{self.counter:08d}"

    def ts(self, t: float, local: bool) -> str:
        if local:
            return datetime.fromtimestamp(t, self.zone).isoformat(timespec="milliseconds")
        return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds")[:-6] + "Z"

    def customer(self) -> str:
        return f"cus-{self.rng.randrange(P.CUSTOMERS):06d}"

    def caller(self) -> str | None:
        """A subscriber recognised by their number, or None for a withheld one."""
        rng = self.rng
        return f"cus-{rng.randrange(P.SUBSCRIBERS):06d}" if rng.random() < P.IDENTIFIED_CALLERS else None

    def envelope(self, etype: str, t: float, tp: str, local: bool, source: str, customer: str | None,
                 attributes: dict | None = None) -> dict:
        doc = {"event_id": self.next_id("evt"), "type": etype, "version": 1,
               "occurred_at": self.ts(t, local), "touchpoint": tp, "source": source}
        if customer:
            doc["customer_id"] = customer
        doc["attributes"] = attributes or {"region": P.REGIONS[self.rng.randrange(len(P.REGIONS))]}
        return doc

    def score(self, mix: tuple[float, float]) -> int:
        r = self.rng.random()
        if r < mix[0]:
            return 10 if self.rng.random() < 0.55 else 9
        if r < 1 - mix[1]:
            return 8 if self.rng.random() < 0.55 else 7
        return self.rng.choices(range(7), cum_weights=(2, 3, 5, 8, 13, 21, 31))[0]

    def hourly(self, per_day: float, factor: float, curve: list[float]):
        """Yield (hour, count) with Poisson-like noise around the curve's share of the day."""
        total = sum(curve)
        for h, w in enumerate(curve):
            mu = per_day * factor * w / total
            if mu > 0:
                yield h, max(0, int(mu + self.rng.gauss(0, math.sqrt(mu)) + 0.5))

    # ---- one day -------------------------------------------------------------------
    def day(self, d: date) -> None:
        rng = self.rng
        starts = [datetime.combine(d, time(h), self.zone).timestamp() for h in range(24)]
        starts.append(datetime.combine(d + timedelta(days=1), time(0), self.zone).timestamp())
        self.at = lambda h: starts[h] + rng.random() * (starts[h + 1] - starts[h])
        self.day_end = starts[24]
        factor = P.WEEKDAY_FACTOR[d.weekday()] * rng.uniform(0.92, 1.08)
        self.calls(factor)
        self.purchases(d, factor)
        self.reviews(factor)
        self.surveys(factor)

    def calls(self, factor: float) -> None:
        rng = self.rng
        day_pressure = rng.uniform(0.93, 1.07)
        for h, n in self.hourly(P.INBOUND_CALLS, factor, P.CALL_CURVE):
            for _ in range(n):
                self.inbound(self.call_tp(rng), self.at(h), self.caller(), day_pressure)
        for q, tp, customer in self.desk.calls_due(self.day_end):  # unsolved callers calling again
            self.inbound(tp, q, customer, day_pressure)
        for h, n in self.hourly(P.OUTBOUND_CALLS, factor, P.CALL_CURVE):
            for _ in range(n):
                q = self.at(h)
                tp, customer = self.out_tp(rng), self.caller()
                campaign = ("retention", "upsell", "followup")[rng.randrange(3)]
                if rng.random() < 0.65:
                    answered = q + rng.uniform(5, 30)
                    self.call(tp, "outbound", q, answered, answered + rng.lognormvariate(4.8, 0.7), customer,
                              self.desk.agent(tp, h).agent_id, campaign=campaign)
                else:
                    self.call(tp, "outbound", q, None, q + rng.uniform(15, 40), customer, None, campaign=campaign)

    def inbound(self, tp: str, q: float, customer: str | None, day_pressure: float) -> None:
        """One inbound call: missed (and maybe called back) or answered by an agent (and maybe
        unsolved, so the caller calls again)."""
        rng = self.rng
        h = self.desk.hour(q)
        pressure = 0.85 * day_pressure * P.QUEUE_PRESSURE.get(tp, 1.0) / P.STAFFING[h]
        mean_wait = 12 * pressure ** 3
        if rng.random() < min(0.85, 0.03 + 0.45 * max(0.0, pressure - 0.8)):
            patience = rng.uniform(0.5, 5) if rng.random() < 0.15 else rng.expovariate(1 / (mean_wait + 20))
            self.call(tp, "inbound", q, None, q + patience, customer, None)
            if customer:
                self.call_back(tp, q + patience, customer)
            return
        answered = q + rng.expovariate(1 / mean_wait)
        agent = self.desk.agent(tp, h)
        hold = rng.expovariate(1 / 45) if rng.random() < 0.3 else 0.0
        ended = answered + rng.lognormvariate(5.3, 0.6) * agent.handle_factor + hold
        call_id = self.call(tp, "inbound", q, answered, ended, customer, agent.agent_id, hold)
        unsolved = rng.random() < agent.unresolved
        if unsolved and customer:
            self.desk.call_again(tp, ended, customer, self.call_tp)
        if rng.random() < P.CALL_SURVEY_SHARE:
            score = self.score(P.NPS_MIX.get(tp, P.DEFAULT_NPS_MIX))
            if answered - q > 60:
                score = max(0, score - rng.randint(1, 3))
            if unsolved:
                score = max(0, score - rng.randint(1, 4))
            self.survey(ended + rng.uniform(120, 2 * HOUR), tp, score, "transactional", "own", call_id, customer)

    def call_back(self, tp: str, missed_end: float, customer: str) -> None:
        """The outbound call to a missed caller, on the line they called, if the team makes one."""
        q = self.desk.call_back_at(missed_end)
        if q is None:
            return
        rng = self.rng
        if rng.random() < P.CALLBACK_ANSWERED:
            answered = q + rng.uniform(5, 25)
            self.call(tp, "outbound", q, answered, answered + rng.lognormvariate(4.9, 0.6), customer,
                      self.desk.agent(tp, self.desk.hour(q)).agent_id, campaign="callback")
        else:
            self.call(tp, "outbound", q, None, q + rng.uniform(20, 40), customer, None, campaign="callback")

    def call(self, tp: str, direction: str, q: float, answered: float | None, ended: float,
             customer: str | None, agent_id: str | None, hold: float = 0.0, campaign: str | None = None) -> str:
        rng = self.rng
        local = rng.random() < 0.8  # CDR exports mostly carry the site's local offset
        call_id = self.next_id("call")
        attrs = {"region": P.REGIONS[rng.randrange(len(P.REGIONS))], "queue": tp}
        if campaign:
            attrs["campaign"] = campaign
        doc = self.envelope("call", ended, tp, local, "cdr_export", customer, attrs)
        doc.update(call_id=call_id, direction=direction, queued_at=self.ts(q, local),
                   answered_at=None if answered is None else self.ts(answered, local),
                   ended_at=self.ts(ended, local))
        if answered is not None:
            doc.update(hold_seconds=round(hold, 1), wrap_seconds=round(rng.uniform(10, 60), 1))
            if agent_id:
                doc["agent_id"] = agent_id
        self.emit(ended, "call", doc)
        return call_id

    def purchases(self, d: date, factor: float) -> None:
        rng = self.rng
        for h, n in self.hourly(P.ONE_OFF_PURCHASES * 0.55, factor, P.STORE_CURVE):
            for _ in range(n):
                self.purchase(self.at(h), self.store_tp(rng), self.customer() if rng.random() < 0.6 else None)
        for h, n in self.hourly(P.ONE_OFF_PURCHASES * 0.45, factor, P.DIGITAL_CURVE):
            for _ in range(n):
                self.purchase(self.at(h), self.digital_tp(rng), self.customer())
        today = d.toordinal() + 1
        for i, reg in enumerate(self.regulars):
            if reg[0] >= today:
                continue
            tp = reg[3]
            curve = P.STORE_CURVE if tp in P.STORE_TOUCHPOINTS else P.DIGITAL_CURVE
            h = rng.choices(range(24), weights=curve)[0]
            self.purchase(self.at(h), tp, f"cus-{i:06d}")
            reg[1] = max(1.5, reg[1] * reg[2])
            reg[0] = max(reg[0], today - 1) + reg[1] * rng.uniform(0.7, 1.3)

    def purchase(self, t: float, tp: str, customer: str | None) -> None:
        rng = self.rng
        store = tp in P.STORE_TOUCHPOINTS
        local = rng.random() < (0.7 if store else 0.1)
        amount = rng.lognormvariate(math.log(35), 0.8)
        if rng.random() < 0.06:
            amount += rng.uniform(250, 900)  # a device
        order_id = self.next_id("ord")
        doc = self.envelope("purchase", t, tp, local, "pos" if store else "shop_web", customer)
        doc.update(order_id=order_id, amount=f"{amount:.2f}" if store else round(amount, 2),
                   currency=P.CURRENCY, item_count=1 + int(rng.expovariate(1.5)), status="completed")
        self.emit(t, "purchase", doc)
        if rng.random() < P.REFUND_SHARE:
            later = t + rng.uniform(HOUR, 10 * DAY)
            refund = dict(doc, event_id=self.next_id("evt"), occurred_at=self.ts(later, local), status="refunded")
            self.emit(later, "purchase", refund)
        if rng.random() < P.PURCHASE_SURVEY_SHARE:
            self.survey(t + rng.uniform(HOUR, 26 * HOUR), tp, self.score(P.NPS_MIX.get(tp, P.DEFAULT_NPS_MIX)),
                        "transactional", "own", order_id, customer)

    def reviews(self, factor: float) -> None:
        rng = self.rng
        for h, n in self.hourly(P.REVIEWS, factor, P.DIGITAL_CURVE):
            for _ in range(n):
                tp = self.review_tp(rng)
                platforms = P.REVIEW_PLATFORMS[tp]
                platform = platforms[rng.randrange(len(platforms))]
                score = self.score(P.NPS_MIX.get(tp, P.DEFAULT_NPS_MIX))
                rating = 5 if score >= 9 else (4 if score >= 7 else 1 + score // 2 if score < 6 else 3)
                rating = min(5, max(1, rating - (rng.random() < 0.3)))  # reviewers are harsher
                posted = self.at(h)
                doc = self.envelope("review", posted, tp, False, "review_poller", None, {"platform": platform})
                texts = P.REVIEW_TEXTS[rating]
                doc.update(review_id=self.next_id("rev"), platform=platform, rating=rating,
                           posted_at=self.ts(posted, False), replied_at=None)
                if rng.random() < 0.7:
                    doc["text"] = texts[rng.randrange(len(texts))]
                self.emit(posted, "review", doc)
                share, (lo, hi) = P.FAST_REPLIERS.get(tp) or P.REPLY_POLICY[platform]
                if rng.random() < share:
                    replied = posted + rng.uniform(lo, hi) * HOUR
                    self.emit(replied, "review", dict(doc, event_id=self.next_id("evt"),
                                                      occurred_at=self.ts(replied, False),
                                                      replied_at=self.ts(replied, False)))

    def surveys(self, factor: float) -> None:
        rng = self.rng
        for h, n in self.hourly(P.STANDALONE_SURVEYS, factor, P.STORE_CURVE):
            for _ in range(n):
                tp = self.survey_tp(rng)
                self.survey(self.at(h), tp, self.score(P.NPS_MIX.get(tp, P.DEFAULT_NPS_MIX)),
                            "transactional", "own", None, self.customer())
        for h, n in self.hourly(P.RELATIONSHIP_SURVEYS, factor, P.DIGITAL_CURVE):
            for _ in range(n):
                brand = self.brand(rng)
                customer = self.customer() if brand == "own" else f"pnl-{rng.randrange(10**6):06d}"
                self.survey(self.at(h), self.panel_tp(rng), self.score(P.BRAND_NPS_MIX[brand]),
                            "relationship", brand, None, customer)

    def survey(self, t: float, tp: str, score: int, kind: str, brand: str, interaction: str | None,
               customer: str | None) -> None:
        rng = self.rng
        local = rng.random() < 0.5
        doc = self.envelope("survey", t, tp, local, "survey_tool", customer or self.customer())
        doc.update(response_id=self.next_id("srv"), score=score, kind=kind, brand=brand)
        if interaction:
            doc["interaction_id"] = interaction
        if rng.random() < (0.7 if score <= 6 else 0.3 if score <= 8 else 0.15):
            pool = (P.COMMENTS_LOW.get(tp, P.COMMENTS_GENERIC_LOW) if score <= 6
                    else P.COMMENTS_MID if score <= 8 else P.COMMENTS_HIGH)
            doc["comment"] = pool[rng.randrange(len(pool))]
        self.emit(t, "survey", doc)
