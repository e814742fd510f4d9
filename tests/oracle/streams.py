"""Adversarial event streams for comparing the views with the reference.

A stream is what producers sent, in production order: (topic name, value bytes, key bytes).
It mixes every case the contract is strict about: versions of one entity in any order and
with tied occurred_at, re-sent duplicates, late events, timestamps written in several UTC
offsets around local midnight of the business zone, waits and replies exactly at their
targets and one microsecond over, short abandons at exactly the threshold, outbound and
refunded winning versions, one customer's calls at the repeat and call-back windows' edges, days
where every denominator is empty, and malformed messages.
Follow-ups (low answers) get updates from the team: in any order, tied, early (sent before the
answer), duplicated, at the due time and one microsecond over, closed then re-opened by a later
`assigned`, for ids that were never raised, and customers answering 9-10 at the win-back
window's edges; a few are raised around now, so that "overdue" has both answers.
"""

from __future__ import annotations

import json
import random
import tomllib
import uuid
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.oracle.reference import FOLLOWUP_NAMESPACE, WIN_BACK, Targets

TOPIC = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
         "followup_update": "followup_updates"}
TYPE_OF_TOPIC = {v: k for k, v in TOPIC.items()}
OFFSETS = [timedelta(0), timedelta(hours=3), timedelta(hours=-5), timedelta(hours=5, minutes=30),
           timedelta(hours=14), timedelta(hours=-12), timedelta(hours=-3, minutes=-30)]
UNKNOWN_TOUCHPOINT = "kiosk_pilot"  # not in the registry: default targets
AGENTS = ["a1", "a2", "a3"]


def registry_targets(path: Path | None = None) -> tuple[dict[str, Targets], Targets]:
    """Targets per touchpoint read straight from the registry TOML (not through touchpulse)."""
    path = path or Path(__file__).resolve().parents[2] / "touchpulse" / "data" / "touchpoints.toml"
    doc = tomllib.loads(path.read_text())
    names = ("sla_answer_seconds", "short_abandon_seconds", "review_reply_hours", "repeat_window_hours",
             "callback_minutes", "service_level_base", "followup_hours")
    contract = Targets()

    def value(entry: dict, name: str, fallback: Targets):
        v = entry.get(name, getattr(fallback, name))
        return v if name == "service_level_base" else float(v)

    defaults = Targets(**{n: value(doc.get("defaults", {}), n, contract) for n in names})
    per = {slug: Targets(**{n: value(entry, n, defaults) for n in names})
           for slug, entry in doc.get("touchpoints", {}).items()}
    return per, defaults


