"""The simulator produces contract-valid traffic with the patterns the dashboards must show."""

from __future__ import annotations

import collections
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest

from touchpulse.core.events import Rejected, parse_event
from touchpulse.core.touchpoints import load_registry, parse_registry
from touchpulse.simulate import estimate_count, simulate

TZ = "Europe/Moscow"
ZONE = ZoneInfo(TZ)
END = date(2025, 3, 30)  # a Sunday: the 7-day window holds a whole week
REGISTRY = load_registry()


@pytest.fixture(scope="module")
def week():
    """Seven clean days, parsed: [(topic type, raw, Event)]."""
    stream = list(simulate(7, 11, END, REGISTRY, TZ, errors=False))
    return [(etype, raw, parse_event(raw, etype)) for etype, raw in stream]


@pytest.fixture(scope="module")
def messy():
    """Four days: ~0.2 % late arrivals is about 20 messages, enough for the tail check below."""
    return list(simulate(4, 5, END, REGISTRY, TZ, errors=True))


def of(week, etype):
    return [e.values for t, _, e in week if e.type == etype]


def latest(rows, key):
    """Winning version per entity, as the contract defines it."""
    best = {}
    for v in rows:
        cur = best.get(v[key])
        if cur is None or (v["occurred_at"], v["event_id"]) > (cur["occurred_at"], cur["event_id"]):
            best[v[key]] = v
    return best


def test_clean_stream_is_valid_unique_and_in_time_order(week):
    assert all(e.type == etype for etype, _, e in week)
    ids = [e.event_id for _, _, e in week]
    assert len(set(ids)) == len(ids)
    times = [e.values["occurred_at"] for _, _, e in week]
    assert times == sorted(times)
    first, last = times[0].astimezone(ZONE).date(), times[-1].astimezone(ZONE).date()
    assert first == END - timedelta(days=6) and last == END


def test_volume_and_estimate(week):
    per_day = len(week) / 7
    assert 3000 <= per_day <= 5000
    assert abs(estimate_count(7) - len(week)) / len(week) < 0.2
    assert {t for t, _, _ in week} == {"call", "purchase", "review", "survey", "followup_update"}


def test_deterministic_for_same_arguments():
    a = list(simulate(2, 3, END, REGISTRY, TZ))
    assert a == list(simulate(2, 3, END, REGISTRY, TZ))
    assert a != list(simulate(2, 4, END, REGISTRY, TZ))


def test_at_least_twelve_touchpoints_for_every_type_together(week):
    per_type = collections.defaultdict(set)
    for t, _, e in week:
        per_type[t].add(e.values["touchpoint"])
    assert len(set().union(*per_type.values())) >= 12
    assert per_type["survey"] == set(REGISTRY.slugs)
    assert all(len(per_type[t]) >= 5 for t in ("call", "purchase", "review"))


def test_both_utc_and_business_zone_offsets_are_used(week):
    raws = [raw for _, raw, _ in week[:3000]]
    assert any(b'Z"' in r for r in raws)
    assert any(b'+03:00"' in r for r in raws)


def test_calls_follow_business_hours_and_weekdays(week):
    inbound = [c for c in of(week, "call") if c["direction"] == "inbound"]
    hours = collections.Counter(c["queued_at"].astimezone(ZONE).hour for c in inbound)
    assert set(hours) <= set(range(9, 21))
    assert hours.most_common(1)[0][0] in (10, 11, 12)
    days = collections.Counter(c["queued_at"].astimezone(ZONE).date() for c in inbound)
    weekday = [n for d, n in days.items() if d.weekday() < 5]
    weekend = [n for d, n in days.items() if d.weekday() >= 5]
    assert min(weekday) > max(weekend) * 1.2


def test_lunch_hour_dip_in_answered_calls(week):
    inbound = [c for c in of(week, "call") if c["direction"] == "inbound"]

    def unanswered_share(hours):
        calls = [c for c in inbound if c["queued_at"].astimezone(ZONE).hour in hours]
        return sum(c["answered_at"] is None for c in calls) / len(calls)

    def mean_wait(hours):
        waits = [(c["answered_at"] - c["queued_at"]).total_seconds() for c in inbound
                 if c["answered_at"] is not None and c["queued_at"].astimezone(ZONE).hour in hours]
        return sum(waits) / len(waits)

    assert unanswered_share({13}) > 2.5 * unanswered_share({10, 11})
    assert mean_wait({13}) > 3 * mean_wait({10, 11})


