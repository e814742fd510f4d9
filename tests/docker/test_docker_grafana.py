"""Dashboards into a real Grafana and back, the way the compose deployment does it.

Grafana starts with infra/grafana/provisioning (datasource and dashboards from files); then the
refresh-dashboards code path (touchpulse.dashboards.provision) pushes the models through the
API with a service-account token made by infra/grafana/grafana_service_account.py, and reads
them back. It must find the file-provisioned datasource and folder unchanged, and may update
file-provisioned dashboards (allowUiUpdates).
"""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

INFRA = Path(__file__).resolve().parents[2] / "infra"
DATASOURCE_UID = "touchpulse-clickhouse"


def dashboards_code():
    build = pytest.importorskip("touchpulse.dashboards.build", reason="touchpulse.dashboards.build is not there yet")
    provision = pytest.importorskip("touchpulse.dashboards.provision",
                                    reason="touchpulse.dashboards.provision is not there yet")
    if not hasattr(build, "build_all") or not hasattr(provision, "provision"):
        pytest.skip("touchpulse.dashboards has no build_all/provision yet")
    return build, provision


def service_account_script():
    spec = importlib.util.spec_from_file_location("grafana_service_account",
                                                  INFRA / "grafana/grafana_service_account.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def token(grafana_server, tmp_path_factory) -> str:
    sa = service_account_script()
    grafana = sa.Grafana(grafana_server.url, grafana_server.user, grafana_server.password)
    sa.wait_ready(grafana, 60)
    value, _ = sa.ensure_token(grafana, tmp_path_factory.mktemp("secrets") / "grafana-token")
    assert grafana.token_works(value)
    return value


def get(grafana_server, token: str, path: str):
    request = urllib.request.Request(grafana_server.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def stripped(model: dict) -> dict:
    return {k: v for k, v in model.items() if k not in ("id", "version")}


def test_the_clickhouse_plugin_is_installed(grafana_server, token):
    plugin = get(grafana_server, token, "/api/plugins/grafana-clickhouse-datasource/settings")
    assert plugin["id"] == "grafana-clickhouse-datasource" and plugin["type"] == "datasource"


def test_files_provision_the_datasource_and_the_dashboards(grafana_server, token):
    if not grafana_server.file_provisioned:
        pytest.skip("TOUCHPULSE_TEST_GRAFANA names a Grafana this suite did not provision from infra/ files")
    ds = get(grafana_server, token, f"/api/datasources/uid/{DATASOURCE_UID}")
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["jsonData"]["defaultDatabase"] == grafana_server.database, "$TOUCHPULSE_DATABASE was not expanded"
    assert ds["jsonData"]["username"] == "touchpulse_reader"
    assert ds["secureJsonFields"].get("password") is True
    found = get(grafana_server, token, "/api/search?type=dash-db&folderUIDs=touchpulse")
    assert found, "no dashboard was provisioned into the touchpulse folder"
    assert {d["folderUid"] for d in found} == {"touchpulse"}


def test_provisioning_through_the_api_agrees_with_the_files_and_reads_back(grafana_server, token):
    build, provision = dashboards_code()
    from grafana_client import GrafanaApi

    api = GrafanaApi.from_url(grafana_server.url, credential=token)
    datasource = provision.clickhouse_datasource(
        f"http://touchpulse_reader:{grafana_server.reader_password}@clickhouse:8123", grafana_server.database)
    models = build.build_all(list(grafana_server.touchpoints), database=grafana_server.database)

    first = provision.provision(api, models, datasource)
    if grafana_server.file_provisioned:
        # What the files put there is what the flow wants: nothing to create, no datasource churn.
        assert first["folder"] == {"created": 0, "updated": 0, "unchanged": 1}
        assert first["datasource"] == {"created": 0, "updated": 0, "unchanged": 1}
        assert first["dashboards"]["created"] == 0
    assert sum(first["dashboards"].values()) == len(models)

    for uid, model in models.items():
        stored = api.dashboard.get_dashboard(uid)
        assert stripped(stored["dashboard"]) == stripped(model), uid
        assert stored["meta"]["folderUid"] == "touchpulse"

    second = provision.provision(api, models, datasource)
    assert second["dashboards"] == {"created": 0, "updated": 0, "unchanged": len(models)}
    assert second["datasource"]["unchanged"] == 1

    # A new touchpoint in the data: the flow saves new versions over the file-provisioned ones.
    grown = build.build_all([*grafana_server.touchpoints, "new_kiosk"], database=grafana_server.database)
    third = provision.provision(api, grown, datasource)
    assert third["dashboards"]["updated"] >= 1
    for uid, model in grown.items():
        assert stripped(api.dashboard.get_dashboard(uid)["dashboard"]) == stripped(model), uid
