"""A reference implementation of every metric view, in plain Python, written from the contract.

It shares no code with the SQL: it reads the produced messages itself (json + datetime),
de-duplicates, picks winning versions, assigns business days and computes every formula on
its own. The only thing borrowed is the validator's verdict (`parse_event` accepts or
rejects a message), because validation is tested on its own and this is not a second one.

`compute(messages, ...)` takes the messages in production order as (type of the topic,
raw value bytes) and returns {view name: [row dict, ...]} with the same columns as the views.
Dates are `datetime.date`, ratios are floats (None for an empty denominator), amounts Decimals.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from touchpulse.core.events import Rejected, parse_event

TYPES = ("call", "purchase", "review", "survey", "followup_update")
ENTITY = {"call": "call_id", "purchase": "order_id", "review": "review_id", "survey": "response_id",
          "followup_update": "followup_id"}
# How a follow-up's id derives from its survey answer's event_id (docs/events.md, Follow-ups): a
# name-based UUID, computed here with the standard library.
FOLLOWUP_NAMESPACE = uuid.UUID("6f1c7c1e-8b7e-4d2a-9a43-7c3f0e5b2d10")
FOLLOWUP_BELOW = 8
WIN_BACK = timedelta(days=30)
US = timedelta(microseconds=1)
_TS = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class Targets:
    sla_answer_seconds: float = 20.0
    short_abandon_seconds: float = 5.0
    review_reply_hours: float = 24.0
    repeat_window_hours: float = 72.0
    callback_minutes: float = 60.0
    service_level_base: str = "offered_less_short"
    followup_hours: float = 48.0


def ts(text: str | None) -> datetime | None:
    """RFC 3339 with offset -> aware UTC datetime, fraction truncated to microseconds."""
    if text is None:
        return None
    m = _TS.fullmatch(text)
    assert m, f"the validator accepted a timestamp the oracle cannot read: {text!r}"
    day, clock, frac, offset = m.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    if offset in "Zz":
        tz = timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    local = datetime.fromisoformat(f"{day}T{clock}").replace(microsecond=micro, tzinfo=tz)
    return local.astimezone(timezone.utc)


def micros(delta: timedelta) -> int:
    return delta // US


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, PERCENTILE.INC)."""
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def winning_entities(messages: list[tuple[str, bytes]]) -> dict[str, list[dict]]:
    """Per type: each entity once, in the version with the latest occurred_at (ties: greater event_id).

    A repeated event_id is a duplicate of the first valid message that carried it."""
    seen: dict[str, set[str]] = {t: set() for t in TYPES}
    best: dict[str, dict[str, dict]] = {t: {} for t in TYPES}
    for etype, raw in messages:
        if not valid(etype, raw):
            continue
        doc = json.loads(raw, parse_float=Decimal)
        if doc["event_id"] in seen[etype]:
            continue
        seen[etype].add(doc["event_id"])
        doc["occurred_at"] = ts(doc["occurred_at"])
        key = doc[ENTITY[etype]]
        current = best[etype].get(key)
        if current is None or (doc["occurred_at"], doc["event_id"]) > (current["occurred_at"], current["event_id"]):
            best[etype][key] = doc
    return {t: list(v.values()) for t, v in best.items()}


def valid(etype: str, raw: bytes | None) -> bool:
    if raw is None:
        return False
    try:
        parse_event(raw, etype)
    except Rejected:
        return False
    return True


def compute(messages: list[tuple[str, bytes]], tz: str = "UTC", targets: dict[str, Targets] | None = None,
            defaults: Targets = Targets(), arrived_at: datetime | list[datetime] | None = None,
            now: datetime | None = None) -> dict[str, list[dict]]:
    zone = ZoneInfo(tz)
    targets = targets or {}
    ents = winning_entities(messages)

    def day(t: datetime) -> date:
        return t.astimezone(zone).date()

    def target(tp: str) -> Targets:
        return targets.get(tp, defaults)

    out = {
        "nps_daily": nps_daily(ents["survey"], day),
        "nps_rolling_7d": nps_rolling(ents["survey"], day),
        "calls_daily": calls_daily(ents["call"], day, target),
        "calls_hourly": calls_hourly(ents["call"], zone),
        "calls_resolution_daily": calls_resolution_daily(ents["call"], day, target),
        "callbacks_hourly": callbacks_hourly(ents["call"], zone, target),
        "agents_daily": agents_daily(ents["call"], day, target),
        "reviews_daily": reviews_daily(ents["review"], day, target),
        "purchases_daily": purchases_daily(ents["purchase"], day),
        "loyalty_monthly": loyalty_monthly(ents["purchase"], zone),
    }
    queue = followup_queue(messages, ents["survey"], day, target, now or datetime.now(timezone.utc))
    out["followup_queue"] = queue
    out["followups_daily"] = followups_daily(queue)
    if arrived_at is not None:
        out["ingest_daily"] = ingest_daily(messages, arrived_at, day)
    return out