def test_outbound_calls_exist_and_are_sometimes_unanswered(week):
    outbound = [c for c in of(week, "call") if c["direction"] == "outbound"]
    assert len(outbound) > 500
    assert 0.1 < sum(c["answered_at"] is None for c in outbound) / len(outbound) < 0.6


def nps(scores):
    return 100 * (sum(s >= 9 for s in scores) - sum(s <= 6 for s in scores)) / len(scores)


def test_touchpoints_have_clearly_different_nps(week):
    by_tp = collections.defaultdict(list)
    for s in of(week, "survey"):
        if s["kind"] == "transactional":
            by_tp[s["touchpoint"]].append(s["score"])
    assert nps(by_tp["field_engineers"]) < 0 and nps(by_tp["billing"]) < 0
    assert nps(by_tp["flagship_store"]) > 40 and nps(by_tp["mobile_app"]) > 40


def test_competitor_benchmark_surveys(week):
    rel = collections.defaultdict(list)
    for s in of(week, "survey"):
        if s["kind"] == "relationship":
            rel[s["brand"]].append(s["score"])
    assert set(rel) == {"own", "rival_mobile", "rival_fixed"}
    assert nps(rel["rival_mobile"]) > nps(rel["rival_fixed"])
    assert all(s["brand"] == "own" for s in of(week, "survey") if s["kind"] == "transactional")


def test_low_scores_carry_comments_and_some_surveys_reference_interactions(week):
    surveys = of(week, "survey")
    low = [s for s in surveys if s["score"] <= 6]
    assert sum(bool(s["comment"]) for s in low) / len(low) > 0.5
    calls = {c["call_id"] for c in of(week, "call")}
    orders = {p["order_id"] for p in of(week, "purchase")}
    refs = [s["interaction_id"] for s in surveys if s["interaction_id"]]
    assert sum(r in calls for r in refs) > 100 and sum(r in orders for r in refs) > 100


def test_reviews_answered_late_or_never(week):
    reviews = of(week, "review")
    won = latest(reviews, "review_id")
    never = [r for r in won.values() if r["replied_at"] is None]
    delays = [(r["replied_at"] - r["posted_at"]).total_seconds() / 3600 for r in won.values()
              if r["replied_at"] is not None]
    assert never and delays
    assert min(delays) < 4 and max(delays) > 72
    # An answered review is sent again under a new event_id.
    versions = collections.Counter(r["review_id"] for r in reviews)
    answered = [rid for rid, r in won.items() if r["replied_at"] is not None]
    assert all(versions[rid] == 2 for rid in answered)
    platforms = collections.defaultdict(list)
    for r in won.values():
        platforms[r["platform"]].append(r["replied_at"] is not None)
    rates = {p: sum(v) / len(v) for p, v in platforms.items() if len(v) > 20}
    assert max(rates.values()) > 0.8 and min(rates.values()) < 0.4


def test_repeat_buyers_and_refunds(week):
    purchases = of(week, "purchase")
    orders = collections.defaultdict(list)
    for p in purchases:
        orders[p["order_id"]].append(p)
    per_customer = collections.Counter(v[0]["customer_id"] for v in orders.values() if v[0]["customer_id"])
    assert sum(n >= 2 for n in per_customer.values()) > 200
    refunded = [v for v in orders.values() if any(p["status"] == "refunded" for p in v)]
    assert refunded
    for versions in refunded:
        done = next(p for p in versions if p["status"] == "completed")
        back = next(p for p in versions if p["status"] == "refunded")
        assert back["occurred_at"] > done["occurred_at"] and back["event_id"] != done["event_id"]


def test_regular_buyers_speed_up_over_time():
    """Some regulars buy more often as weeks go by: their later gaps are much shorter.

    Jitter alone puts ~35 of ~850 regulars past the 0.6 ratio (measured with the
    speed-up switched off); the speeding-up quarter puts ~170 there.
    """
    orders = {}
    for etype, raw in simulate(45, 2, END, REGISTRY, errors=False):
        if etype == "purchase":
            doc = orjson.loads(raw)
            customer = doc.get("customer_id")
            if doc["status"] == "completed" and customer and customer < "cus-003000":  # the regulars
                orders.setdefault(customer, []).append(parse_event(raw).values["occurred_at"])
    shrinking = 0
    for times in orders.values():
        if len(times) >= 6:
            gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:])]
            half = len(gaps) // 2
            shrinking += sum(gaps[half:]) / (len(gaps) - half) < 0.6 * sum(gaps[:half]) / half
    assert shrinking >= 100


