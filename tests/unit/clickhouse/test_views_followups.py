"""The closed loop on hand-worked cases, through the worker's own path into chDB: every number of
followups_daily and every column of followup_queue worked out from docs/metrics.md, including a
changed target re-stating history and the demo's closing line. The generated adversarial streams
are in test_views_match_oracle.py."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

from tests.oracle.warehouse import Warehouse
from touchpulse.core.followups import followup_id
from touchpulse.core.touchpoints import parse_registry

_n = itertools.count()
DAY = datetime(2024, 5, 10, 9, 0, tzinfo=timezone.utc)
US = timedelta(microseconds=1)
TOPIC = {"survey": "surveys", "followup_update": "followup_updates"}


@pytest.fixture
def wh(chdb_client):
    return Warehouse(chdb_client, f"f_{uuid.uuid4().hex[:12]}", "UTC")


def iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def answer(score: int, at: datetime, customer: str | None = "ann", tp: str = "call_centre", **kw) -> dict:
    doc = {"event_id": f"s{next(_n)}", "type": "survey", "version": 1, "occurred_at": iso(at), "touchpoint": tp,
           "response_id": kw.pop("rid", f"r{next(_n)}"), "score": score, **kw}
    if customer:
        doc["customer_id"] = customer
    return doc


def update(of: dict, status: str, at: datetime, **kw) -> dict:
    return {"event_id": kw.pop("event_id", f"u{next(_n)}"), "type": "followup_update", "version": 1,
            "occurred_at": iso(at), "touchpoint": of["touchpoint"], "followup_id": followup_id(of["event_id"]),
            "status": status, **kw}


def send(wh: Warehouse, *docs: dict) -> None:
    wh.send([(TOPIC[d["type"]], json.dumps(d).encode(), None) for d in docs])


def test_a_day_of_follow_ups_worked_by_hand(wh):
    due = timedelta(hours=48)  # call_centre's followup_hours in the bundled registry (the default)
    a, b, c, d, e = (answer(s, DAY + timedelta(minutes=i), customer=f"k{i}") for i, s in enumerate([2, 5, 7, 0, 3]))
    early = update(a, "contacted", DAY + timedelta(hours=2), owner="anna")  # before its follow-up exists
    send(wh, early)
    send(wh, a, b, c, d, e, answer(9, DAY, customer="k9"))  # a 9 raises nothing
    send(wh,
         update(a, "closed", DAY + due, note="refund agreed"),         # exactly at due: in time
         update(b, "closed", DAY + timedelta(minutes=1) + due + US, resolution="unresolved"),  # 1 µs late
         update(c, "closed", DAY + timedelta(hours=1), resolution="unreachable"),  # closed, never reached
         update(d, "closed", DAY + timedelta(hours=1)),
         update(d, "assigned", DAY + timedelta(hours=3), owner="boris"),  # re-opened
         early)  # a duplicate changes nothing
    send(wh, answer(10, DAY + due + timedelta(days=3), customer="k0"),   # a's customer, won back
         answer(10, DAY + timedelta(hours=1), customer="k2"),             # c closed at that very moment: not later
         answer(9, DAY + timedelta(hours=1, days=30), customer="k3", tp="website"))  # another touchpoint
    [row] = wh.view("followups_daily")
    assert row == {"day": date(2024, 5, 10), "touchpoint": "call_centre", "raised": 5, "contacted": 3, "closed": 3,
                   "resolved": 1, "closed_in_time": 2, "open": 2, "overdue": 2, "recovered": 1,
                   "close_rate": 0.6, "in_time_rate": 0.4,
                   "contact_p50_hours": pytest.approx(2.0)}  # first contacts: a 2 h, b 48 h + 1 µs, d 1 h
    queue = {r["followup_id"]: r for r in wh.view("followup_queue")}
    qa, qc, qd, qe = (queue[followup_id(x["event_id"])] for x in (a, c, d, e))
    assert (qa["state"], qa["resolution"], qa["owner"], qa["note"], qa["won_back"], qa["overdue"]) == (
        "closed", "resolved", "", "refund agreed", 1, 0)
    assert qa["first_contact_at"].replace(tzinfo=timezone.utc) == DAY + timedelta(hours=2)
    assert (qc["state"], qc["resolution"], qc["first_contact_at"], qc["won_back"]) == ("closed", "unreachable", None, 0)
    assert (qd["state"], qd["resolution"], qd["owner"], qd["closed_at"], qd["overdue"]) == (
        "assigned", None, "boris", None, 1)
    assert (qe["state"], qe["owner"], qe["updated_at"], qe["score"], qe["customer_id"]) == ("new", "", None, 3, "k4")
    assert qe["due_at"].replace(tzinfo=timezone.utc) == DAY + timedelta(minutes=4) + due

    # A longer target re-states history: b's late closing is now in time.
    wh.retarget(parse_registry({"touchpoints": {"call_centre": {"name": "Call centre", "followup_hours": 49}}}))
    [row] = wh.view("followups_daily")
    assert (row["closed_in_time"], row["in_time_rate"]) == (3, 0.6)

    from touchpulse.demo import loop_line
    assert loop_line(wh.client, wh.database, date(2024, 5, 10)) == (
        "closed loop: 5 follow-ups raised, 3 (60 %) closed in time, 2 overdue now, 1 customers won back "
        "(answered 9-10 after the call back)\n")
    assert loop_line(wh.client, wh.database, date(2024, 5, 9)) == "closed loop: no follow-ups raised\n"


def test_an_update_for_an_id_never_raised_counts_nowhere_and_a_later_answer_version_wins_back(wh):
    a = answer(4, DAY, customer="zoe")
    ghost = {**update(a, "closed", DAY), "followup_id": "not-raised-here"}
    send(wh, a, ghost, update(a, "closed", DAY + timedelta(hours=1)))
    # zoe's answer 30 days after the closing, first sent as an 8, then corrected to a 10
    rid = "again"
    send(wh, answer(8, DAY + timedelta(hours=1, days=30), customer="zoe", rid=rid))
    assert wh.view("followups_daily")[0]["recovered"] == 0
    send(wh, answer(10, DAY + timedelta(hours=1, days=30), customer="zoe", rid=rid))
    [row] = wh.view("followups_daily")
    assert (row["raised"], row["closed"], row["recovered"]) == (1, 1, 1)  # exactly 30 days after: within
    assert [r["followup_id"] for r in wh.view("followup_queue")] == [followup_id(a["event_id"])]


def test_followups_open_counts_open_and_overdue_now_as_followups_daily_does(wh):
    """The narrow view the "now" panels read: per touchpoint's followup_hours (listed, default, or a
    touchpoint the registry does not know), re-stated by a changed target, equal to followups_daily."""
    raised = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=30)
    open_cc, closed_cc = answer(3, raised, customer="o1"), answer(2, raised, customer="o2")
    web, kiosk = answer(4, raised, customer="o3", tp="website"), answer(1, raised, customer="o4", tp="kiosk")
    send(wh, open_cc, closed_cc, web, kiosk)
    send(wh, update(closed_cc, "closed", raised + timedelta(hours=1)))
    wh.retarget(parse_registry({"touchpoints": {"website": {"name": "Website", "followup_hours": 24}}}))

    def now_rows(view: str) -> dict[str, tuple[int, int]]:
        return {r["touchpoint"]: (r["open"], r["overdue"]) for r in wh.view(view) if r["open"] > 0}

    # 30 hours after raising: past website's 24, within the default 48 elsewhere.
    assert now_rows("followups_open") == {"call_centre": (1, 0), "website": (1, 1), "kiosk": (1, 0)}
    assert now_rows("followups_open") == now_rows("followups_daily")
    wh.retarget(parse_registry({"touchpoints": {"website": {"name": "Website", "followup_hours": 24},
                                                "call_centre": {"name": "Call centre", "followup_hours": 29.5}}}))
    assert now_rows("followups_open") == {"call_centre": (1, 1), "website": (1, 1), "kiosk": (1, 0)}
    assert now_rows("followups_open") == now_rows("followups_daily")
    send(wh, update(web, "closed", raised + timedelta(hours=25)))
    assert now_rows("followups_open") == {"call_centre": (1, 1), "kiosk": (1, 0)} == now_rows("followups_daily")
