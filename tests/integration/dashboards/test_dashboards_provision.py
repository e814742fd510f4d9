"""Provisioning through grafana-client against the local Grafana API server."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from grafana_client import GrafanaApi

from tests.support.fake_grafana import FakeGrafana
from touchpulse.dashboards.alerts import GROUP_INTERVAL_SECONDS
from touchpulse.dashboards.build import build_all
from touchpulse.dashboards.provision import ProvisionError, annotate, clickhouse_datasource, provision

TOUCHPOINTS = ["billing", "call_centre"]


@pytest.fixture
def grafana():
    with FakeGrafana(token="service-token") as g:
        yield g


@pytest.fixture
def api(grafana):
    return GrafanaApi.from_url(grafana.url, credential=grafana.token)


@pytest.fixture
def datasource():
    return clickhouse_datasource("http://grafana_reader:pw@clickhouse:8123", "touchpulse")


def test_first_run_creates_everything_and_a_second_run_writes_nothing(grafana, api, datasource):
    models = build_all(TOUCHPOINTS, timezone="Europe/Moscow")
    first = provision(api, models, datasource)
    assert first == {"folder": {"created": 1, "updated": 0, "unchanged": 0},
                     "datasource": {"created": 1, "updated": 0, "unchanged": 0},
                     "dashboards": {"created": 7, "updated": 0, "unchanged": 0},
                     "alert_rules": {"created": 4, "updated": 0, "unchanged": 0}}
    assert {uid: grafana.dashboard_version(uid) for uid in models} == dict.fromkeys(models, 1)
    stored = grafana.state.dashboards["touchpulse-nps"]
    assert stored["folderUid"] == "touchpulse" and stored["dashboard"]["panels"] == models["touchpulse-nps"]["panels"]
    ds = grafana.state.datasources["touchpulse-clickhouse"]
    assert ds["type"] == "grafana-clickhouse-datasource" and ds["jsonData"]["defaultDatabase"] == "touchpulse"
    assert ds["secureJsonData"] == {"password": "pw"} and ds["jsonData"]["username"] == "grafana_reader"
    assert grafana.state.rule_groups[("touchpulse", "touchpulse")] == GROUP_INTERVAL_SECONDS
    rules = grafana.state.rules
    assert "Europe/Moscow" in rules["touchpulse-nps-drop"]["data"][0]["model"]["rawSql"]  # zone of the models
    writes = len(grafana.state.writes)

    second = provision(api, build_all(TOUCHPOINTS, timezone="Europe/Moscow"), datasource)
    assert second == {"folder": {"created": 0, "updated": 0, "unchanged": 1},
                      "datasource": {"created": 0, "updated": 0, "unchanged": 1},
                      "dashboards": {"created": 0, "updated": 0, "unchanged": 7},
                      "alert_rules": {"created": 0, "updated": 0, "unchanged": 4}}
    assert len(grafana.state.writes) == writes  # not a single write: no new versions anywhere
    assert all(len(v) == 1 for v in grafana.state.versions.values())


def test_only_changed_dashboards_get_a_new_version(grafana, api, datasource):
    provision(api, build_all(TOUCHPOINTS), datasource)
    result = provision(api, build_all(TOUCHPOINTS + ["pop_up_store"]), datasource)
    # the new touchpoint is in the touchpoint variable of every dashboard that has one
    assert result["dashboards"] == {"created": 0, "updated": 6, "unchanged": 1}
    assert grafana.dashboard_version("touchpulse-pipeline") == 1
    assert grafana.dashboard_version("touchpulse-nps") == 2
    assert "'pop_up_store'" in grafana.state.dashboards["touchpulse-nps"]["dashboard"]["templating"]["list"][0]["query"]


def test_a_human_edit_is_detected_and_replaced_by_the_code(grafana, api, datasource):
    models = build_all(TOUCHPOINTS)
    provision(api, models, datasource)
    grafana.edit_dashboard("touchpulse-reviews", title="Reviews (edited by hand)")
    result = provision(api, models, datasource)
    assert result["dashboards"] == {"created": 0, "updated": 1, "unchanged": 6}
    assert grafana.state.dashboards["touchpulse-reviews"]["dashboard"]["title"] == "Reviews"
    assert grafana.dashboard_version("touchpulse-reviews") == 3


def test_a_save_racing_ours_gets_412_and_is_retried_on_a_fresh_read(grafana, api, datasource, monkeypatch):
    models = build_all(TOUCHPOINTS)
    provision(api, models, datasource)
    changed = build_all(TOUCHPOINTS + ["kiosk"])
    real_get = api.dashboard.get_dashboard
    raced = []

    def get_then_someone_saves(uid):
        current = real_get(uid)
        if uid == "touchpulse-loyalty" and not raced:
            raced.append(uid)
            grafana.edit_dashboard(uid, description="saved in the UI meanwhile")  # makes our version stale
        return current

    monkeypatch.setattr(api.dashboard, "get_dashboard", get_then_someone_saves)
    posted = []
    real_update = api.dashboard.update_dashboard
    monkeypatch.setattr(api.dashboard, "update_dashboard", lambda body: posted.append(body) or real_update(body))
    result = provision(api, changed, datasource)
    assert raced == ["touchpulse-loyalty"]
    assert result["dashboards"]["updated"] == 6
    loyalty = [b for b in posted if b["dashboard"]["uid"] == "touchpulse-loyalty"]
    assert [b["dashboard"]["version"] for b in loyalty] == [1, 2]  # refused with 412, then saved on version 2
    assert all(b["overwrite"] is False for b in posted)
    assert grafana.state.dashboards["touchpulse-loyalty"]["dashboard"]["description"] == \
        changed["touchpulse-loyalty"]["description"]


def test_a_title_taken_by_another_dashboard_is_a_clear_error(grafana, api, datasource):
    provision(api, build_all(TOUCHPOINTS), datasource)
    other = build_all(TOUCHPOINTS)["touchpulse-reviews"]
    other["uid"] = "someone-elses"
    with pytest.raises(ProvisionError, match="another dashboard in the folder has the title 'Reviews'"):
        provision(api, {"someone-elses": other}, datasource)


def test_a_wrong_token_is_a_clear_error(grafana, datasource):
    bad = GrafanaApi.from_url(grafana.url, credential="expired")
    with pytest.raises(ProvisionError, match=r"rejected the token \(401\).*TOUCHPULSE_GRAFANA_TOKEN"):
        provision(bad, build_all(TOUCHPOINTS), datasource)
    assert grafana.state.writes == []


def test_grafana_down_is_a_clear_error(datasource):
    with FakeGrafana() as g:
        url = g.url
    api = GrafanaApi.from_url(url, credential="x", timeout=2)
    with pytest.raises(ProvisionError, match="cannot (reach|talk to) Grafana"):
        provision(api, build_all(TOUCHPOINTS), datasource)


def test_panels_must_point_at_the_provisioned_datasource(grafana, api, datasource):
    models = build_all(TOUCHPOINTS, datasource_uid="not-the-provisioned-one")
    with pytest.raises(ProvisionError, match="400.*datasource uid 'not-the-provisioned-one'"):
        provision(api, models, datasource)


def test_a_datasource_name_clash_is_a_clear_error(grafana, api, datasource):
    api.datasource.create_datasource(dict(datasource, uid="hand-made"))
    with pytest.raises(ProvisionError, match="409.*same name"):
        provision(api, build_all(TOUCHPOINTS), datasource)


def test_a_changed_datasource_or_rule_is_updated_in_place(grafana, api, datasource):
    models = build_all(TOUCHPOINTS)
    provision(api, models, datasource)
    moved = clickhouse_datasource("https://grafana_reader:pw@ch.internal:8443", "touchpulse")
    result = provision(api, models, moved, service_level_target=0.9)
    assert result["datasource"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert result["alert_rules"] == {"created": 0, "updated": 1, "unchanged": 3}  # the service-level goal moved
    ds = grafana.state.datasources["touchpulse-clickhouse"]
    assert ds["jsonData"]["host"] == "ch.internal" and ds["jsonData"]["secure"] is True and ds["version"] == 2
    rule = grafana.state.rules["touchpulse-service-level"]
    assert rule["data"][1]["model"]["conditions"][0]["evaluator"] == {"params": [0.9], "type": "lt"}


def test_chdb_cannot_be_a_grafana_datasource():
    with pytest.raises(ProvisionError, match="needs a ClickHouse server URL"):
        clickhouse_datasource("chdb:///var/lib/touchpulse/clickhouse", "touchpulse")


def test_annotations_are_added_once(grafana, api, datasource):
    provision(api, build_all(TOUCHPOINTS), datasource)
    items = [{"time": datetime(2025, 3, 10, 21, tzinfo=timezone.utc), "text": "billing NPS -18 (±9)",
              "tags": ["billing"]},
             {"time": 1741651200000, "text": "website NPS +12 (±8)"}]
    assert annotate(api, "touchpulse-nps", items) == {"created": 2, "unchanged": 0}
    assert annotate(api, "touchpulse-nps", items) == {"created": 0, "unchanged": 2}
    stored = grafana.state.annotations
    assert len(stored) == 2 and stored[0]["time"] == 1741640400000
    assert stored[0]["dashboardUID"] == "touchpulse-nps" and stored[0]["tags"] == ["billing", "touchpulse"]
    with pytest.raises(ValueError, match="timezone-aware"):
        annotate(api, "touchpulse-nps", [{"time": datetime(2025, 3, 10), "text": "x"}])