def rfc3339(t: datetime, rng: random.Random) -> str:
    """The instant written in a random UTC offset with 0, 3, 6 or 9 fraction digits (exact or truncating)."""
    offset = rng.choice(OFFSETS)
    local = t.astimezone(timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    micro = local.microsecond
    digits = rng.choice([6, 9] if micro % 1000 else [3, 6, 9] if micro else [0, 3, 6, 9])
    if digits == 3:
        text += f".{micro // 1000:03d}"
    elif digits == 6:
        text += f".{micro:06d}"
    elif digits == 9:
        text += f".{micro:06d}{rng.randrange(1000):03d}"  # nanoseconds: truncated to microseconds
    if offset == timedelta(0) and rng.random() < 0.5:
        return text + "Z"
    total = int(offset.total_seconds()) // 60
    sign = "+" if total >= 0 else "-"
    return text + f"{sign}{abs(total) // 60:02d}:{abs(total) % 60:02d}"


class StreamBuilder:
    """Builds one stream for the business zone `tz`, deterministic for a seed."""

    def __init__(self, seed: int, tz: str, targets: dict[str, Targets], defaults: Targets, *,
                 start: date = date(2024, 3, 1), days: int = 75, size: int = 300):
        self.rng = random.Random(seed)
        self.zone = ZoneInfo(tz)
        self.targets = targets
        self.defaults = defaults
        self.start = start
        self.days = days
        self.size = size
        self.touchpoints = ["call_centre", "business_line", "retail_store", UNKNOWN_TOUCHPOINT]
        self.events: list[tuple[datetime, str, dict]] = []  # (when it is sent, type, document)
        self.n = 0

    def target(self, tp: str) -> Targets:
        return self.targets.get(tp, self.defaults)

    def instant(self) -> datetime:
        """On one of three busy days across a month end (so groups hold many events) or any day
        of the span (so months and rolling windows fill); often right at a local midnight."""
        if self.rng.random() < 0.6:
            day = self.start + timedelta(days=29 + self.rng.randrange(3))
        else:
            day = self.start + timedelta(days=self.rng.randrange(self.days))
        midnight = datetime.combine(day, time(0), self.zone).astimezone(timezone.utc)
        r = self.rng.random()
        if r < 0.35:
            delta = timedelta(microseconds=self.rng.choice([-1, 0, 1]))
        elif r < 0.6:
            delta = timedelta(seconds=self.rng.uniform(-1800, 1800))
        else:
            delta = timedelta(seconds=self.rng.uniform(0, 86400))
        return midnight + delta

    def envelope(self, etype: str, occurred: datetime, tp: str, **body) -> dict:
        self.n += 1
        doc = {"event_id": f"e{self.rng.randrange(10**6):06d}-{self.n}", "type": etype, "version": 1,
               "occurred_at": rfc3339(occurred, self.rng), "touchpoint": tp, **body}
        return doc

    def emit(self, etype: str, doc: dict, sent: datetime) -> None:
        self.events.append((sent, etype, doc))

    def sent_time(self, occurred: datetime) -> datetime:
        """Usually soon after it happened, sometimes days late."""
        late = timedelta(days=self.rng.randrange(1, 20)) if self.rng.random() < 0.1 else timedelta(0)
        return occurred + timedelta(seconds=self.rng.uniform(0, 600)) + late

    def versions(self, etype: str, key: str, make, count: int) -> None:
        """`count` versions of one entity; occurred_at may tie (greater event_id wins) and they are
        sent in any order."""
        base = self.instant()
        occurred = [base]
        for _ in range(count - 1):
            occurred.append(occurred[-1] + self.rng.choice([timedelta(0), timedelta(microseconds=1),
                                                             timedelta(minutes=self.rng.randrange(1, 600))]))
        docs = [make(base, o, i) for i, o in enumerate(occurred)]
        sends = [self.sent_time(o) for o in occurred]
        self.rng.shuffle(sends)
        for d, s in zip(docs, sends):
            d[ENTITY_KEY[etype]] = key
            self.emit(etype, d, s)

    def count(self) -> int:
        return self.rng.choice([1, 1, 1, 2, 3])

    # --- entities ---

    def survey(self, i: int) -> None:
        tp = self.rng.choice(self.touchpoints)
        brand = self.rng.choice([None, None, "own", "rival_mobile"])
        kind = self.rng.choice([None, "transactional", "relationship"])

        def make(base, occurred, v):
            body = {"score": self.rng.randrange(11)}
            if brand:
                body["brand"] = brand
            if kind:
                body["kind"] = kind
            if self.rng.random() < 0.5:
                body["customer_id"] = f"c{self.rng.randrange(40)}"
            return self.envelope("survey", occurred, tp, **body)

        self.versions("survey", f"r{i}", make, self.count())

    def call(self, i: int) -> None:
        tp = self.rng.choice(self.touchpoints)
        t = self.target(tp)

        def make(base, occurred, v):
            queued = base - timedelta(minutes=self.rng.randrange(0, 30))
            r = self.rng.random()
            body = {"direction": self.rng.choice(["inbound"] * 5 + ["outbound", None])}
            if body["direction"] is None:
                del body["direction"]
            if r < 0.55:
                wait = self.rng.choice([
                    timedelta(seconds=t.sla_answer_seconds), timedelta(seconds=t.sla_answer_seconds, microseconds=1),
                    timedelta(seconds=t.sla_answer_seconds, microseconds=-1), timedelta(0),
                    timedelta(seconds=self.rng.uniform(0, 120))])
                answered = queued + wait
                ended = answered + timedelta(seconds=self.rng.uniform(0, 900))
                body["answered_at"] = rfc3339(answered, self.rng)
                if self.rng.random() < 0.5:
                    body["hold_seconds"] = self.rng.choice([0, 12.5, self.rng.uniform(0, 300)])
                if self.rng.random() < 0.5:
                    body["wrap_seconds"] = self.rng.choice([0, 30, self.rng.uniform(0, 120)])
            else:
                ended = queued + self.rng.choice([
                    timedelta(seconds=t.short_abandon_seconds),
                    timedelta(seconds=t.short_abandon_seconds, microseconds=-1),
                    timedelta(0), timedelta(seconds=self.rng.uniform(0, 200))])
                if self.rng.random() < 0.3:
                    body["answered_at"] = None
            body.update(queued_at=rfc3339(queued, self.rng), ended_at=rfc3339(ended, self.rng))
            if "answered_at" in body and body["answered_at"] and self.rng.random() < 0.7:
                body["agent_id"] = self.rng.choice(AGENTS)
            customer = self.rng.choice([None, customer_of_entity, customer_of_entity, self.customer()])
            if customer:
                body["customer_id"] = customer
            return self.envelope("call", max(occurred, ended), tp, **body)

        customer_of_entity = self.customer()
        self.versions("call", f"call{i}", make, self.count())

    def customer(self) -> str:
        """A small pool, so one customer's calls meet across touchpoints, days and batches."""
        return f"k{self.rng.randrange(10)}"

    def caller(self, i: int) -> None:
        """One customer's calls in a row, each placed against the previous one's end: exactly at
        the repeat or call-back window's end (counts) and a microsecond after (does not), at the
        end itself (not strictly later), queued before the previous call ended, or hours later.
        A later version may take the answer away or give the call to someone else."""
        customer = f"k{self.rng.randrange(30)}"  # sometimes one of the other calls' customers too
        tp = self.rng.choice(self.touchpoints)
        queued = self.instant()
        inbound = True
        for n in range(self.rng.randrange(2, 5)):
            t = self.target(tp)
            answered = self.rng.random() < 0.5
            inbound = n == 0 or inbound
            pickup = queued + timedelta(seconds=self.rng.uniform(0, 25))
            ended = (pickup + timedelta(seconds=self.rng.choice([30, 400])) if answered
                     else queued + timedelta(seconds=self.rng.choice([t.short_abandon_seconds, 30, 400])))
            body = {"queued_at": rfc3339(queued, self.rng), "ended_at": rfc3339(ended, self.rng),
                    "customer_id": customer}
            if not inbound:
                body["direction"] = "outbound"
            if answered:
                body["answered_at"] = rfc3339(pickup, self.rng)
                body["agent_id"] = self.rng.choice(AGENTS)
            key = f"chain{i}-{n}"
            doc = self.envelope("call", ended, tp, **body)
            doc["call_id"] = key
            self.emit("call", doc, self.sent_time(ended))
            if self.rng.random() < 0.25:  # a later version changes the answer or the customer
                later = {**body}
                if self.rng.random() < 0.5:
                    later["customer_id"] = self.customer()
                elif "answered_at" in later:
                    del later["answered_at"]
                    later.pop("agent_id", None)
                else:
                    later["answered_at"] = rfc3339(queued, self.rng)
                doc = self.envelope("call", ended + timedelta(minutes=5), tp, **later)
                doc["call_id"] = key
                self.emit("call", doc, self.sent_time(ended + timedelta(minutes=5)))
            # The next call is usually the one this call's window is about: a repeat after an
            # answered call, a call back after a missed one, at or just past the window's end.
            window = (timedelta(hours=t.repeat_window_hours) if answered and inbound
                      else timedelta(minutes=t.callback_minutes))
            inbound = answered and inbound if self.rng.random() < 0.8 else self.rng.random() < 0.5
            edge = self.rng.choice([window, window, window + timedelta(microseconds=1),
                                    window + timedelta(microseconds=1), timedelta(0), timedelta(microseconds=1),
                                    timedelta(minutes=-3), window * self.rng.random(), window * 3])
            queued = ended + edge
            tp = self.rng.choice([tp, tp, self.rng.choice(self.touchpoints)])

    def review(self, i: int) -> None:
        tp = self.rng.choice(self.touchpoints)
        t = self.target(tp)
        platform = self.rng.choice(["google_maps", "app_store"])
        posted = self.instant()
        rating = self.rng.randint(1, 5)

        def make(base, occurred, v):
            body = {"platform": platform, "rating": rating if v == 0 else self.rng.randint(1, 5),
                    "posted_at": rfc3339(posted, self.rng)}
            if v > 0 or self.rng.random() < 0.2:
                reply = self.rng.choice([
                    timedelta(hours=t.review_reply_hours), timedelta(hours=t.review_reply_hours, microseconds=1),
                    timedelta(0), timedelta(hours=self.rng.uniform(0, 72))])
                body["replied_at"] = rfc3339(posted + reply, self.rng)
                occurred = max(occurred, posted + reply)
            return self.envelope("review", max(occurred, posted), tp, **body)

        self.versions("review", f"rev{i}", make, self.count())

    def purchase(self, i: int) -> None:
        tp = self.rng.choice(self.touchpoints + ["retail_store"] * 4)
        currency = self.rng.choice(["EUR"] * 6 + ["USD"])
        customer = self.rng.choice([None] + [f"c{k}" for k in range(15)])
        amount = self.rng.choice([f"{self.rng.randrange(1, 50000) / 100:.2f}", self.rng.randrange(1, 300),
                                  round(self.rng.uniform(1, 300), 2), "0", "19.999999"])
        statuses = self.rng.choice([["completed"], [None], ["completed", "refunded"], ["refunded", "completed"],
                                    ["completed", "completed"], ["completed", "refunded", "completed"]])

        def make(base, occurred, v):
            body = {"amount": amount, "currency": currency}
            if statuses[min(v, len(statuses) - 1)]:
                body["status"] = statuses[min(v, len(statuses) - 1)]
            if customer:
                body["customer_id"] = customer
            return self.envelope("purchase", occurred, tp, **body)

        self.versions("purchase", f"o{i}", make, len(statuses))

    def followup(self, i: int) -> None:
        """A low answer, the updates the team sends about its follow-up, and maybe the customer's
        later answer."""
        tp = self.rng.choice(self.touchpoints)
        hours = self.target(tp).followup_hours
        recent = self.rng.random() < 0.1
        if recent:  # due within a day of now, either side (never within minutes: "now" moves)
            occurred = datetime.now(timezone.utc) - timedelta(hours=hours + self.rng.choice([-20, -3, 3, 20]))
        else:
            occurred = self.instant()
        customer = f"c{self.rng.randrange(12)}" if self.rng.random() < 0.8 else None
        body = {"response_id": f"fr{i}", "score": self.rng.randrange(8)}
        if customer:
            body["customer_id"] = customer
        if self.rng.random() < 0.5:
            body["comment"] = self.rng.choice(["call me back", "slow queue", "Ж"])
        answer = self.envelope("survey", occurred, tp, **body)
        answer_sent = self.sent_time(occurred)
        self.emit("survey", answer, answer_sent)
        fid = str(uuid.uuid5(FOLLOWUP_NAMESPACE, answer["event_id"]))
        if self.rng.random() < 0.1:
            fid = f"unknown-{i}"  # another system's id: never counts
        due = occurred + timedelta(hours=hours)
        times = [occurred, due, due - timedelta(microseconds=1), due + timedelta(microseconds=1),
                 occurred + timedelta(hours=self.rng.uniform(0, 3 * hours))]
        plan = self.rng.choice([[], ["assigned"], ["contacted"], ["closed"], ["assigned", "contacted", "closed"],
                                ["contacted", "closed"], ["closed", "assigned"], ["closed", "closed"],
                                ["assigned", "closed", "contacted"]])
        closings = []
        for n, status in enumerate(plan):
            when = self.rng.choice(times)
            if n and self.rng.random() < 0.3:
                when = self.events[-1][2]["_t"]  # tied with the previous update: the greater event_id wins
            u = {"followup_id": fid, "status": status}
            if status == "closed":
                closings.append(when)
                if self.rng.random() < 0.7:
                    u["resolution"] = self.rng.choice(["resolved", "unresolved", "unreachable"])
            if self.rng.random() < 0.5:
                u["owner"] = self.rng.choice(["anna", "boris"])
            if self.rng.random() < 0.3:
                u["note"] = "agreed a refund"
            doc = self.envelope("followup_update", when, tp, **u)
            doc["_t"] = when
            early = self.rng.random() < 0.2  # before the follow-up exists
            sent = answer_sent - timedelta(seconds=self.rng.uniform(1, 3600)) if early else self.sent_time(when)
            self.emit("followup_update", doc, max(sent, answer_sent - timedelta(days=1)))
        if customer and closings and self.rng.random() < 0.6:  # the customer answers again, at the window's edges
            c = self.rng.choice(closings)
            t = c + self.rng.choice([timedelta(0), timedelta(microseconds=1), WIN_BACK,
                                     WIN_BACK + timedelta(microseconds=1), timedelta(days=self.rng.uniform(0, 40))])
            again = self.envelope("survey", t, self.rng.choice([tp, tp, tp, "call_centre"]), response_id=f"fw{i}",
                                  score=self.rng.choice([9, 10, 10, 8]), customer_id=customer)
            self.emit("survey", again, self.sent_time(t))

    def malformed(self) -> tuple[str, bytes]:
        etype = self.rng.choice(list(TOPIC))
        kind = self.rng.randrange(4)
        if kind == 0:
            return etype, b"{not json"
        if kind == 1:
            doc = self.envelope(etype, self.instant(), "call_centre")
            return etype, json.dumps({k: v for k, v in doc.items() if k != "occurred_at"}).encode()
        if kind == 2:
            doc = self.envelope(etype, self.instant(), "call_centre")
            doc["occurred_at"] = doc["occurred_at"][:19]  # no offset
            return etype, json.dumps(doc).encode()
        other = self.rng.choice([t for t in TOPIC if t != etype])
        doc = self.envelope(other, self.instant(), "call_centre")
        return etype, json.dumps(doc).encode()  # wrong topic

    def build(self) -> list[tuple[str, bytes, bytes | None]]:
        makers = [self.survey, self.call, self.review, self.purchase, self.caller, self.followup]
        i = 0
        while len(self.events) < self.size:
            self.rng.choice(makers)(i)
            i += 1
        self.events.sort(key=lambda e: e[0])
        for _, _, doc in self.events:
            doc.pop("_t", None)
        records = [(TOPIC[etype], json.dumps(doc).encode(), self._key(doc, etype)) for _, etype, doc in self.events]
        for _ in range(max(1, self.size // 25)):  # re-sent duplicates, identical bytes, later
            pos = self.rng.randrange(len(records))
            records.insert(self.rng.randrange(pos, len(records) + 1), records[pos])
        for _ in range(self.rng.randrange(1, 5)):
            etype, raw = self.malformed()
            records.insert(self.rng.randrange(len(records) + 1), (TOPIC[etype], raw, None))
        return records

    def _key(self, doc: dict, etype: str) -> bytes | None:
        return doc[ENTITY_KEY[etype]].encode() if self.rng.random() < 0.8 else None


ENTITY_KEY = {"call": "call_id", "purchase": "order_id", "review": "review_id", "survey": "response_id",
             "followup_update": "followup_id"}


def oracle_input(records: list[tuple[str, bytes, bytes | None]]) -> list[tuple[str, bytes]]:
    return [(TYPE_OF_TOPIC[topic], value) for topic, value, _ in records]


def build_stream(seed: int, tz: str, size: int = 300, registry: Path | None = None,
                 **kw) -> list[tuple[str, bytes, bytes | None]]:
    targets, defaults = registry_targets(registry)
    return StreamBuilder(seed, tz, targets, defaults, size=size, **kw).build()