def test_messy_stream_has_bad_duplicate_and_late_messages(messy):
    rejected = collections.Counter()
    valid_times = []
    for etype, raw in messy:
        try:
            valid_times.append(parse_event(raw, etype).values["occurred_at"])
        except Rejected as exc:
            rejected[exc.reason] += 1
    total = len(messy)
    assert 0.001 < sum(rejected.values()) / total < 0.008
    reasons = " | ".join(rejected)
    for expected in ("not valid UTF-8 JSON", "is required", "has no UTC offset", "event arrived on the",
                     "must be 0..10, got 11", "'ended_at': is before queued_at"):
        assert expected in reasons
    copies = collections.Counter(raw for _, raw in messy)
    assert 0.002 < sum(n - 1 for n in copies.values()) / total < 0.01
    # Late arrivals: the stream ends with events older than ones already seen.
    tail_start = max(valid_times[: -100])
    assert sum(t < tail_start - timedelta(hours=12) for t in valid_times[-100:]) >= 10


def test_registry_touchpoints_unknown_to_the_profiles_get_traffic():
    doc = {"touchpoints": {slug: {} for slug in REGISTRY.slugs} | {"kiosk": {"name": "Kiosk"}}}
    registry = parse_registry(doc)
    seen = {orjson.loads(raw)["touchpoint"] for _, raw in simulate(1, 1, END, registry, errors=False)}
    assert "kiosk" in seen


def test_nothing_for_zero_days():
    assert list(simulate(0, 1, END, REGISTRY)) == []
    assert estimate_count(0) == 0


def test_the_call_back_team_closes_most_loops_in_time_and_wins_some_customers_back():
    """The simulation's team on 3,000 low answers, read as the views will read it (docs/metrics.md,
    followups_daily): the state is the winning update, in time means closed by the due time."""
    from datetime import datetime, timezone
    from touchpulse.core.followups import followup_id
    from touchpulse.simulate.loop import CallBackTeam
    sent = []
    team = CallBackTeam(7, "tag", lambda tp: {"billing": 24.0}.get(tp, 48.0),
                        lambda t, etype, doc: sent.append((etype, parse_event(orjson.dumps(doc), etype).values)))
    start = datetime(2025, 3, 1, tzinfo=timezone.utc).timestamp()
    answers = {}
    for i in range(3000):
        a = {"event_id": f"e{i}", "touchpoint": ("billing", "shop")[i % 2], "score": i % 11,
             "customer_id": f"c{i}" if i % 5 else None, "brand": "own"}
        team.answered(start + 60 * i, a)
        answers[followup_id(a["event_id"])] = (a, datetime.fromtimestamp(start + 60 * i, timezone.utc))
    updates = collections.defaultdict(list)
    for etype, v in sent:
        if etype == "followup_update":
            updates[v["followup_id"]].append(v)
    raised = {f: x for f, x in answers.items() if x[0]["score"] < 8}
    assert set(updates) <= set(raised) and len(raised) > 2000  # only follow-ups that exist get updates
    plans, won = collections.Counter(), 0
    for fid, (a, at) in raised.items():
        ups = updates.get(fid, [])
        due = at + timedelta(hours=24 if a["touchpoint"] == "billing" else 48)
        assert all(u["touchpoint"] == a["touchpoint"] and u["occurred_at"] > at for u in ups)
        state = max(ups, key=lambda u: (u["occurred_at"], u["event_id"])) if ups else None
        if state is None:
            plans["never"] += 1
        elif state["status"] != "closed":
            plans["open"] += 1
        elif state["resolution"] == "unreachable":
            plans["unreachable"] += 1
        else:
            plans["in time" if state["occurred_at"] <= due else "late"] += 1
            won += any(etype == "survey" and v["customer_id"] == a["customer_id"] and v["score"] >= 9
                       and state["occurred_at"] < v["occurred_at"] <= state["occurred_at"] + timedelta(days=30)
                       for etype, v in sent)
    n = len(raised)
    assert 0.55 < plans["in time"] / n < 0.75 and 0.07 < plans["late"] / n < 0.2, plans
    assert 0.05 < plans["never"] / n < 0.15 and 0.02 < plans["unreachable"] / n < 0.08 and plans["open"] > 0, plans
    assert 0.1 < won / (plans["in time"] + plans["late"]) < 0.4  # some detractors answer 9-10 after the call back
