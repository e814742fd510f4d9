"""The dashboard models: deterministic, complete, valid for the ClickHouse plugin and the SDK."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from touchpulse.core.touchpoints import load_registry
from touchpulse.dashboards.build import build_all, panels, render, repeated_by, write_all
from touchpulse.dashboards.check import panel_queries
from touchpulse.dashboards.model import PLUGIN
from touchpulse.dashboards.sdk import load, roundtrip

REPO = Path(__file__).resolve().parents[3]
TOUCHPOINTS = ["call_centre", "billing", "website"]
EXPECTED_PANELS = {
    "touchpulse-nps": {"NPS", "Promoters, passives, detractors", "NPS by day, with its margin of error",
                       "Touchpoints, worst NPS first", "Competitor benchmark by brand",
                       "Latest follow-ups with comments", "NPS by touchpoint, rolling 7 days"},
    "touchpulse-touchpoint": {"NPS", "NPS by day", "Service level", "Calls", "Reviews", "Orders and average check",
                              "Latest follow-ups"},
    "touchpulse-contact-centre": {"Service level", "Average speed of answer", "Abandonment", "Wait p90",
                                  "Missed calls by hour of day", "Service level by touchpoint",
                                  "First-contact resolution", "Called back in time",
                                  "First-contact resolution by touchpoint", "Call-back rate by touchpoint",
                                  "Missed callers by hour of day: called back in time or not",
                                  "Missed callers not called back", "Agents, lowest first-contact resolution first"},
    "touchpulse-closed-loop": {"Raised", "Open now", "Overdue now", "Closed in time", "Median time to contact",
                              "Won back", "Touchpoints, most overdue first", "Overdue follow-ups, oldest due first"},
    "touchpulse-reviews": {"Average rating", "Reply rate", "Median reply time", "Unanswered past target",
                           "Unanswered past target, oldest first"},
    "touchpulse-loyalty": {"Orders", "Average check", "Repeat customers", "Active and lapsed customers by month",
                           "Loyalty by month and touchpoint"},
    "touchpulse-pipeline": {"Accepted", "Duplicates", "Rejected (dead letters)", "Dead letters by reason",
                            "Freshness by type"},
}


@pytest.fixture(scope="module")
def models():
    return build_all(TOUCHPOINTS, timezone="Europe/Moscow")


def test_build_is_deterministic_and_independent_of_input_order():
    a = build_all(["website", "billing", "call_centre", "billing"], "ds-x", "metrics", timezone="Asia/Tokyo")
    b = build_all(["call_centre", "website", "billing"], "ds-x", "metrics", timezone="Asia/Tokyo")
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert list(a) == sorted(a)


def test_every_required_dashboard_and_panel_is_there(models):
    assert set(models) == set(EXPECTED_PANELS)
    for uid, titles in EXPECTED_PANELS.items():
        assert models[uid]["uid"] == uid and len(uid) <= 40
        have = {p["title"] for p in panels(models[uid])}
        assert titles <= have, f"{uid} misses {titles - have}"


def test_panel_ids_are_unique_and_panels_fit_the_grid(models):
    for uid, model in models.items():
        ids = [p["id"] for p in panels(model)]
        assert len(ids) == len(set(ids)), uid
        for p in panels(model):
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, (uid, p["title"], g)


def test_every_query_is_raw_clickhouse_sql_on_the_datasource_and_reads_only_views(models):
    view_names = {"nps_daily", "nps_rolling_7d", "calls_daily", "calls_hourly", "reviews_daily", "purchases_daily",
                  "loyalty_monthly", "ingest_daily", "touchpoint_activity",
                  "followups_latest", "reviews_overdue", "dead_letters_daily", "ingest_freshness", "call_waits",
                  "review_reply_times", "calls_resolution_daily", "fcr_settled", "callbacks_hourly",
                  "missed_not_called_back", "followups_daily", "followup_queue", "followups_open", "followup_versions",
                  "agent_calls"}
    seen = set()
    for uid, model in models.items():
        for p in panels(model):
            for t in p.get("targets", []):
                assert p["datasource"] == {"type": PLUGIN, "uid": "touchpulse-clickhouse"}
                assert t["datasource"] == p["datasource"] and t["editorType"] == "sql"
                assert (t["queryType"], t["format"]) in (("table", 1), ("timeSeries", 0)), (uid, p["title"])
                if t["queryType"] == "timeSeries":
                    assert re.search(r"\bAS time\b", t["rawSql"]), (uid, p["title"])
                read = set(re.findall(r"\btouchpulse\.(\w+)", t["rawSql"]))
                assert read and read <= view_names, (uid, p["title"], read - view_names)
                seen |= read
    assert seen == view_names  # every view is used somewhere; none is a raw fact table


def test_variables_offer_the_given_touchpoints_and_whatever_the_data_shows(models):
    for uid in ("touchpulse-nps", "touchpulse-touchpoint", "touchpulse-contact-centre", "touchpulse-reviews",
                "touchpulse-loyalty"):
        var = {v["name"]: v for v in models[uid]["templating"]["list"]}["touchpoint"]
        assert var["type"] == "query" and var["includeAll"] and var["multi"]
        assert var["current"]["value"] == ["$__all"]
        assert "arrayJoin(['billing', 'call_centre', 'website'])" in var["query"]
        assert "touchpoint_activity" in var["query"] and "$__dateFilter(day)" in var["query"]
    nps_vars = {v["name"]: v for v in models["touchpulse-nps"]["templating"]["list"]}
    assert set(nps_vars) == {"touchpoint", "brand", "kind"}
    assert nps_vars["brand"]["current"]["value"] == ["own"]
    assert [o["value"] for o in nps_vars["kind"]["options"]] == ["$__all", "transactional", "relationship"]


def test_a_new_touchpoint_is_listed_and_the_drill_down_repeats_per_touchpoint():
    before = build_all(["billing"])
    after = build_all(["billing", "pop_up_store"])
    var = after["touchpulse-touchpoint"]["templating"]["list"][0]
    assert "'pop_up_store'" in var["query"] and "'pop_up_store'" not in before["touchpulse-touchpoint"][
        "templating"]["list"][0]["query"]
    model = after["touchpulse-touchpoint"]
    rows = [p for p in model["panels"] if p["type"] == "row"]
    assert rows and rows[0]["repeat"] == "touchpoint"
    inside = repeated_by(model)
    assert len(inside) == len(panels(model)) - 1  # every panel of the drill-down repeats with its row
    for q in panel_queries(model):
        # a repeated row's panels filter on their own value, never through conditionalAll (which sees All)
        assert "$__conditionalAll(touchpoint" not in q.raw_sql and "${touchpoint:singlequote}" in q.raw_sql


def test_only_the_datasource_uid_and_database_change_with_their_arguments(models):
    other = build_all(TOUCHPOINTS, "other-ds", "analytics", timezone="Europe/Moscow")
    text = json.dumps(other)
    assert "touchpulse-clickhouse" not in text and "touchpulse." not in text.replace("touchpulse-", "")
    assert json.dumps(models).replace("touchpulse-clickhouse", "other-ds").replace("touchpulse.", "analytics.") == text


def test_days_are_plotted_at_midnight_in_the_business_zone(models):
    assert models["touchpulse-nps"]["timezone"] == "Europe/Moscow"
    assert build_all(TOUCHPOINTS)["touchpulse-nps"]["timezone"] == "utc"
    series = [t["rawSql"] for p in panels(models["touchpulse-nps"]) for t in p.get("targets", [])
              if t["queryType"] == "timeSeries"]
    assert series and all("toDateTime(day, 'Europe/Moscow') AS time" in s for s in series)


@pytest.mark.parametrize("bad, message", [
    ({"touchpoints": ["Call Centre"]}, "not a slug"),
    ({"database": "touch-pulse"}, "not a plain identifier"),
    ({"datasource_uid": "x" * 41}, "datasource_uid"),
    ({"service_level_target": 1.5}, "service_level_target"),
])
def test_bad_arguments_are_refused_naming_the_argument(bad, message):
    args = {"touchpoints": TOUCHPOINTS, **bad}
    with pytest.raises(ValueError, match=message):
        build_all(args.pop("touchpoints"), **args)


def test_every_dashboard_round_trips_through_the_foundation_sdk_unchanged(models):
    for uid, model in models.items():
        sdk = load(model)
        assert sdk.uid == uid and len(sdk.panels) == len(model["panels"])
        typed = [t for p in sdk.panels for t in (getattr(p, "targets", None) or [])]
        assert typed and all(type(t).__name__ == "ClickHouseQuery" for t in typed)
        assert roundtrip(model) == model, uid


def test_round_trip_would_catch_a_misspelt_option(models):
    model = json.loads(json.dumps(models["touchpulse-contact-centre"]))
    stat = next(p for p in model["panels"] if p["type"] == "stat")
    stat["options"]["textMod"] = "value"
    stat["targets"][0]["rawSQL"] = stat["targets"][0].pop("rawSql")
    assert roundtrip(model) != model


def test_write_all_writes_canonical_files_and_leaves_unchanged_ones_alone(tmp_path):
    paths = write_all(tmp_path / "out", TOUCHPOINTS)
    assert sorted(p.name for p in paths) == sorted(f"{uid}.json" for uid in EXPECTED_PANELS)
    first = paths[0]
    text = first.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text == render(json.loads(text))
    assert '\n  "annotations"' in text  # indent 2, keys sorted
    stamp = first.stat().st_mtime_ns
    import os
    os.utime(first, ns=(stamp - 10**9, stamp - 10**9))
    write_all(tmp_path / "out", TOUCHPOINTS)
    assert first.stat().st_mtime_ns == stamp - 10**9  # not rewritten
    write_all(tmp_path / "out", TOUCHPOINTS + ["kiosk"])
    assert first.stat().st_mtime_ns != stamp - 10**9 and "'kiosk'" in first.read_text(encoding="utf-8")


def test_generated_copies_in_infra_match_the_build():
    out = REPO / "infra" / "grafana" / "dashboards"
    expected = build_all(load_registry().slugs)
    files = {p.stem: p for p in out.glob("*.json")}
    assert set(files) == set(expected), "run `make dashboards` to regenerate infra/grafana/dashboards"
    for uid, model in expected.items():
        assert files[uid].read_text(encoding="utf-8") == render(model), \
            f"{files[uid]} is stale: run `make dashboards`"
