"""infra/grafana-local: Grafana alone against a laptop's worker, with the plugin settings its read
endpoint needs (HTTP, not secure, the worker's port, user and password), nothing beyond loopback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from touchpulse.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[3]
LOCAL = ROOT / "infra" / "grafana-local"
VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(:-|:\?|-|\?)?([^}]*)\}")


def compose() -> dict:
    return yaml.safe_load((LOCAL / "compose.yaml").read_text(encoding="utf-8"))


def datasource() -> dict:
    doc = yaml.safe_load((LOCAL / "provisioning/datasources/touchpulse-worker.yaml").read_text(encoding="utf-8"))
    (ds,) = doc["datasources"]
    return ds


def test_the_datasource_speaks_http_to_the_worker_with_its_credentials():
    ds = datasource()
    assert ds["type"] == "grafana-clickhouse-datasource" and ds["uid"] == "touchpulse-clickhouse"
    j = ds["jsonData"]
    assert j["protocol"] == "http" and j["secure"] is False and j["path"] == ""
    assert (j["host"], j["port"], j["username"], j["defaultDatabase"]) == \
        ("$TOUCHPULSE_SERVE_HOST", "$TOUCHPULSE_SERVE_PORT", "$TOUCHPULSE_SERVE_USER", "$TOUCHPULSE_DATABASE")
    assert ds["secureJsonData"] == {"password": "$TOUCHPULSE_SERVE_PASSWORD"}
    assert int(j["queryTimeout"]) <= 60  # the endpoint stops a read after 60 s


def test_every_dashboard_uses_that_datasource():
    for path in (ROOT / "infra/grafana/dashboards").glob("*.json"):
        model = json.loads(path.read_text())
        assert "touchpulse-clickhouse" in json.dumps(model), path


def test_grafana_stays_on_loopback_and_finds_the_worker_there():
    services = compose()["services"]
    host = services["grafana"]
    env = host["environment"]
    assert host["network_mode"] == "host" and "ports" not in host
    assert env["GF_SERVER_HTTP_ADDR"] == "127.0.0.1"
    assert env["TOUCHPULSE_SERVE_HOST"] == "${TOUCHPULSE_SERVE_HOST:-127.0.0.1}"
    desktop = services["grafana-desktop"]
    assert desktop["profiles"] == ["desktop"]
    assert desktop["environment"]["TOUCHPULSE_SERVE_HOST"] == "${TOUCHPULSE_SERVE_HOST:-host.docker.internal}"
    assert all(p.startswith("127.0.0.1:") for p in desktop["ports"])
    for svc in (host, desktop):
        e = svc["environment"]
        assert e["GF_INSTALL_PLUGINS"] == "grafana-clickhouse-datasource"
        assert e["TOUCHPULSE_SERVE_PASSWORD"].startswith("${TOUCHPULSE_SERVE_PASSWORD:?")
        assert e["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
        mounts = " ".join(svc["volumes"])
        assert "../grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
        assert "./provisioning/datasources:/etc/grafana/provisioning/datasources:ro" in mounts


def test_defaults_agree_with_the_settings_and_the_main_stack():
    defaults = {s.env: s.default for s in SETTINGS}
    text = (LOCAL / "compose.yaml").read_text(encoding="utf-8")
    for m in VAR.finditer(text):
        if m.group(1) in defaults and m.group(2) == ":-":
            assert m.group(3) == defaults[m.group(1)], m.group(0)
    port = next(m.group(3) for m in VAR.finditer(text) if m.group(1) == "TOUCHPULSE_SERVE_PORT")
    assert defaults["TOUCHPULSE_SERVE"].endswith(":" + port)
    main = yaml.safe_load((ROOT / "infra/compose.yaml").read_text(encoding="utf-8"))["services"]["grafana"]
    assert compose()["services"]["grafana"]["image"] == main["image"]
