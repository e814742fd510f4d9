"""NPS-change annotations: one per run of significant days, at the business day's start."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from touchpulse.flows.annotations import TAGS, significant_runs, to_annotations

D = date(2024, 6, 1)


def row(day_offset, change, significant=1, tp="billing", kind="transactional"):
    return {"day": D + timedelta(days=day_offset), "touchpoint": tp, "kind": kind, "nps": 10.0 + change,
            "prev_nps": 10.0, "nps_change": change, "change_moe95": 5.0, "significant_change": significant,
            "responses": 300, "prev_responses": 310}


def test_a_run_of_significant_days_becomes_one_change_on_its_first_day():
    rows = [row(0, 1.0, 0), row(1, -8.0), row(2, -9.0), row(3, -7.5), row(4, -2.0, 0)]
    (change,) = significant_runs(rows)
    assert change.day == D + timedelta(days=1) and change.change == -8.0


def test_a_gap_or_a_change_of_direction_starts_a_new_run():
    rows = [row(0, -8.0), row(1, 9.0), row(3, 9.0), row(4, 9.5)]
    assert [(c.day - D).days for c in significant_runs(rows)] == [0, 1, 3]


def test_series_are_separate_per_touchpoint_and_kind():
    rows = [row(0, -8.0), row(0, -8.0, kind="relationship"), row(1, -8.0, tp="chat"), row(1, -8.0)]
    got = sorted((c.touchpoint, c.kind, (c.day - D).days) for c in significant_runs(rows))
    assert got == [("billing", "relationship", 0), ("billing", "transactional", 0), ("chat", "transactional", 1)]


def test_rows_arrive_in_any_order():
    rows = [row(2, -9.0), row(0, 1.0, 0), row(1, -8.0)]
    assert [(c.day - D).days for c in significant_runs(rows)] == [1]


def test_annotations_start_at_business_midnight_on_each_dashboard():
    (change,) = significant_runs([row(0, -8.0)])
    zone = ZoneInfo("Europe/Moscow")
    anns = to_annotations([change], zone, {"billing": "Billing"}, ["touchpulse-nps", "touchpulse-touchpoint"])
    assert [a.dashboard_uid for a in anns] == ["touchpulse-nps", "touchpulse-touchpoint"]
    assert anns[0].time_ms == int(datetime(2024, 6, 1, tzinfo=zone).timestamp() * 1000)
    assert anns[0].time_ms == int(datetime(2024, 5, 31, 21, tzinfo=timezone.utc).timestamp() * 1000)
    assert set(TAGS) <= set(anns[0].tags) and "touchpoint:billing" in anns[0].tags and "down" in anns[0].tags
    assert anns[0].text.startswith("NPS at Billing (transactional) fell by 8.0 points: 10.0 \u2192 2.0")
    assert anns[0].key != anns[1].key