# --- NPS -------------------------------------------------------------------------------------

def _nps_counts(scores: list[int]) -> tuple[int, int, int, int]:
    p = sum(1 for s in scores if s >= 9)
    pa = sum(1 for s in scores if 7 <= s <= 8)
    d = sum(1 for s in scores if s <= 6)
    return len(scores), p, pa, d


def _nps_row(scores: list[int], prev: list[int]) -> dict:
    n, p, pa, d = _nps_counts(scores)
    P, D = p / n, d / n
    row = {"responses": n, "promoters": p, "passives": pa, "detractors": d,
           "nps": 100 * (p - d) / n, "nps_moe95": 196 * math.sqrt((P + D - (P - D) ** 2) / n)}
    row["prev_responses"] = len(prev)
    if prev:
        before = _nps_row(prev, [])
        row["prev_nps"] = before["nps"]
        row["prev_nps_moe95"] = before["nps_moe95"]
        row["nps_change"] = row["nps"] - before["nps"]
        row["change_moe95"] = math.sqrt(row["nps_moe95"] ** 2 + before["nps_moe95"] ** 2)
        row["significant_change"] = int(abs(row["nps_change"]) > row["change_moe95"])
    else:
        row.update(prev_nps=None, prev_nps_moe95=None, nps_change=None, change_moe95=None, significant_change=0)
    return row


