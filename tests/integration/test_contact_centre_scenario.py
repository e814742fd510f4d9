"""One contact-centre day told as a story, sent by a plain kafka-python producer through the
real broker and worker, and every number of the contact-centre views worked out by hand.

The story is built for the contract's edges: a repeat call exactly at the end of the repeat
window (counts) and one a microsecond later (does not), a call back exactly at the end of the
call-back window (counts) and one a microsecond later (does not), a call queued while the
previous one was still going, a version that hands a call to another customer and one that
takes its answer away, outbound calls and anonymous callers. The registry is the user's own:
call_centre has a 30-minute call-back window and divides service level by answered calls.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

pytestmark = pytest.mark.integration

REGISTRY = """
[defaults]
sla_answer_seconds = 20
short_abandon_seconds = 5
review_reply_hours = 24

[touchpoints.call_centre]
name = "Call centre"
callback_minutes = 30
service_level_base = "answered"

[touchpoints.business_line]
name = "Business line"
"""

DAY = datetime(2026, 11, 10, tzinfo=timezone.utc)
_n = 0


def t(hh: int, mm: int, ss: float = 0, days: int = 0, us: int = 0) -> datetime:
    return DAY + timedelta(days=days, hours=hh, minutes=mm, seconds=ss, microseconds=us)


def iso(x: datetime) -> str:
    return x.isoformat().replace("+00:00", "Z")


def call(call_id: str, queued: datetime, ended: datetime, *, answered: datetime | None = None,
         customer: str | None = None, agent: str | None = None, tp: str = "call_centre",
         outbound: bool = False, occurred: datetime | None = None, **extra) -> tuple[str, bytes, bytes]:
    global _n
    _n += 1
    doc = {"event_id": f"story-{_n}", "type": "call", "version": 1, "occurred_at": iso(occurred or ended),
           "touchpoint": tp, "call_id": call_id, "queued_at": iso(queued), "ended_at": iso(ended), **extra}
    if answered:
        doc["answered_at"] = iso(answered)
    if customer:
        doc["customer_id"] = customer
    if agent:
        doc["agent_id"] = agent
    if outbound:
        doc["direction"] = "outbound"
    return ("calls", json.dumps(doc).encode(), call_id.encode())


def story() -> list[tuple[str, bytes, bytes]]:
    a1 = call("A1", t(9, 0), t(9, 5), answered=t(9, 0, 10), customer="anna", agent="ag1")
    d1_end = t(13, 10)
    return [
        a1, a1,  # re-sent: counts once
        # anna calls again exactly 72 h after A1 ended, at another touchpoint: A1 was not resolved
        call("A2", t(9, 5, days=3), t(9, 10, days=3), answered=t(9, 5, 30, days=3), customer="anna", agent="ag3",
             tp="business_line"),
        # bo is missed at lunch and called back exactly 30 minutes after hanging up (counts)
        call("B1", t(12, 10), t(12, 12), customer="bo"),
        call("B2", t(12, 42), t(12, 50), answered=t(12, 42, 5), customer="bo", agent="ag3", outbound=True),
        # cyd is missed and called back one microsecond too late
        call("C1", t(12, 20), t(12, 21), customer="cyd"),
        call("C2", t(12, 51, us=1), t(12, 55), customer="cyd", outbound=True),
        # dan: a call queued while D1 was still going is not a later call; the next one comes
        # a microsecond after the 72 h window
        call("D1", t(13, 0), d1_end, answered=t(13, 0, 30), customer="dan", agent="ag1", hold_seconds=20,
             wrap_seconds=40),
        call("D3", t(13, 9), t(13, 9, 3), customer="dan"),  # a short abandon
        call("D2", d1_end + timedelta(hours=72, microseconds=1), t(13, 15, 20, days=3),
             answered=t(13, 10, 20, days=3), customer="dan", agent="ag2"),
        # an anonymous caller: in the agent's numbers, not in resolution
        call("E1", t(14, 0), t(14, 3), answered=t(14, 0, 5), agent="ag2"),
        # fay is missed on the business line and nobody calls her back
        call("F1", t(15, 0), t(15, 0, 40), customer="fay", tp="business_line"),
        # G1 was gail's call until a later version gave it to gus; gail's G2 is then no repeat
        call("G1", t(16, 0), t(16, 10), answered=t(16, 0, 5), customer="gus", agent="ag2", occurred=t(16, 20)),
        call("G1", t(16, 0), t(16, 10), answered=t(16, 0, 5), customer="gail", agent="ag2"),
        call("G2", t(16, 30), t(16, 35), answered=t(16, 30, 20), customer="gail", agent="ag1"),
        # H1 was first sent as answered; the later version says nobody answered, and hal is
        # called back 15 minutes after hanging up
        call("H1", t(17, 0), t(17, 5), customer="hal", occurred=t(17, 30)),
        call("H1", t(17, 0), t(17, 5), answered=t(17, 0, 10), customer="hal", agent="ag1"),
        call("H2", t(17, 20), t(17, 22), answered=t(17, 20, 3), customer="hal", agent="ag3", outbound=True),
    ]


def by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys): r for r in rows}


def test_a_contact_centre_day_from_a_third_party_producer(pipeline, tmp_path):
    registry = tmp_path / "touchpoints.toml"
    registry.write_text(REGISTRY)
    pipeline.env.update(TOUCHPULSE_TOUCHPOINTS=str(registry), TOUCHPULSE_TIMEZONE="UTC")
    pipeline.up()
    pipeline.produce(story())
    pipeline.drain()
    d0, d3 = date(2026, 11, 10).isoformat(), date(2026, 11, 13).isoformat()

    res = by(pipeline.query("calls_resolution_daily"), "day", "touchpoint")
    assert set(res) == {(d0, "call_centre"), (d0, "business_line"), (d3, "business_line"), (d3, "call_centre")}
    cc = res[(d0, "call_centre")]
    # answered: A1 (repeated by A2), D1, G1 (gus), G2; missed: B1 (back at 30.0 min), C1, H1 (back at 15 min)
    assert (cc["answered_identified"], cc["repeat_contacts"], cc["fcr_rate"]) == (4, 1, 0.75)
    assert (cc["missed_identified"], cc["called_back"]) == (3, 2)
    assert cc["callback_rate"] == pytest.approx(2 / 3)
    assert cc["callback_p50_minutes"] == pytest.approx(22.5, rel=0.02)
    bl = res[(d0, "business_line")]
    assert (bl["answered_identified"], bl["fcr_rate"], bl["missed_identified"], bl["called_back"],
            bl["callback_rate"], bl["callback_p50_minutes"]) == (0, None, 1, 0, 0.0, None)
    for key in [(d3, "business_line"), (d3, "call_centre")]:  # A2 and D2: answered, nobody called again
        r = res[key]
        assert (r["answered_identified"], r["repeat_contacts"], r["fcr_rate"], r["missed_identified"],
                r["callback_rate"]) == (1, 0, 1.0, 0, None)

    agents = by(pipeline.query("agents_daily"), "day", "touchpoint", "agent_id")
    assert set(agents) == {(d0, "call_centre", "ag1"), (d0, "call_centre", "ag2"), (d3, "business_line", "ag3"),
                           (d3, "call_centre", "ag2")}  # ag3's outbound calls on day 0 are not agent work here
    ag1 = agents[(d0, "call_centre", "ag1")]  # A1 290 s, D1 570 + 20 + 40 s, G2 280 s
    assert (ag1["answered"], ag1["identified"], ag1["repeat_contacts"]) == (3, 3, 1)
    assert ag1["aht_seconds"] == pytest.approx(400.0)
    assert ag1["fcr_rate"] == pytest.approx(2 / 3)
    ag2 = agents[(d0, "call_centre", "ag2")]  # E1 175 s (anonymous), G1 595 s
    assert (ag2["answered"], ag2["identified"], ag2["repeat_contacts"], ag2["fcr_rate"]) == (2, 1, 0, 1.0)
    assert ag2["aht_seconds"] == pytest.approx(385.0)
    assert agents[(d3, "business_line", "ag3")]["aht_seconds"] == pytest.approx(270.0)

    duty = pipeline.query("missed_not_called_back")
    assert sorted((r["touchpoint"], r["customer_id"], r["waited_seconds"]) for r in duty) == [
        ("business_line", "fay", 40.0), ("call_centre", "cyd", 60.0)]
    late = {r["customer_id"]: r["called_back_after_minutes"] for r in duty}
    assert late["fay"] is None and late["cyd"] == pytest.approx(30 + 1 / 60e6)

    calls = by(pipeline.query("calls_daily"), "day", "touchpoint")
    cd = calls[(d0, "call_centre")]  # outbound B2, C2, H2 are not offered calls
    assert (cd["offered"], cd["answered"], cd["short_abandoned"], cd["answered_in_sla"]) == (9, 5, 1, 4)
    assert cd["service_level"] == pytest.approx(4 / 5)  # this touchpoint divides by answered calls
    assert cd["abandon_rate"] == pytest.approx(3 / 8)
    assert calls[(d0, "business_line")]["service_level"] == 0.0  # the default base: offered less short
    noon = by(pipeline.query("calls_hourly"), "day", "hour", "touchpoint")[(d0, 12, "call_centre")]
    assert (noon["offered"], noon["answered"], noon["unanswered"]) == (2, 0, 2)
