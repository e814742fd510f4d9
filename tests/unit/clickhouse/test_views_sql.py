"""The metric views on real chDB, one boundary of the contract per test.

Facts go in through the worker's own path (process_batch + FactWriter) with Kafka positions
chosen by the test; every expected number is worked out by hand in the test from the rules
in docs/metrics.md.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.oracle.warehouse import Warehouse
from touchpulse.clickhouse.schema import CONTRACT_VIEWS, EXTRA_VIEWS
from touchpulse.core.touchpoints import load_registry, parse_registry

UTC = timezone.utc
ALL_VIEWS = CONTRACT_VIEWS + EXTRA_VIEWS


@pytest.fixture
def warehouse(chdb_client):
    """A factory: a fresh database in the session chDB for the business zone given."""
    def make(tz: str = "UTC", registry=None) -> Warehouse:
        return Warehouse(chdb_client, f"v_{uuid.uuid4().hex[:12]}", tz, registry)
    return make


_n = itertools.count()


def event(etype: str, occurred_at: str = "2024-05-10T12:00:00Z", tp: str = "call_centre", **body) -> dict:
    return {"event_id": body.pop("event_id", f"e{next(_n)}"), "type": etype, "version": 1,
            "occurred_at": occurred_at, "touchpoint": tp, **body}


def survey(score: int, at: str = "2024-05-10T12:00:00Z", rid: str | None = None, **kw) -> dict:
    return event("survey", at, response_id=rid or f"r{next(_n)}", score=score, **kw)


def call(queued: str, answered: str | None, ended: str, tp: str = "call_centre", cid: str | None = None,
         **kw) -> dict:
    occurred = kw.pop("occurred_at", ended)
    body = {"call_id": cid or f"c{next(_n)}", "queued_at": queued, "ended_at": ended, **kw}
    if answered is not None:
        body["answered_at"] = answered
    return event("call", occurred, tp, **body)


def order(amount, at: str = "2024-05-10T12:00:00Z", oid: str | None = None, tp: str = "retail_store",
          currency: str = "EUR", **kw) -> dict:
    return event("purchase", at, tp, order_id=oid or f"o{next(_n)}", amount=amount, currency=currency, **kw)


def review(posted: str, replied: str | None, tp: str = "call_centre", **kw) -> dict:
    occurred = kw.pop("occurred_at", replied or posted)
    body = {"review_id": kw.pop("rid", f"v{next(_n)}"), "platform": "google_maps", "rating": kw.pop("rating", 4),
            "posted_at": posted, **kw}
    if replied is not None:
        body["replied_at"] = replied
    return event("review", occurred, tp, **body)


TOPIC = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
         "followup_update": "followup_updates"}


def records(*docs: dict) -> list[tuple[str, bytes, bytes]]:
    return [(TOPIC[d["type"]], json.dumps(d).encode(), None) for d in docs]


def rows_by(rows: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows}


def at(base: str, seconds: float) -> str:
    t = datetime.fromisoformat(base.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


Q = "2024-05-10T09:00:00Z"


def test_waits_exactly_at_the_target_are_in_service_level_one_microsecond_over_are_not(warehouse):
    wh = warehouse()
    waits = {"call_centre": [20, 20.000001, 19.999999, 0],          # registry: 20 s
             "business_line": [15, 15.000001, 3],                   # registry: 15 s
             "kiosk_pilot": [20, 20.000001]}                        # not registered: default 20 s
    wh.send(records(*[call(Q, at(Q, w), at(Q, 300), tp=tp) for tp, ws in waits.items() for w in ws]))
    daily = rows_by(wh.view("calls_daily"), "touchpoint")
    assert {tp: r["answered_in_sla"] for tp, r in daily.items()} == {
        "call_centre": 3, "business_line": 2, "kiosk_pilot": 1}
    assert daily["call_centre"]["service_level"] == pytest.approx(3 / 4, rel=1e-12)
    assert daily["call_centre"]["asa_seconds"] == pytest.approx((20 + 20.000001 + 19.999999) / 4, rel=1e-12)
    # p90 of [0, 19.999999, 20, 20.000001] by linear interpolation: 20 + 0.7 * 0.000001
    assert daily["call_centre"]["wait_p90_seconds"] == pytest.approx(20.0000007, rel=1e-9)
    assert daily["call_centre"]["aht_seconds"] == pytest.approx((280 + 279.999999 + 280.000001 + 300) / 4, rel=1e-12)


def test_replies_exactly_at_the_target_hours_are_in_time(warehouse):
    wh = warehouse()
    p = "2024-05-10T08:00:00Z"
    wh.send(records(review(p, at(p, 24 * 3600)), review(p, at(p, 24 * 3600 + 0.000001)), review(p, None),
                    review(p, at(p, 12 * 3600), tp="business_line"),             # registry: 12 h
                    review(p, at(p, 12 * 3600 + 0.000001), tp="business_line")))
    daily = rows_by(wh.view("reviews_daily"), "touchpoint")
    cc = daily["call_centre"]
    assert (cc["reviews"], cc["replied"], cc["replied_in_sla"]) == (3, 2, 1)
    assert cc["reply_rate"] == pytest.approx(2 / 3)
    assert cc["reply_p50_hours"] == pytest.approx(24 + 0.5e-6 / 3600, rel=1e-12)
    assert daily["business_line"]["replied_in_sla"] == 1


def test_a_caller_who_hangs_up_exactly_at_the_threshold_is_not_a_short_abandon(warehouse):
    wh = warehouse()
    durations = {"call_centre": [5, 4.999999, 0, 30],      # registry: short under 5 s
                 "tech_support": [10, 9.999999]}           # registry: short under 10 s
    wh.send(records(*[call(Q, None, at(Q, d), tp=tp) for tp, ds in durations.items() for d in ds],
                    call(Q, at(Q, 10), at(Q, 60), tp="call_centre")))
    daily = rows_by(wh.view("calls_daily"), "touchpoint")
    cc, ts = daily["call_centre"], daily["tech_support"]
    assert (cc["offered"], cc["answered"], cc["abandoned"], cc["short_abandoned"]) == (5, 1, 4, 2)
    assert cc["abandon_rate"] == pytest.approx((4 - 2) / (5 - 2))
    assert cc["service_level"] == pytest.approx(1 / 3)
    assert (ts["short_abandoned"], ts["abandon_rate"], ts["service_level"]) == (1, 1.0, 0.0)


def test_ratios_over_nothing_are_null_not_zero_or_nan(warehouse):
    wh = warehouse()
    wh.send(records(call(Q, None, at(Q, 1)), call(Q, None, at(Q, 2)),      # only short abandons
                    call(Q, None, at(Q, 60), tp="business_line"),           # unanswered, not short
                    review("2024-05-10T08:00:00Z", None)))
    daily = rows_by(wh.view("calls_daily"), "touchpoint")
    for column in ("service_level", "abandon_rate", "asa_seconds", "wait_p90_seconds", "aht_seconds"):
        assert daily["call_centre"][column] is None, column
    bl = daily["business_line"]
    assert (bl["service_level"], bl["abandon_rate"], bl["asa_seconds"], bl["aht_seconds"]) == (0.0, 1.0, None, None)
    (rv,) = wh.view("reviews_daily")
    assert rv["reply_rate"] == 0.0 and rv["reply_p50_hours"] is None and rv["avg_rating"] == 4.0


def test_days_and_hours_are_those_of_the_business_zone_whatever_the_offset_written(warehouse):
    moscow, utc = warehouse("Europe/Moscow"), warehouse("UTC")
    # (timestamp as written, its Moscow day and hour, its UTC day)
    cases = [
        ("2024-03-10T23:59:59.999999+03:00", date(2024, 3, 10), 23, date(2024, 3, 10)),
        ("2024-03-10T20:59:59.999999Z", date(2024, 3, 10), 23, date(2024, 3, 10)),
        ("2024-03-10T15:59:59.999999999-05:00", date(2024, 3, 10), 23, date(2024, 3, 10)),  # ns truncated
        ("2024-03-10T21:00:00Z", date(2024, 3, 11), 0, date(2024, 3, 10)),
        ("2024-03-11T02:30:00+05:30", date(2024, 3, 11), 0, date(2024, 3, 10)),
        ("2024-03-10T16:00:00-05:00", date(2024, 3, 11), 0, date(2024, 3, 10)),
        ("2024-03-11T00:00:00+03:00", date(2024, 3, 11), 0, date(2024, 3, 10)),
        ("2024-03-11T00:30:00+00:00", date(2024, 3, 11), 3, date(2024, 3, 11)),
    ]
    docs = []
    for ts, _, _, _ in cases:
        docs += [survey(9, ts), order("1.5", ts),
                 call(ts, None, at(ts, 60), occurred_at="2024-03-20T00:00:00Z"),  # day of queued_at, not occurred_at
                 review(ts, None, occurred_at="2024-03-20T00:00:00Z")]             # day of posted_at
    for wh in (moscow, utc):
        wh.send(records(*docs))

    def count_by_day(days):
        out: dict = {}
        for d in days:
            out[d] = out.get(d, 0) + 1
        return out

    for wh, day_of in ((moscow, lambda c: c[1]), (utc, lambda c: c[3])):
        want = count_by_day(day_of(c) for c in cases)
        assert {r["day"]: r["responses"] for r in wh.view("nps_daily")} == want
        assert {r["day"]: r["orders"] for r in wh.view("purchases_daily")} == want
        assert {r["day"]: r["offered"] for r in wh.view("calls_daily")} == want
        assert {r["day"]: r["reviews"] for r in wh.view("reviews_daily")} == want
    hours = count_by_day((c[1], c[2]) for c in cases)
    assert {(r["day"], r["hour"]): r["offered"] for r in moscow.view("calls_hourly")} == hours


def test_days_before_1970_are_not_wrapped_around(warehouse):
    wh = warehouse("Europe/Moscow")
    wh.send(records(survey(10, "1965-06-30T21:30:00Z"), order(3, "1965-06-30T20:59:59Z")))
    assert [r["day"] for r in wh.view("nps_daily")] == [date(1965, 7, 1)]
    assert [r["day"] for r in wh.view("purchases_daily")] == [date(1965, 6, 30)]
    assert [r["month"] for r in wh.view("loyalty_monthly")] == [] and wh.view("purchases_daily")[0]["customers"] == 0


@pytest.mark.parametrize("order_of_arrival", list(itertools.permutations(range(3))))
def test_the_latest_occurred_at_wins_whatever_the_arrival_order_ties_to_the_greater_event_id(
        warehouse, order_of_arrival):
    wh = warehouse()
    versions = [
        survey(10, "2024-05-09T12:00:00Z", rid="r1", event_id="e-99", tp="website"),  # oldest: loses
        survey(0, "2024-05-10T12:00:00Z", rid="r1", event_id="e-10", tp="call_centre"),
        survey(7, "2024-05-10T12:00:00Z", rid="r1", event_id="e-9", tp="call_centre"),  # tie: "e-9" > "e-10"
    ]
    wh.send(records(*[versions[i] for i in order_of_arrival]))
    (row,) = wh.view("nps_daily")
    assert (row["day"], row["touchpoint"], row["responses"], row["passives"]) == (date(2024, 5, 10), "call_centre", 1, 1)
    (latest,) = wh.view("surveys_latest")
    assert (latest["event_id"], latest["score"]) == ("e-9", 7)


def test_ties_on_occurred_at_go_to_the_greater_event_id_for_every_entity(warehouse):
    wh = warehouse()
    docs = []
    for i in range(40):
        ids = sorted([f"{i}-x{i * 7 % 13}", f"{i}-y{i * 5 % 11}", f"{i}-{i * 3 % 17}"])
        for k, event_id in enumerate(ids):  # only the greatest event_id is a promoter
            docs.append(survey(10 if k == 2 else k * 3, "2024-05-10T12:00:00Z", rid=f"r{i}", event_id=event_id))
    wh.send(records(*docs[::-1]) if len(docs) % 2 else records(*docs))
    (row,) = wh.view("nps_daily")
    assert (row["responses"], row["promoters"]) == (40, 40)


def test_a_later_refund_removes_an_order_and_a_later_completion_restores_it(warehouse):
    wh = warehouse()
    d1, d2 = "2024-05-10T10:00:00Z", "2024-05-10T18:00:00Z"
    wh.send(records(
        order("10.00", d2, oid="refunded", status="refunded", customer_id="ann"),  # arrives first, occurs later
        order("10.00", d1, oid="refunded", customer_id="ann"),
        order("20.00", d1, oid="re-completed", status="refunded", customer_id="bob"),
        order("20.00", d2, oid="re-completed", status="completed", customer_id="bob"),
        order("30.00", d2, oid="refund-too-early", customer_id="cy"),
        order("30.00", d1, oid="refund-too-early", status="refunded", customer_id="cy"),
    ))
    (row,) = wh.view("purchases_daily")
    assert (row["orders"], row["customers"], row["revenue"]) == (2, 2, Decimal("50"))
    assert row["avg_check"] == 25.0


def test_repeat_customers_look_at_all_history_all_touchpoints_and_currencies(warehouse):
    wh = warehouse("Europe/Moscow")
    wh.send(records(
        order(5, "2024-05-01T20:59:59Z", customer_id="ann"),                            # May 1 Moscow
        order(7, "2024-05-01T21:00:00Z", tp="website", currency="USD", customer_id="ann"),  # May 2 Moscow
        order(5, "2024-05-01T10:00:00Z", customer_id="bob", status="refunded"),         # refunded: never first
        order(6, "2024-05-02T10:00:00Z", tp="website", currency="USD", customer_id="bob"),
        order(6, "2024-05-02T11:00:00Z", tp="website", currency="USD", customer_id="bob"),  # same day: not repeat
        order(9, "2024-05-02T12:00:00Z", tp="website", currency="USD"),                 # no customer
        order(4, "2024-05-03T12:00:00Z", customer_id="ann"),                            # late in the stream, still May 3
    ))
    daily = rows_by(wh.view("purchases_daily"), "day", "touchpoint", "currency")
    web = daily[(date(2024, 5, 2), "website", "USD")]
    assert (web["orders"], web["customers"], web["repeat_customers"]) == (4, 2, 1)
    assert web["revenue"] == Decimal(28)
    first = daily[(date(2024, 5, 1), "retail_store", "EUR")]
    assert (first["orders"], first["customers"], first["repeat_customers"]) == (1, 1, 0)
    assert daily[(date(2024, 5, 3), "retail_store", "EUR")]["repeat_customers"] == 1


def test_an_outbound_winning_version_excludes_the_call_and_an_inbound_one_brings_it_back(warehouse):
    wh = warehouse()
    wh.send(records(
        call(Q, at(Q, 5), at(Q, 60), cid="k1", occurred_at="2024-05-10T09:01:00Z"),
        call(Q, at(Q, 5), at(Q, 60), cid="k1", direction="outbound", occurred_at="2024-05-10T09:02:00Z"),
        call(Q, at(Q, 5), at(Q, 60), cid="k2", direction="outbound", occurred_at="2024-05-10T09:01:00Z"),
        call(Q, None, at(Q, 60), cid="k2", direction="inbound", occurred_at="2024-05-10T09:02:00Z"),
    ))
    (daily,) = wh.view("calls_daily")
    assert (daily["offered"], daily["answered"]) == (1, 0)
    (hourly,) = wh.view("calls_hourly")
    assert (hourly["hour"], hourly["offered"], hourly["unanswered"]) == (9, 1, 1)


def test_late_events_count_in_their_own_day_however_late(warehouse):
    wh = warehouse()
    wh.send(records(*[survey(10, "2024-05-10T12:00:00Z") for _ in range(2)]))
    wh.send(records(survey(9, "2024-05-11T12:00:00Z")))
    wh.clock += timedelta(days=40)  # arrives 40 days later
    wh.send(records(survey(0, "2024-05-10T23:59:59Z"), survey(3, "2024-05-10T00:00:00Z")))
    daily = rows_by(wh.view("nps_daily"), "day")
    assert (daily[date(2024, 5, 10)]["responses"], daily[date(2024, 5, 10)]["detractors"]) == (4, 2)
    assert daily[date(2024, 5, 11)]["prev_responses"] == 4
    assert daily[date(2024, 5, 11)]["prev_nps"] == 0.0


def test_a_target_change_restates_history(warehouse):
    wh = warehouse()
    wh.send(records(*[call(Q, at(Q, w), at(Q, 100), tp="business_line") for w in (8, 12, 16)],
                    review("2024-05-10T08:00:00Z", "2024-05-10T18:00:00Z", tp="business_line")))
    before = wh.view("calls_daily")[0]["answered_in_sla"]
    registry = load_registry()
    doc = {"defaults": registry.defaults.__dict__,
           "touchpoints": {s: {**t.targets.__dict__, "name": t.name} for s, t in registry.touchpoints.items()}}
    doc["touchpoints"]["business_line"].update(sla_answer_seconds=10, review_reply_hours=8)
    wh.retarget(parse_registry(doc))
    after = wh.view("calls_daily")[0]
    assert (before, after["answered_in_sla"]) == (2, 1)
    assert after["service_level"] == pytest.approx(1 / 3)
    assert wh.view("reviews_daily")[0]["replied_in_sla"] == 0


def test_targets_do_not_depend_on_the_readers_join_settings(warehouse):
    wh = warehouse()
    wh.send(records(call(Q, at(Q, 18), at(Q, 60), tp="kiosk_pilot"), call(Q, at(Q, 18), at(Q, 60), tp="business_line")))
    plain = wh.view("calls_daily")
    assert [(r["touchpoint"], r["answered_in_sla"]) for r in plain] == [("business_line", 0), ("kiosk_pilot", 1)]
    assert sorted(wh.view("calls_daily", join_use_nulls=1), key=lambda r: r["touchpoint"]) == plain


def test_a_duplicate_counts_once_at_any_position_and_even_with_other_content(warehouse):
    wh = warehouse()
    original = survey(10, "2024-05-10T12:00:00Z", rid="r1", event_id="dup")
    raw = records(original)[0]
    conflicting = survey(0, "2024-05-11T12:00:00Z", rid="r2", event_id="dup")  # same event_id: ignored
    wh.send([raw], partition=3)
    wh.send([raw, raw], partition=1)
    wh.send(records(conflicting), partition=0)  # the lowest position, but it arrived last
    (row,) = wh.view("nps_daily")
    assert (row["day"], row["responses"], row["promoters"]) == (date(2024, 5, 10), 1, 1)
    (health,) = wh.view("ingest_daily")
    assert (health["type"], health["accepted"], health["duplicates"], health["rejected"]) == ("survey", 1, 3, 0)


def test_replaying_the_same_messages_changes_no_number(warehouse):
    wh = warehouse()
    sent = wh.send(records(survey(3), survey(9), call(Q, at(Q, 4), at(Q, 30)), order("2.50", customer_id="ann"),
                           review("2024-05-10T08:00:00Z", "2024-05-10T09:00:00Z")) + [("surveys", b"{oops", None)])
    before = {v: wh.view(v) for v in ALL_VIEWS}
    wh.write(sent)  # a crash re-delivers the batch: same topics, partitions and offsets
    assert {v: wh.view(v) for v in ALL_VIEWS} == before
    wh.client.command(f"OPTIMIZE TABLE `{wh.database}`.surveys FINAL")
    assert {v: wh.view(v) for v in ALL_VIEWS} == before
    assert sum(r["rejected"] for r in before["ingest_daily"]) == 1


def test_ingest_daily_counts_by_arrival_day_in_the_business_zone(warehouse):
    wh = warehouse("Europe/Moscow")
    late_evening = datetime(2024, 5, 10, 20, 59, 59, 999000, tzinfo=UTC)  # 23:59:59.999 in Moscow
    doc = survey(9, "2024-04-01T00:00:00Z")
    msgs = [wh.message("surveys", json.dumps(doc).encode(), at=late_evening),
            wh.message("surveys", json.dumps(doc).encode(), at=late_evening + timedelta(milliseconds=1)),
            wh.message("calls", b"[]", at=late_evening + timedelta(milliseconds=1))]
    wh.write(msgs)
    got = {(r["day"], r["type"]): (r["accepted"], r["duplicates"], r["rejected"]) for r in wh.view("ingest_daily")}
    assert got == {(date(2024, 5, 10), "survey"): (1, 0, 0), (date(2024, 5, 11), "survey"): (0, 1, 0),
                   (date(2024, 5, 11), "call"): (0, 0, 1)}


def test_nps_margin_and_the_change_against_the_previous_day(warehouse):
    wh = warehouse()
    day1 = [10] * 5 + [8] * 3 + [0] * 2          # P .5, D .2: nps 30
    day2 = [9] * 2 + [7] * 2                      # P .5, D 0: nps 50
    day4 = [6] * 4                                 # no previous day (day 3 is empty)
    wh.send(records(*[survey(s, "2024-05-01T10:00:00Z") for s in day1],
                    *[survey(s, "2024-05-02T10:00:00Z") for s in day2],
                    *[survey(s, "2024-05-04T10:00:00Z") for s in day4]))
    daily = rows_by(wh.view("nps_daily"), "day")
    assert set(daily) == {date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 4)}
    d1, d2, d4 = daily[date(2024, 5, 1)], daily[date(2024, 5, 2)], daily[date(2024, 5, 4)]
    assert (d1["promoters"], d1["passives"], d1["detractors"], d1["nps"]) == (5, 3, 2, 30.0)
    moe1 = 196 * math.sqrt((0.5 + 0.2 - 0.3 ** 2) / 10)
    moe2 = 196 * math.sqrt((0.5 - 0.25) / 4)
    assert d1["nps_moe95"] == pytest.approx(moe1, rel=1e-12) and d2["nps_moe95"] == pytest.approx(moe2, rel=1e-12)
    assert d1["prev_nps"] is None and d1["significant_change"] == 0 and d1["change_moe95"] is None
    assert (d2["prev_responses"], d2["prev_nps"], d2["nps_change"]) == (10, 30.0, pytest.approx(20.0))
    assert d2["change_moe95"] == pytest.approx(math.hypot(moe1, moe2), rel=1e-12)
    assert d2["significant_change"] == 0  # 20 points on 10 and 4 answers is noise
    assert (d4["nps"], d4["nps_moe95"], d4["prev_responses"], d4["prev_nps"]) == (-100.0, 0.0, 0, None)


def test_a_change_larger_than_the_combined_margin_is_significant(warehouse):
    wh = warehouse()
    wh.send(records(*[survey(10, "2024-05-01T10:00:00Z") for _ in range(60)],
                    *[survey(9 if i < 20 else 0, "2024-05-02T10:00:00Z") for i in range(60)]))
    d2 = rows_by(wh.view("nps_daily"), "day")[date(2024, 5, 2)]
    # 100 -> -33.3 with margins 0 and 196 * sqrt((1/3 + 2/3 - 1/9) / 60) = 23.86
    assert d2["nps_change"] == pytest.approx(-400 / 3)
    assert d2["change_moe95"] == pytest.approx(196 * math.sqrt((1 - 1 / 9) / 60), rel=1e-12)
    assert d2["significant_change"] == 1


def test_rolling_nps_covers_the_trailing_seven_days_up_to_the_latest_survey_day(warehouse):
    wh = warehouse()
    wh.send(records(survey(10, "2024-05-01T10:00:00Z"), survey(0, "2024-05-08T10:00:00Z"),
                    survey(0, "2024-05-08T11:00:00Z"), survey(9, "2024-05-25T10:00:00Z"),
                    survey(5, "2024-05-25T10:00:00Z", tp="website")))
    rolling = rows_by(wh.view("nps_rolling_7d"), "day", "touchpoint")
    cc = {d: r for (d, tp), r in rolling.items() if tp == "call_centre"}
    may = [date(2024, 5, d) for d in range(1, 32)]
    assert sorted(cc) == may[0:14] + [may[24]]  # May 15-24 have nothing in their window; nothing after May 25
    assert [k for k in rolling if k[1] == "website"] == [(date(2024, 5, 25), "website")]
    assert (cc[may[6]]["responses"], cc[may[6]]["nps"]) == (1, 100.0)           # May 1-7
    assert (cc[may[7]]["responses"], cc[may[7]]["nps"]) == (2, -100.0)          # May 2-8: May 1 left the window
    assert (cc[may[7]]["prev_responses"], cc[may[7]]["prev_nps"]) == (1, 100.0)  # Apr 25 - May 1
    assert cc[may[7]]["significant_change"] == 1                                 # 200 points, both margins 0
    assert (cc[may[13]]["responses"], cc[may[13]]["prev_responses"]) == (2, 1)  # May 8-14 vs May 1-7
    assert (cc[may[24]]["responses"], cc[may[24]]["prev_responses"], cc[may[24]]["prev_nps"]) == (1, 0, None)


def test_loyalty_intervals_checks_and_lapses_per_month(warehouse):
    wh = warehouse()
    day = timedelta(days=1)
    t0 = datetime(2024, 1, 1, 10, tzinfo=UTC)

    def buy(customer: str, when: datetime, amount) -> dict:
        return order(amount, when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), customer_id=customer)

    ann = [t0, t0 + 30 * day, t0 + 51 * day, t0 + 68.5 * day]      # monthly, then 3 weeks, then 2.5 weeks
    # cy: usual interval 5.5 days, last purchase Jan 21: lapsed exactly when more than 11 days have passed,
    # i.e. after Feb 1 00:00 -- so not at the January month end; dee's first purchase is one microsecond
    # later, so dee's usual interval is shorter and dee is lapsed then.
    cy = [datetime(2024, 1, 15, 12, tzinfo=UTC), datetime(2024, 1, 21, tzinfo=UTC)]
    dee = [cy[0] + timedelta(microseconds=1), cy[1]]
    docs = [buy("ann", t, 100 + 10 * i) for i, t in enumerate(ann)]
    docs += [buy("cy", t, 10) for t in cy] + [buy("dee", t, 10) for t in dee]
    docs += [order(999, "2024-01-05T00:00:00Z"), {**buy("ed", t0, 50), "status": "refunded"}]
    wh.send(records(*docs))
    months = rows_by(wh.view("loyalty_monthly"), "month")
    jan, feb, mar = months[date(2024, 1, 1)], months[date(2024, 2, 1)], months[date(2024, 3, 1)]
    assert set(months) == {date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)}
    assert (jan["active_customers"], jan["orders"], jan["revenue"]) == (3, 6, Decimal(250))
    assert jan["mean_check"] == pytest.approx(250 / 6) and jan["mean_days_between"] == pytest.approx(
        (30 + 5.5 + 5.5 - 1e-6 / 86400) / 3, rel=1e-12)
    assert jan["lapsed_customers"] == 1                              # dee; cy sits exactly on the line
    assert (feb["active_customers"], feb["mean_days_between"]) == (1, pytest.approx(21.0))
    assert feb["lapsed_customers"] == 2                              # cy and dee; ann bought on Feb 21
    assert (mar["mean_days_between"], mar["customers_to_date"]) == (pytest.approx(17.5), 3)
    assert mar["revenue_to_date"] == Decimal(100 + 110 + 120 + 130 + 40)
    assert mar["revenue_per_customer"] == pytest.approx(500 / 3)
    # ann at the March end: usual (68.5 days / 3), last purchase March 9 22:00, 22.08 days before April:
    # 22.08 <= 2 * 22.83, so not lapsed
    assert mar["lapsed_customers"] == 2


def test_every_view_is_served_by_touchpulse_query(warehouse):
    from touchpulse.clickhouse.queries import VIEWS
    assert set(ALL_VIEWS) <= set(VIEWS)
    wh = warehouse()
    wh.send(records(survey(9), survey(3), order(1, customer_id="ann")))
    served = {view: len(wh.view(view)) for view in ALL_VIEWS}
    assert served == {"nps_daily": 1, "calls_daily": 0, "calls_hourly": 0, "reviews_daily": 0, "purchases_daily": 1,
                      "calls_resolution_daily": 0, "agents_daily": 0, "followups_daily": 1,
                      "nps_rolling_7d": 1, "loyalty_monthly": 1, "ingest_daily": 2, "callbacks_hourly": 0,
                      "fcr_settled": 0, "followup_queue": 1, "followups_open": 1}
