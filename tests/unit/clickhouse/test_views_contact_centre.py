"""The contact centre's extra views on hand-built calls: call-backs by the hour the caller was
missed (where the lunch gap shows), and first-contact resolution only for days whose repeat
window has closed."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.oracle.warehouse import Warehouse
from touchpulse.core.touchpoints import load_registry, parse_registry

_n = itertools.count()


@pytest.fixture
def warehouse(chdb_client):
    def make(tz: str = "UTC", registry=None) -> Warehouse:
        return Warehouse(chdb_client, f"cc_{uuid.uuid4().hex[:12]}", tz, registry)
    return make


def iso(t: datetime) -> str:
    return t.isoformat()


def call(queued: datetime, answered_after: float | None, ended_after: float, *, tp: str = "call_centre",
         customer: str | None = "ann", direction: str = "inbound") -> tuple[str, bytes, None]:
    """A call queued at `queued`, answered and ended so many seconds later (None: never answered)."""
    doc = {"event_id": f"e{next(_n)}", "type": "call", "version": 1, "touchpoint": tp, "call_id": f"c{next(_n)}",
           "direction": direction, "queued_at": iso(queued), "ended_at": iso(queued + timedelta(seconds=ended_after)),
           "occurred_at": iso(queued + timedelta(seconds=ended_after))}
    if answered_after is not None:
        doc["answered_at"] = iso(queued + timedelta(seconds=answered_after))
        doc["agent_id"] = "a1"
    if customer:
        doc["customer_id"] = customer
    return ("calls", json.dumps(doc).encode(), None)


def test_call_backs_by_the_hour_the_caller_was_missed(warehouse):
    wh = warehouse("Europe/Moscow")
    msk = timezone(timedelta(hours=3))
    day = date(2024, 5, 10)

    def local(h: int, m: int) -> datetime:
        return datetime(day.year, day.month, day.day, h, m, tzinfo=msk)

    def back(after: datetime, minutes: float, customer: str):
        return call(after + timedelta(minutes=minutes), 10, 60, customer=customer, direction="outbound")

    wh.send([
        call(local(12, 30), None, 60, customer="ann"), back(local(12, 31), 20, "ann"),    # back in 20 min
        call(local(13, 10), None, 60, customer="bob"), back(local(13, 11), 75, "bob"),    # back too late
        call(local(13, 20), None, 90, customer="cat"),                                    # never back
        call(local(13, 30), None, 3, customer="dan"),                                     # short abandon
        call(local(13, 40), None, 60, customer=None),                                     # anonymous
        call(local(13, 50), 10, 200, customer="eve"),                                     # answered
        call(local(23, 50), None, 30, customer="fay"),                                    # 20:50 UTC: still the 10th
    ])
    got = {(r["day"], r["hour"], r["touchpoint"]): (r["missed_identified"], r["called_back"], r["callback_rate"])
           for r in wh.view("callbacks_hourly")}
    assert got == {(day, 12, "call_centre"): (1, 1, 1.0), (day, 13, "call_centre"): (2, 0, 0.0),
                   (day, 23, "call_centre"): (1, 0, 0.0)}
    daily = wh.view("calls_resolution_daily")[0]  # the hours add up to the contract view's day
    assert (daily["missed_identified"], daily["called_back"]) == (4, 1)

    # The window is a target, applied when read: 90 minutes makes bob's call-back count.
    doc = {"defaults": {"callback_minutes": 90}, "touchpoints": {"call_centre": {}}}
    wh.retarget(parse_registry(doc))
    got = {r["hour"]: (r["missed_identified"], r["called_back"]) for r in wh.view("callbacks_hourly")}
    assert got == {12: (1, 1), 13: (2, 1), 23: (1, 0)}


def test_resolution_is_settled_only_once_the_repeat_window_has_closed(warehouse):
    registry = load_registry()
    assert registry.targets("call_centre").repeat_window_hours == 72
    assert registry.targets("tech_support").repeat_window_hours == 168
    wh = warehouse(registry=registry)
    now = datetime.now(timezone.utc)
    old = datetime(2024, 5, 10, 9, tzinfo=timezone.utc)
    five_days = (now - timedelta(days=5)).replace(hour=10, minute=0, second=0, microsecond=0)
    wh.send([
        call(old, 5, 300, customer="ann"), call(old + timedelta(days=1), 5, 300, customer="ann"),  # a repeat
        call(old, 5, 300, customer="bob"),
        call(five_days, 5, 300, customer="cat"),                       # 72 h window: closed
        call(five_days, 5, 300, tp="tech_support", customer="dan"),    # 168 h window: still open
        call(now - timedelta(minutes=10), 5, 60, customer="eve"),      # today: open
    ])
    settled = {(r["day"], r["touchpoint"]): (r["answered_identified"], r["repeat_contacts"], r["fcr_rate"],
                                             r["repeat_window_hours"]) for r in wh.view("fcr_settled")}
    assert settled == {(old.date(), "call_centre"): (2, 1, 0.5, 72.0),
                       (old.date() + timedelta(days=1), "call_centre"): (1, 0, 1.0, 72.0),
                       (five_days.date(), "call_centre"): (1, 0, 1.0, 72.0)}
    everything = {(r["day"], r["touchpoint"]) for r in wh.view("calls_resolution_daily")}
    assert everything - set(settled) == {(five_days.date(), "tech_support"), ((now - timedelta(minutes=10)).date(),
                                                                              "call_centre")}
    # The agents panel's rows (dashboard view agent_calls) flag the same days as settled.
    agents = {(r["day"], r["touchpoint"]): r["settled"] for r in wh.view("agent_calls") if r["identified"]}
    assert set(agents) == everything and agents == {k: int(k in settled) for k in agents}


def test_the_demo_line_reads_the_lunch_gap_from_the_view(warehouse):
    from touchpulse.demo import callback_gap_line
    from touchpulse.simulate.profiles import LUNCH_HOURS

    assert LUNCH_HOURS == (13,)
    wh = warehouse()
    day = date(2024, 5, 10)

    def at(h: int, m: int) -> datetime:
        return datetime(day.year, day.month, day.day, h, m, tzinfo=timezone.utc)

    calls = []
    for i, (h, back_after) in enumerate([(10, 10), (11, 30), (15, 50), (16, None), (13, 80), (13, None), (13, 20)]):
        calls.append(call(at(h, 5), None, 60, customer=f"k{i}"))
        if back_after is not None:
            calls.append(call(at(h, 6) + timedelta(minutes=back_after), 5, 60, customer=f"k{i}", direction="outbound"))
    calls.append(call(at(10, 0) - timedelta(days=3), None, 60, customer="old"))  # outside the last 2 days
    wh.send(calls)
    line = callback_gap_line(wh.client, wh.database, day, 2, load_registry())
    assert line == "Missed callers called back within 60 min: 75 % outside lunch, 33 % at lunch (13-14h), last 2 days\n"
