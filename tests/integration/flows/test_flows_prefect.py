"""Each flow once through Prefect (a local test server), over a simulated month in chDB; the
repeat runs that check idempotency call the plain functions, which the flows wrap."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from grafana_client import GrafanaApi

from tests.support.fake_grafana import FakeGrafana
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import default_registry_path, load_registry
from touchpulse.flows.annotations import TAGS
from touchpulse.flows.backfill import backfill
from touchpulse.flows.refresh import refresh_dashboards
from touchpulse.flows.runtime import injected

from tests.integration.flows.flows_world import DB, END, TZ

pytestmark = pytest.mark.integration
ZONE = ZoneInfo(TZ)


def rows(client, sql, **params):
    return client.query(sql, parameters=params).result_rows


def minus(text: str) -> str:
    return text.replace("-", "\u2212")


def test_daily_report_flow(prefect_server, flows_db, flow_settings):
    from prefect.client.orchestration import get_client

    from touchpulse.flows.definitions import daily_report_flow

    with injected(flow_settings, flows_db):
        state = daily_report_flow(day=END, return_state=True)
    assert state.is_completed(), state
    path = Path(state.result())
    assert path == flow_settings.home / "reports" / f"daily-{END}.html"
    page = path.read_text(encoding="utf-8")

    # The numbers on the page are the views' numbers, recomputed here from the counts.
    offered, in_sla, short = rows(flows_db, f"SELECT sum(offered), sum(answered_in_sla), sum(short_abandoned) "
                                            f"FROM {DB}.calls_daily WHERE day = {{d:Date}}", d=END)[0]
    assert f"Overall {100 * in_sla / (offered - short):.0f} % of {offered - short:,} calls." in page
    nps_rows = rows(flows_db, f"SELECT touchpoint, sum(promoters), sum(detractors), sum(responses) FROM {DB}.nps_daily "
                              f"WHERE day = {{d:Date}} AND brand = 'own' GROUP BY touchpoint", d=END)
    assert len(nps_rows) >= 10
    for _, p, d, n in nps_rows:
        value = 100 * (p - d) / n
        moe = 196 * math.sqrt((p / n + d / n - (p / n - d / n) ** 2) / n)
        assert minus(f"{value:.0f} \u00b1{moe:.0f} \u00b7 n {n}") in page
    end_of_day = datetime.combine(END + timedelta(days=1), time(0), ZONE).astimezone(timezone.utc)
    # Still open then: raised, due before the end of the day, and not closed by it (the winning update).
    overdue = rows(flows_db, f"SELECT count() FROM (SELECT DISTINCT followup_id FROM {DB}.followups "
                             f"WHERE due_at < {{t:DateTime64(6, 'UTC')}}) AS f "
                             f"LEFT JOIN {DB}.followup_updates_latest AS u ON u.followup_id = f.followup_id "
                             f"WHERE NOT (u.status = 'closed' AND u.occurred_at <= {{t:DateTime64(6, 'UTC')}}) "
                             f"SETTINGS join_use_nulls = 0", t=end_of_day)[0][0]
    assert overdue > 20 and f"{overdue:,} follow-ups are still open past the due time" in page
    assert "<h2>Verdict</h2>" in page and "closure event" not in page
    assert "follow-ups that fell due in the last 7 days" in page
    assert not re.search(r"<script|<link|<img|\ssrc=|\shref=\"(?!#)|url\(|@import", page)

    # Prefect recorded the run with its plain parameters, and nothing from the settings.
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.parameters == {"day": END.isoformat(), "out": None}
    assert run.state.is_completed()


def significant_starts(client) -> set[tuple[str, str, int]]:
    """(touchpoint, kind, day start in ms) of each run of significant days, computed independently."""
    found = rows(client, f"""
        SELECT touchpoint, kind, day FROM (
            SELECT touchpoint, kind, day, significant_change AS s, toInt8(ifNull(sign(nps_change), 0)) AS sg,
                lagInFrame(significant_change, 1, 0) OVER w AS ps, lagInFrame(sg, 1, toInt8(0)) OVER w AS psg,
                lagInFrame(day, 1, toDate32('1970-01-01')) OVER w AS pday
            FROM {DB}.nps_rolling_7d WHERE brand = 'own'
            WINDOW w AS (PARTITION BY touchpoint, kind ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ) WHERE s = 1 AND NOT (ps = 1 AND psg = sg AND pday = day - 1)""")
    return {(tp, kind, int(datetime.combine(day, time(0), ZONE).timestamp() * 1000)) for tp, kind, day in found}


def owned(grafana, uid):
    return [a for a in grafana.state.annotations if a["dashboardUID"] == uid and set(TAGS) <= set(a["tags"])]


def test_refresh_dashboards_flow(prefect_server, flows_db, flow_settings, write_events, tmp_path):
    from touchpulse.flows.definitions import refresh_dashboards_flow

    out = tmp_path / "dashboards"
    with FakeGrafana(token="svc-token") as grafana:
        settings = replace(flow_settings, grafana_url=grafana.url, grafana_token="svc-token")
        with injected(settings, flows_db):
            state = refresh_dashboards_flow(out=str(out), return_state=True)
        assert state.is_completed(), state
        result = state.result()

        registry = load_registry()
        assert set(registry.slugs) <= set(result["touchpoints"]) and result["new_touchpoints"] == []
        uids = {p.stem for p in out.glob("*.json")}
        assert len(uids) == 7 and {Path(p).stem for p in result["written"]} == uids
        assert set(grafana.state.dashboards) == uids
        assert all(grafana.dashboard_version(uid) == 1 for uid in uids)
        ds = grafana.state.datasources["touchpulse-clickhouse"]
        assert ds["jsonData"]["host"] == "clickhouse.internal" and ds["jsonData"]["defaultDatabase"] == DB
        assert ds["secureJsonData"] == {"password": "reader-pw"}
        assert result["provisioned"]["dashboards"]["created"] == 7

        # One annotation per run of significant 7-day NPS changes, on both NPS dashboards.
        expected = significant_starts(flows_db)
        assert expected, "a simulated month always has some significant 7-day NPS changes"
        for uid in ("touchpulse-nps", "touchpulse-touchpoint"):
            got = {(next(t[11:] for t in a["tags"] if t.startswith("touchpoint:")),
                    next(t[5:] for t in a["tags"] if t.startswith("kind:")), a["time"]) for a in owned(grafana, uid)}
            assert got == expected
        assert result["annotations"]["created"] == 2 * len(expected)

        # Nothing changed: a second refresh writes nothing at all.
        api = GrafanaApi.from_url(grafana.url, credential="svc-token")
        writes = len(grafana.state.writes)
        again = refresh_dashboards(flows_db, settings, out_dir=out, api=api)
        assert again.changed_files == [] and len(grafana.state.writes) == writes
        assert again.provisioned["dashboards"] == {"created": 0, "updated": 0, "unchanged": 7}
        assert (again.annotations.created, again.annotations.unchanged) == (0, 2 * len(expected))

        # A touchpoint that starts sending events gets its panels on the next refresh.
        write_events([{"event_id": "evt-kiosk-1", "type": "survey", "version": 1, "touchpoint": "popup_kiosk",
                       "occurred_at": f"{END}T12:00:00+03:00", "response_id": "srv-kiosk-1", "score": 9}])
        try:
            newer = refresh_dashboards(flows_db, settings, out_dir=out, api=api)
        finally:
            flows_db.command(f"ALTER TABLE {DB}.surveys DELETE WHERE touchpoint = 'popup_kiosk' "
                             "SETTINGS mutations_sync = 2")
        assert newer.new_touchpoints == ["popup_kiosk"] and "popup_kiosk" in newer.touchpoints
        assert newer.changed_files and all("popup_kiosk" in p.read_text() for p in newer.changed_files)
        bumped = {uid for uid in uids if grafana.dashboard_version(uid) == 2}
        assert bumped == {p.stem for p in newer.changed_files}
        assert "popup_kiosk" in json.dumps(grafana.state.dashboards["touchpulse-nps"]["dashboard"])


@pytest.mark.skipif(not hasattr(FakeGrafana, "_delete_annotation"),
                    reason="tests/support/fake_grafana.py has no PUT/DELETE /api/annotations/:id yet")
def test_refresh_corrects_and_removes_stale_annotations(flows_db, flow_settings, tmp_path):
    with FakeGrafana(token="svc-token") as grafana:
        settings = replace(flow_settings, grafana_url=grafana.url, grafana_token="svc-token")
        api = GrafanaApi.from_url(grafana.url, credential="svc-token")
        refresh_dashboards(flows_db, settings, out_dir=tmp_path, api=api)
        mine = owned(grafana, "touchpulse-nps")
        right_text = mine[0]["text"]
        mine[0]["text"] = "an NPS note written before late answers arrived"
        api.annotations.add_annotation(dashboard_uid="touchpulse-nps", time_from=mine[0]["time"] - 86_400_000,
                                       time_to=mine[0]["time"] - 86_400_000, tags=[*TAGS, "touchpoint:gone"],
                                       text="a change a backfill showed to be noise")
        other = api.annotations.add_annotation(dashboard_uid="touchpulse-nps", time_from=mine[0]["time"],
                                               time_to=mine[0]["time"], tags=["deploy"], text="not ours")
        result = refresh_dashboards(flows_db, settings, out_dir=tmp_path, api=api)
        assert (result.annotations.updated, result.annotations.deleted) == (1, 1)
        assert mine[0]["text"] == right_text or any(a["text"] == right_text for a in owned(grafana, "touchpulse-nps"))
        assert not any("touchpoint:gone" in a["tags"] for a in grafana.state.annotations)
        assert any(a["id"] == other["id"] for a in grafana.state.annotations)  # others' annotations stay


def test_backfill_flow_reports_a_target_change(prefect_server, flows_db, flow_settings, tmp_path):
    from touchpulse.flows.definitions import backfill_flow

    lo, hi = END - timedelta(days=6), END
    first = backfill(flows_db, flow_settings, lo, hi)  # the snapshot to compare with
    assert not first.any_change
    text = default_registry_path().read_text(encoding="utf-8")
    section = re.search(r"\[touchpoints\.call_centre\][^\[]*", text).group(0)
    assert "sla_answer_seconds = 20" in section
    (tmp_path / "touchpoints.toml").write_text(
        text.replace(section, section.replace("sla_answer_seconds = 20", "sla_answer_seconds = 5")), encoding="utf-8")
    stricter = replace(flow_settings, touchpoints=tmp_path / "touchpoints.toml")
    try:
        with injected(stricter, flows_db):
            state = backfill_flow(day_from=lo, day_to=hi, out=str(tmp_path / "out"), return_state=True)
    finally:
        apply_schema(flows_db, SchemaOptions(DB, TZ), load_registry())  # the other tests' targets
    assert state.is_completed(), state
    data = state.result()
    views = {v["view"]: v for v in data["views"]}
    call_days = rows(flows_db, f"SELECT count() FROM {DB}.calls_daily WHERE touchpoint = 'call_centre' "
                               f"AND day >= {{lo:Date}} AND day <= {{hi:Date}}", lo=lo, hi=hi)[0][0]
    calls = views["calls_daily"]
    assert (calls["added"], calls["removed"], calls["changed"]) == (0, 0, call_days) and call_days == 7
    for example in calls["examples"]["changed"]:
        assert example["key"] == '["call_centre"]'
        cols = example["columns"]
        assert cols["answered_in_sla"]["after"] < cols["answered_in_sla"]["before"]
        assert cols["service_level"]["after"] < cols["service_level"]["before"]
    for view in ("nps_daily", "calls_hourly", "reviews_daily", "purchases_daily", "ingest_daily"):
        assert (views[view]["changed"], views[view]["added"], views[view]["removed"]) == (0, 0, 0), view
        assert views[view]["unchanged"] > 0
    assert data["changed"] is True and "calls_daily: 0 added, 0 removed, 7 changed" in data["text"]
    saved = json.loads(Path(data["report_path"]).read_text(encoding="utf-8"))
    assert saved == {k: v for k, v in data.items() if k != "report_path"}