def _scores_by_day(surveys: list[dict], day) -> dict[tuple, dict[date, list[int]]]:
    groups: dict[tuple, dict[date, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in surveys:
        key = (s["touchpoint"], s.get("brand") or "own", s.get("kind") or "transactional")
        groups[key][day(s["occurred_at"])].append(s["score"])
    return groups


def nps_daily(surveys: list[dict], day) -> list[dict]:
    rows = []
    for (tp, brand, kind), days in _scores_by_day(surveys, day).items():
        for d, scores in days.items():
            prev = days.get(d - timedelta(days=1), [])
            rows.append({"day": d, "touchpoint": tp, "brand": brand, "kind": kind, **_nps_row(scores, prev)})
    return rows


def nps_rolling(surveys: list[dict], day, width: int = 7) -> list[dict]:
    """Every day up to the latest survey day whose trailing `width` days hold responses."""
    groups = _scores_by_day(surveys, day)
    if not groups:
        return []
    horizon = max(d for days in groups.values() for d in days)
    rows = []
    for (tp, brand, kind), days in groups.items():
        d = min(days)
        while d <= horizon:
            window = [s for i in range(width) for s in days.get(d - timedelta(days=i), [])]
            prev = [s for i in range(width, 2 * width) for s in days.get(d - timedelta(days=i), [])]
            if window:
                rows.append({"day": d, "touchpoint": tp, "brand": brand, "kind": kind, **_nps_row(window, prev)})
            d += timedelta(days=1)
    return rows


# --- calls and reviews -------------------------------------------------------------------------

def _inbound(calls: list[dict]) -> list[dict]:
    out = []
    for c in calls:
        if (c.get("direction") or "inbound") != "inbound":
            continue
        out.append({**c, "queued_at": ts(c["queued_at"]), "answered_at": ts(c.get("answered_at")),
                    "ended_at": ts(c["ended_at"])})
    return out


def _all_calls(calls: list[dict]) -> list[dict]:
    return [{**c, "direction": c.get("direction") or "inbound", "queued_at": ts(c["queued_at"]),
             "answered_at": ts(c.get("answered_at")), "ended_at": ts(c["ended_at"]),
             "customer_id": c.get("customer_id") or ""} for c in calls]


def _repeat(x: dict, by_customer: dict, target) -> bool:
    """A later inbound call of the same customer: queued strictly after x ended, within the window."""
    window = timedelta(hours=target(x["touchpoint"]).repeat_window_hours)
    return any(y["direction"] == "inbound" and x["ended_at"] < y["queued_at"] <= x["ended_at"] + window
               for y in by_customer[x["customer_id"]])


def _callback_minutes(x: dict, by_customer: dict, target) -> float | None:
    """Minutes to the first outbound call to the customer after x ended, if within callback_minutes."""
    later = [z["queued_at"] for z in by_customer[x["customer_id"]]
             if z["direction"] == "outbound" and z["queued_at"] > x["ended_at"]]
    if not later:
        return None
    gap = min(later) - x["ended_at"]
    return micros(gap) / 60e6 if gap <= timedelta(minutes=target(x["touchpoint"]).callback_minutes) else None


def calls_resolution_daily(calls: list[dict], day, target) -> list[dict]:
    cs = _all_calls(calls)
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for c in cs:
        if c["customer_id"]:
            by_customer[c["customer_id"]].append(c)
    groups: dict[tuple, dict] = defaultdict(lambda: {"answered": 0, "repeat": 0, "missed": 0, "back": []})
    for x in cs:
        if x["direction"] != "inbound" or not x["customer_id"]:
            continue
        g = groups[(day(x["queued_at"]), x["touchpoint"])]
        if x["answered_at"] is not None:
            g["answered"] += 1
            g["repeat"] += _repeat(x, by_customer, target)
        elif x["ended_at"] - x["queued_at"] >= timedelta(seconds=target(x["touchpoint"]).short_abandon_seconds):
            g["missed"] += 1
            minutes = _callback_minutes(x, by_customer, target)
            if minutes is not None:
                g["back"].append(minutes)
    rows = []
    for (d, tp), g in groups.items():
        if g["answered"] + g["missed"] == 0:
            continue
        back = len(g["back"])
        rows.append({"day": d, "touchpoint": tp, "answered_identified": g["answered"], "repeat_contacts": g["repeat"],
                     "fcr_rate": (g["answered"] - g["repeat"]) / g["answered"] if g["answered"] else None,
                     "missed_identified": g["missed"], "called_back": back,
                     "callback_rate": back / g["missed"] if g["missed"] else None,
                     "callback_p50_minutes": percentile(g["back"], 0.5) if back else None})
    return rows


def callbacks_hourly(calls: list[dict], zone: ZoneInfo, target) -> list[dict]:
    """calls_resolution_daily's missed_identified and called_back, by the local hour of queued_at."""
    cs = _all_calls(calls)
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for c in cs:
        if c["customer_id"]:
            by_customer[c["customer_id"]].append(c)
    groups: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for x in cs:
        if x["direction"] != "inbound" or not x["customer_id"] or x["answered_at"] is not None:
            continue
        if x["ended_at"] - x["queued_at"] < timedelta(seconds=target(x["touchpoint"]).short_abandon_seconds):
            continue
        local = x["queued_at"].astimezone(zone)
        g = groups[(local.date(), local.hour, x["touchpoint"])]
        g[0] += 1
        g[1] += _callback_minutes(x, by_customer, target) is not None
    return [{"day": d, "hour": h, "touchpoint": tp, "missed_identified": m, "called_back": b, "callback_rate": b / m}
            for (d, h, tp), (m, b) in groups.items()]


def agents_daily(calls: list[dict], day, target) -> list[dict]:
    cs = _all_calls(calls)
    by_customer: dict[str, list[dict]] = defaultdict(list)
    for c in cs:
        if c["customer_id"]:
            by_customer[c["customer_id"]].append(c)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for x in cs:
        if x["direction"] == "inbound" and x["answered_at"] is not None and (x.get("agent_id") or ""):
            groups[(day(x["queued_at"]), x["touchpoint"], x["agent_id"])].append(x)
    rows = []
    for (d, tp, agent), xs in groups.items():
        handles = [micros(x["ended_at"] - x["answered_at"]) / 1e6 + float(x.get("hold_seconds") or 0)
                   + float(x.get("wrap_seconds") or 0) for x in xs]
        identified = [x for x in xs if x["customer_id"]]
        repeats = sum(_repeat(x, by_customer, target) for x in identified)
        rows.append({"day": d, "touchpoint": tp, "agent_id": agent, "answered": len(xs),
                     "aht_seconds": sum(handles) / len(xs), "identified": len(identified),
                     "repeat_contacts": repeats,
                     "fcr_rate": (len(identified) - repeats) / len(identified) if identified else None})
    return rows


def calls_daily(calls: list[dict], day, target) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for c in _inbound(calls):
        groups[(day(c["queued_at"]), c["touchpoint"])].append(c)
    rows = []
    for (d, tp), cs in groups.items():
        t = target(tp)
        answered = [c for c in cs if c["answered_at"] is not None]
        waits = [micros(c["answered_at"] - c["queued_at"]) / 1e6 for c in answered]
        handles = [micros(c["ended_at"] - c["answered_at"]) / 1e6 + float(c.get("hold_seconds") or 0)
                   + float(c.get("wrap_seconds") or 0) for c in answered]
        short = sum(1 for c in cs if c["answered_at"] is None
                    and c["ended_at"] - c["queued_at"] < timedelta(seconds=t.short_abandon_seconds))
        in_sla = sum(1 for c in answered
                     if c["answered_at"] - c["queued_at"] <= timedelta(seconds=t.sla_answer_seconds))
        offered, n_ans = len(cs), len(answered)
        abandoned = offered - n_ans
        base = {"offered": offered, "answered": n_ans}.get(t.service_level_base, offered - short)
        rows.append({
            "day": d, "touchpoint": tp, "offered": offered, "answered": n_ans, "abandoned": abandoned,
            "short_abandoned": short, "answered_in_sla": in_sla,
            "service_level": in_sla / base if base else None,
            "abandon_rate": (abandoned - short) / (offered - short) if offered - short else None,
            "asa_seconds": sum(waits) / n_ans if n_ans else None,
            "wait_p90_seconds": percentile(waits, 0.9) if n_ans else None,
            "aht_seconds": sum(handles) / n_ans if n_ans else None,
        })
    return rows


def calls_hourly(calls: list[dict], zone: ZoneInfo) -> list[dict]:
    groups: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for c in _inbound(calls):
        local = c["queued_at"].astimezone(zone)
        g = groups[(local.date(), local.hour, c["touchpoint"])]
        g[0] += 1
        g[1] += c["answered_at"] is not None
    return [{"day": d, "hour": h, "touchpoint": tp, "offered": o, "answered": a, "unanswered": o - a}
            for (d, h, tp), (o, a) in groups.items()]


def reviews_daily(reviews: list[dict], day, target) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in reviews:
        r = {**r, "posted_at": ts(r["posted_at"]), "replied_at": ts(r.get("replied_at"))}
        groups[(day(r["posted_at"]), r["touchpoint"], r["platform"])].append(r)
    rows = []
    for (d, tp, platform), rs in groups.items():
        limit = timedelta(hours=target(tp).review_reply_hours)
        replied = [r for r in rs if r["replied_at"] is not None]
        hours = [micros(r["replied_at"] - r["posted_at"]) / 3.6e9 for r in replied]
        rows.append({
            "day": d, "touchpoint": tp, "platform": platform, "reviews": len(rs),
            "avg_rating": sum(r["rating"] for r in rs) / len(rs),
            "replied": len(replied),
            "replied_in_sla": sum(1 for r in replied if r["replied_at"] - r["posted_at"] <= limit),
            "reply_rate": len(replied) / len(rs),
            "reply_p50_hours": percentile(hours, 0.5) if replied else None,
        })
    return rows


# --- purchases ---------------------------------------------------------------------------------

def _completed(purchases: list[dict]) -> list[dict]:
    return [{**p, "amount": Decimal(str(p["amount"]))} for p in purchases
            if (p.get("status") or "completed") == "completed"]


def purchases_daily(purchases: list[dict], day) -> list[dict]:
    orders = _completed(purchases)
    first: dict[str, date] = {}
    for o in orders:
        cid = o.get("customer_id")
        if cid:
            first[cid] = min(first.get(cid, date.max), day(o["occurred_at"]))
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for o in orders:
        groups[(day(o["occurred_at"]), o["touchpoint"], o["currency"])].append(o)
    rows = []
    for (d, tp, cur), os_ in groups.items():
        customers = {o["customer_id"] for o in os_ if o.get("customer_id")}
        revenue = sum((o["amount"] for o in os_), Decimal(0))
        rows.append({"day": d, "touchpoint": tp, "currency": cur, "orders": len(os_), "customers": len(customers),
                     "revenue": revenue, "avg_check": float(revenue / len(os_)),
                     "repeat_customers": sum(1 for c in customers if first[c] < d)})
    return rows


def _month_start(d: date) -> date:
    return d.replace(day=1)


def _next_month_start(month: date, zone: ZoneInfo) -> datetime:
    """The first instant of the following calendar month in the business zone."""
    y, m = (month.year + 1, 1) if month.month == 12 else (month.year, month.month + 1)
    return datetime(y, m, 1, tzinfo=zone).astimezone(timezone.utc)


def loyalty_monthly(purchases: list[dict], zone: ZoneInfo) -> list[dict]:
    """Brute force per month end: every customer's history re-read at every month with orders."""
    ledgers: dict[tuple, dict[str, list[tuple]]] = defaultdict(lambda: defaultdict(list))
    for o in _completed(purchases):
        if o.get("customer_id"):
            ledgers[(o["touchpoint"], o["currency"])][o["customer_id"]].append(
                (o["occurred_at"], o["order_id"], o["amount"]))
    rows = []
    for (tp, cur), customers in ledgers.items():
        for history in customers.values():
            history.sort(key=lambda x: (x[0], x[1]))
        months = sorted({_month_start(t.astimezone(zone).date()) for h in customers.values() for t, _, _ in h})
        for month in months:
            end = _next_month_start(month, zone)
            in_month = [(cid, t, a) for cid, h in customers.items() for t, _, a in h
                        if _month_start(t.astimezone(zone).date()) == month]
            intervals = [micros(h[i][0] - h[i - 1][0]) for h in customers.values() for i in range(1, len(h))
                         if _month_start(h[i][0].astimezone(zone).date()) == month]
            before = {cid: [x for x in h if x[0] < end] for cid, h in customers.items()}
            before = {cid: h for cid, h in before.items() if h}
            revenue_to_date = sum((a for h in before.values() for _, _, a in h), Decimal(0))
            lapsed = 0
            for h in before.values():
                n = len(h)
                if n >= 2:
                    first, last = h[0][0], h[-1][0]
                    # (end - last) > 2 * (last - first) / (n - 1), in exact integers
                    if micros(end - last) * (n - 1) > 2 * micros(last - first):
                        lapsed += 1
            revenue = sum((a for _, _, a in in_month), Decimal(0))
            rows.append({
                "month": month, "touchpoint": tp, "currency": cur,
                "active_customers": len({cid for cid, _, _ in in_month}), "orders": len(in_month),
                "revenue": revenue, "mean_check": float(revenue / len(in_month)),
                "mean_days_between": sum(intervals) / len(intervals) / 86400e6 if intervals else None,
                "customers_to_date": len(before), "revenue_to_date": revenue_to_date,
                "revenue_per_customer": float(revenue_to_date / len(before)),
                "lapsed_customers": lapsed,
            })
    return rows


# --- pipeline health ---------------------------------------------------------------------------

def ingest_daily(messages: list[tuple[str, bytes]], arrived_at: datetime | list[datetime], day) -> list[dict]:
    """Per arrival day and type: first copies of an event_id, later copies, and rejected messages."""
    arrivals = arrived_at if isinstance(arrived_at, list) else [arrived_at] * len(messages)
    seen: dict[str, set[str]] = {t: set() for t in TYPES}
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (etype, raw), when in zip(messages, arrivals):
        c = counts[(day(when), etype)]
        if not valid(etype, raw):
            c[2] += 1
            continue
        event_id = json.loads(raw)["event_id"]
        if event_id in seen[etype]:
            c[1] += 1
        else:
            seen[etype].add(event_id)
            c[0] += 1
    return [{"day": d, "type": t, "accepted": a, "duplicates": dup, "rejected": r}
            for (d, t), (a, dup, r) in counts.items()]


# --- the closed loop ---------------------------------------------------------------------------

def first_copies(messages: list[tuple[str, bytes]], etype: str) -> list[dict]:
    """Every valid message of `etype` whose event_id was not seen before, in order."""
    seen, out = set(), []
    for t, raw in messages:
        if t != etype or not valid(t, raw):
            continue
        doc = json.loads(raw, parse_float=Decimal)
        if doc["event_id"] in seen:
            continue
        seen.add(doc["event_id"])
        doc["occurred_at"] = ts(doc["occurred_at"])
        out.append(doc)
    return out


def reached(update: dict) -> bool:
    """An update that reached the customer: contacted, or closed other than unreachable."""
    return update["status"] == "contacted" or (
        update["status"] == "closed" and (update.get("resolution") or "resolved") != "unreachable")


def followup_queue(messages: list[tuple[str, bytes]], surveys: list[dict], day, target, now: datetime) -> list[dict]:
    """One row per follow-up raised: every survey event (not entity) scoring below the threshold
    raises one; its state is its winning update, its first contact the earliest update that
    reached the customer; updates of ids never raised count nowhere."""
    updates: dict[str, list[dict]] = defaultdict(list)
    for u in first_copies(messages, "followup_update"):
        updates[u["followup_id"]].append(u)
    promoters: dict[tuple, list[datetime]] = defaultdict(list)  # winning answers only
    for s in surveys:
        if s["score"] >= 9 and s.get("customer_id"):
            promoters[(s["customer_id"], s["touchpoint"])].append(s["occurred_at"])
    rows = []
    for s in first_copies(messages, "survey"):
        if s["score"] >= FOLLOWUP_BELOW:
            continue
        fid = str(uuid.uuid5(FOLLOWUP_NAMESPACE, s["event_id"]))
        ups = updates.get(fid, [])
        state = max(ups, key=lambda u: (u["occurred_at"], u["event_id"])) if ups else None
        contacts = [u["occurred_at"] for u in ups if reached(u)]
        due = s["occurred_at"] + timedelta(hours=target(s["touchpoint"]).followup_hours)
        closed = state is not None and state["status"] == "closed"
        customer = s.get("customer_id") or ""
        won = closed and bool(customer) and any(
            state["occurred_at"] < t <= state["occurred_at"] + WIN_BACK for t in promoters[(customer, s["touchpoint"])])
        rows.append({
            "day": day(s["occurred_at"]), "touchpoint": s["touchpoint"], "followup_id": fid,
            "customer_id": customer, "score": s["score"], "comment": s.get("comment") or "",
            "occurred_at": s["occurred_at"], "due_at": due,
            "state": state["status"] if state else "new",
            "resolution": (state.get("resolution") or "resolved") if closed else None,
            "owner": (state.get("owner") or "") if state else "", "note": (state.get("note") or "") if state else "",
            "first_contact_at": min(contacts) if contacts else None,
            "closed_at": state["occurred_at"] if closed else None,
            "overdue": int(not closed and due < now), "won_back": int(won),
            "updated_at": state["occurred_at"] if state else None,
            "response_id": s["response_id"], "brand": s.get("brand") or "own",
            "kind": s.get("kind") or "transactional", "event_id": s["event_id"],
        })
    return rows


def followups_daily(queue: list[dict]) -> list[dict]:
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for f in queue:
        groups[(f["day"], f["touchpoint"])].append(f)
    rows = []
    for (d, tp), fs in groups.items():
        closed = [f for f in fs if f["state"] == "closed"]
        hours = [micros(f["first_contact_at"] - f["occurred_at"]) / 3.6e9 for f in fs if f["first_contact_at"]]
        in_time = sum(1 for f in closed if f["closed_at"] <= f["due_at"])
        rows.append({
            "day": d, "touchpoint": tp, "raised": len(fs), "contacted": len(hours), "closed": len(closed),
            "resolved": sum(1 for f in closed if f["resolution"] == "resolved"), "closed_in_time": in_time,
            "open": len(fs) - len(closed), "overdue": sum(f["overdue"] for f in fs),
            "recovered": sum(f["won_back"] for f in fs),
            "close_rate": len(closed) / len(fs), "in_time_rate": in_time / len(fs),
            "contact_p50_hours": percentile(hours, 0.5) if hours else None,
        })
    return rows
