"""The fake Grafana keeps the real API's promises (checked over raw HTTP, not through our client)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.support.fake_grafana import FakeGrafana

DS = {"name": "CH", "type": "grafana-clickhouse-datasource", "uid": "ch", "access": "proxy",
      "jsonData": {"host": "ch", "port": 9000}, "secureJsonData": {"password": "s3cret"}}


@pytest.fixture
def grafana():
    with FakeGrafana(token="tok") as g:
        yield g


def call(g, method, path, body=None, token="tok"):
    req = urllib.request.Request(g.url + path, method=method, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def dashboard(title="Board", version=None, ds="ch", **extra):
    d = {"uid": "b1", "title": title, "panels": [{"id": 1, "type": "stat", "title": "x",
                                                 "datasource": {"type": "grafana-clickhouse-datasource", "uid": ds},
                                                 "targets": [{"refId": "A", "datasource": {"uid": ds}}]}], **extra}
    if version is not None:
        d["version"] = version
    return d


def test_bearer_token_is_required(grafana):
    assert call(grafana, "GET", "/api/folders", token=None)[0] == 401
    status, body = call(grafana, "GET", "/api/folders", token="wrong")
    assert status == 401 and body["message"] == "Invalid API key"
    assert call(grafana, "GET", "/api/health", token=None)[0] == 200


def test_datasources_by_uid_hide_secrets_and_refuse_duplicate_names(grafana):
    assert call(grafana, "GET", "/api/datasources/uid/ch")[0] == 404
    status, body = call(grafana, "POST", "/api/datasources", DS)
    assert status == 200 and body["message"] == "Datasource added"
    status, ds = call(grafana, "GET", "/api/datasources/uid/ch")
    assert "secureJsonData" not in ds and ds["secureJsonFields"] == {"password": True} and ds["version"] == 1
    assert call(grafana, "POST", "/api/datasources", dict(DS, uid="other"))[0] == 409  # same name
    assert call(grafana, "POST", "/api/datasources", dict(DS, name="Other"))[0] == 409  # same uid
    status, body = call(grafana, "PUT", "/api/datasources/uid/ch", dict(DS, jsonData={"port": 8123}))
    assert status == 200 and body["datasource"]["version"] == 2


def test_dashboard_versions_and_conflicts(grafana):
    call(grafana, "POST", "/api/datasources", DS)
    call(grafana, "POST", "/api/folders", {"uid": "f", "title": "F"})
    status, body = call(grafana, "POST", "/api/dashboards/db", {"dashboard": dashboard(), "folderUid": "f"})
    assert status == 200 and body["version"] == 1 and body["status"] == "success"
    status, body = call(grafana, "POST", "/api/dashboards/db",
                        {"dashboard": dashboard(version=1), "folderUid": "f", "overwrite": False})
    assert status == 200 and body["version"] == 2
    status, body = call(grafana, "POST", "/api/dashboards/db",
                        {"dashboard": dashboard(version=1), "folderUid": "f", "overwrite": False})
    assert status == 412 and body["status"] == "version-mismatch"
    status, body = call(grafana, "POST", "/api/dashboards/db",
                        {"dashboard": dashboard(version=1), "folderUid": "f", "overwrite": True})
    assert status == 200 and body["version"] == 3
    status, body = call(grafana, "POST", "/api/dashboards/db",
                        {"dashboard": dict(dashboard(), uid="b2"), "folderUid": "f"})
    assert status == 412 and body["status"] == "name-exists"
    status, got = call(grafana, "GET", "/api/dashboards/uid/b1")
    assert status == 200 and got["dashboard"]["version"] == 3 and got["meta"]["folderUid"] == "f"
    assert call(grafana, "GET", "/api/dashboards/uid/nope")[0] == 404


@pytest.mark.parametrize("body, status", [
    ({"dashboard": dashboard(title="")}, 400),
    ({"dashboard": dict(dashboard(), uid="bad uid!")}, 400),
    ({"dashboard": dashboard(), "folderUid": "missing"}, 400),
    ({"dashboard": dashboard(ds="unknown-ds")}, 400),
])
def test_invalid_dashboards_are_refused(grafana, body, status):
    call(grafana, "POST", "/api/datasources", DS)
    assert call(grafana, "POST", "/api/dashboards/db", body)[0] == status
    assert grafana.state.dashboards == {}


def test_alert_rules_are_validated(grafana):
    call(grafana, "POST", "/api/datasources", DS)
    call(grafana, "POST", "/api/folders", {"uid": "f", "title": "F"})
    rule = {"uid": "r1", "title": "t", "folderUID": "f", "ruleGroup": "g", "condition": "C", "for": "5m",
            "noDataState": "OK", "execErrState": "Error",
            "data": [{"refId": "A", "datasourceUid": "ch", "relativeTimeRange": {"from": 600, "to": 0},
                      "model": {"refId": "A"}},
                     {"refId": "C", "datasourceUid": "__expr__", "model": {"expression": "A", "type": "threshold"}}]}
    assert call(grafana, "POST", "/api/v1/provisioning/alert-rules", dict(rule, condition="Z"))[0] == 400
    assert call(grafana, "POST", "/api/v1/provisioning/alert-rules",
                dict(rule, data=[dict(rule["data"][0], datasourceUid="nope"), rule["data"][1]]))[0] == 400
    status, created = call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule)
    assert status == 201 and created["provenance"] == "api"
    assert call(grafana, "POST", "/api/v1/provisioning/alert-rules", rule)[0] == 409
    assert call(grafana, "PUT", "/api/v1/provisioning/alert-rules/r2", rule)[0] == 404
    status, group = call(grafana, "GET", "/api/v1/provisioning/folder/f/rule-groups/g")
    assert status == 200 and [r["uid"] for r in group["rules"]] == ["r1"]
    assert call(grafana, "PUT", "/api/v1/provisioning/folder/f/rule-groups/g", dict(group, interval=15))[0] == 400


def test_annotations(grafana):
    assert call(grafana, "POST", "/api/annotations", {"time": 1000})[0] == 400  # text is required
    status, body = call(grafana, "POST", "/api/annotations",
                        {"dashboardUID": "nope", "time": 1000, "text": "org-wide", "tags": ["x"]})
    assert status == 200 and body["message"] == "Annotation added"
    status, found = call(grafana, "GET", "/api/annotations?from=0&to=2000&tags=x")
    assert [a["text"] for a in found] == ["org-wide"] and found[0]["dashboardUID"] == ""
