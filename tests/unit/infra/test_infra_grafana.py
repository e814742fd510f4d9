"""Grafana in infra/: the provisioning files, and the service-account bootstrap script against a
local Grafana HTTP server that enforces the parts of the real API the script uses (basic auth for
the admin, bearer tokens for service accounts, unique names, 401 on a revoked token)."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import secrets
import socket
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
DATASOURCE_UID = "touchpulse-clickhouse"


def load_script():
    spec = importlib.util.spec_from_file_location("grafana_service_account",
                                                  INFRA / "grafana/grafana_service_account.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sa = load_script()


# --- provisioning files ---------------------------------------------------------------------

def test_the_datasource_is_the_clickhouse_plugin_with_a_stable_uid_and_the_reader_login():
    doc = yaml.safe_load((INFRA / "grafana/provisioning/datasources/clickhouse.yaml").read_text())
    assert doc["apiVersion"] == 1
    [ds] = doc["datasources"]
    assert ds["type"] == "grafana-clickhouse-datasource"
    assert ds["uid"] == DATASOURCE_UID
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"]
    assert ds["jsonData"]["host"] == "clickhouse" and "clickhouse" in compose
    assert ds["jsonData"]["protocol"] == "http"
    assert f":{ds['jsonData']['port']}" in compose["clickhouse"]["ports"][0]
    assert ds["jsonData"]["username"] == "touchpulse_reader"
    # Secrets and the database come from Grafana's environment, which compose fills from infra/.env.
    assert ds["secureJsonData"]["password"] == "$CLICKHOUSE_READER_PASSWORD"
    assert ds["jsonData"]["defaultDatabase"] == "$TOUCHPULSE_DATABASE"
    grafana_env = compose["grafana"]["environment"]
    assert {"CLICKHOUSE_READER_PASSWORD", "TOUCHPULSE_DATABASE"} <= set(grafana_env)
    assert grafana_env["CLICKHOUSE_READER_PASSWORD"].startswith("${CLICKHOUSE_READER_PASSWORD:?")


def test_the_refresh_flow_would_find_the_provisioned_datasource_unchanged():
    """The flow builds its datasource from the scheduler's DSN; the file must say the same, or every
    refresh (and every Grafana restart) would flip it back and forth."""
    provision = pytest.importorskip("touchpulse.dashboards.provision",
                                    reason="touchpulse.dashboards.provision is not there yet")
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())["services"]
    env = {"CLICKHOUSE_READER_PASSWORD": "pw", "TOUCHPULSE_DATABASE": "touchpulse"}
    dsn = compose["scheduler"]["environment"]["TOUCHPULSE_CLICKHOUSE"]
    dsn = re.sub(r"\$\{(\w+)[^}]*\}", lambda m: env[m.group(1)], dsn)
    desired = provision.clickhouse_datasource(dsn, "touchpulse")
    [ds] = yaml.safe_load((INFRA / "grafana/provisioning/datasources/clickhouse.yaml").read_text())["datasources"]
    ds["jsonData"]["defaultDatabase"] = env["TOUCHPULSE_DATABASE"]      # Grafana expands $VARS
    ds["secureJsonData"]["password"] = env["CLICKHOUSE_READER_PASSWORD"]
    for key, value in desired.items():
        assert ds.get(key) == value, f"{key}: file has {ds.get(key)!r}, the flow wants {value!r}"


def test_dashboards_are_provisioned_from_the_mounted_folder_and_stay_updatable_by_the_flow():
    doc = yaml.safe_load((INFRA / "grafana/provisioning/dashboards/touchpulse.yaml").read_text())
    [provider] = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert provider["allowUiUpdates"] is True, "refresh-dashboards saves newer versions through the API"
    # The flow puts dashboards in the folder whose uid it derives from its folder title.
    provision = pytest.importorskip("touchpulse.dashboards.provision",
                                    reason="touchpulse.dashboards.provision is not there yet")
    import inspect
    title = inspect.signature(provision.provision).parameters["folder_title"].default
    assert provider["folder"] == title
    assert provider["folderUid"] == provision._slug(title)


def test_generated_dashboards_reference_the_provisioned_datasource():
    folder = INFRA / "grafana/dashboards"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        pytest.skip("infra/grafana/dashboards/ has no dashboards yet (`make dashboards` writes them)")
    refs = []

    def walk(node):
        if isinstance(node, dict):
            ds = node.get("datasource")
            if isinstance(ds, dict) and ds.get("type") == "grafana-clickhouse-datasource":
                refs.append(ds.get("uid"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for f in files:
        walk(json.loads(f.read_text(encoding="utf-8")))
    assert refs, "no panel queries the ClickHouse datasource"
    assert {u for u in refs if not str(u).startswith("$")} <= {DATASOURCE_UID}


# --- a local Grafana for the service-account script ------------------------------------------

class FakeGrafana:
    """Service accounts and tokens as Grafana keeps them; every request is recorded."""

    def __init__(self, user="admin", password="admin-pw"):
        self.user, self.password = user, password
        self.accounts: dict[int, dict] = {}
        self.tokens: dict[str, tuple[int, str]] = {}   # key -> (account id, token name)
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.handle(self, "GET")

            def do_POST(self):
                fake.handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def identity(self, header: str | None):
        if header and header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return "admin" if (user, password) == (self.user, self.password) else None
        if header and header.startswith("Bearer "):
            entry = self.tokens.get(header[7:])
            return f"sa:{entry[0]}" if entry else None
        return None

    def handle(self, h: BaseHTTPRequestHandler, method: str):
        url = urlsplit(h.path)
        with self.lock:
            self.requests.append((method, url.path))
            length = int(h.headers.get("Content-Length") or 0)
            body = json.loads(h.rfile.read(length)) if length else None
            status, payload = self.route(method, url.path, parse_qs(url.query), body,
                                         self.identity(h.headers.get("Authorization")))
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def route(self, method, path, query, body, who):
        if path == "/api/health":
            return 200, {"database": "ok"}
        if who is None:
            return 401, {"message": "Unauthorized"}
        if path == "/api/org" and method == "GET":
            return 200, {"id": 1, "name": "Main Org."}
        if who != "admin":
            return 403, {"message": "You'll need additional permissions to perform this action."}
        if path == "/api/serviceaccounts/search" and method == "GET":
            q = query.get("query", [""])[0]
            found = [a for a in self.accounts.values() if q in a["name"]]
            return 200, {"totalCount": len(found), "serviceAccounts": found, "page": 1, "perPage": 1000}
        if path == "/api/serviceaccounts" and method == "POST":
            if not body or not body.get("name") or body.get("role") not in ("Viewer", "Editor", "Admin", "None"):
                return 400, {"message": "bad request data"}
            if any(a["name"] == body["name"] for a in self.accounts.values()):
                return 400, {"message": "service account already exists"}
            new_id = len(self.accounts) + 1
            self.accounts[new_id] = {"id": new_id, "name": body["name"], "login": f"sa-{body['name']}",
                                     "orgId": 1, "isDisabled": False, "role": body["role"], "tokens": 0}
            return 201, self.accounts[new_id]
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "serviceaccounts"] and len(parts) == 4 and parts[3] == "tokens" and method == "POST":
            account = self.accounts.get(int(parts[2]))
            if account is None:
                return 404, {"message": "service account not found"}
            if not body or not body.get("name"):
                return 400, {"message": "bad request data"}
            if any(aid == account["id"] and name == body["name"] for aid, name in self.tokens.values()):
                return 409, {"message": "service account token with given name already exists"}
            key = "glsa_" + secrets.token_hex(16)
            self.tokens[key] = (account["id"], body["name"])
            account["tokens"] += 1
            return 200, {"id": len(self.tokens), "name": body["name"], "key": key}
        return 404, {"message": "Not found"}


@pytest.fixture
def grafana():
    g = FakeGrafana()
    yield g
    g.close()


def env_for(g: FakeGrafana, token_file: Path, **extra) -> dict:
    return {"GRAFANA_URL": g.url, "GRAFANA_ADMIN_USER": g.user, "GRAFANA_ADMIN_PASSWORD": g.password,
            "TOKEN_FILE": str(token_file), "GRAFANA_WAIT_SECONDS": "5", **extra}


def test_first_run_creates_an_admin_service_account_and_a_private_token_file(grafana, tmp_path, capsys):
    token_file = tmp_path / "secrets" / "grafana-token"
    assert sa.main(env_for(grafana, token_file)) == 0
    token = token_file.read_text().strip()
    assert token in grafana.tokens
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    [account] = grafana.accounts.values()
    assert (account["name"], account["role"]) == ("touchpulse", "Admin")
    assert grafana.identity(f"Bearer {token}") == f"sa:{account['id']}"
    assert "issued a new token" in capsys.readouterr().out


def test_a_working_token_is_kept_and_a_revoked_one_replaced_on_the_same_account(grafana, tmp_path, capsys):
    token_file = tmp_path / "grafana-token"
    assert sa.main(env_for(grafana, token_file)) == 0
    first = token_file.read_text().strip()
    assert sa.main(env_for(grafana, token_file)) == 0
    assert token_file.read_text().strip() == first
    assert len(grafana.tokens) == 1, "a restart must not pile up tokens"
    assert "kept the token" in capsys.readouterr().out
    del grafana.tokens[first]  # revoked in the UI
    assert sa.main(env_for(grafana, token_file)) == 0
    second = token_file.read_text().strip()
    assert second != first and second in grafana.tokens
    assert len(grafana.accounts) == 1 and grafana.accounts[1]["tokens"] == 2


def test_an_existing_service_account_is_reused_when_the_token_file_is_gone(grafana, tmp_path):
    grafana.accounts[1] = {"id": 1, "name": "touchpulse", "login": "sa-touchpulse", "orgId": 1,
                           "isDisabled": False, "role": "Admin", "tokens": 0}
    grafana.accounts[2] = {"id": 2, "name": "touchpulse-old", "login": "sa-touchpulse-old", "orgId": 1,
                           "isDisabled": False, "role": "Viewer", "tokens": 0}
    assert sa.main(env_for(grafana, tmp_path / "t")) == 0
    assert len(grafana.accounts) == 2 and grafana.accounts[1]["tokens"] == 1
    assert ("POST", "/api/serviceaccounts") not in grafana.requests


def test_wrong_admin_password_is_one_line_and_writes_nothing(grafana, tmp_path, capsys):
    token_file = tmp_path / "t"
    code = sa.main(env_for(grafana, token_file, GRAFANA_ADMIN_PASSWORD="nope"))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "GRAFANA_ADMIN_PASSWORD" in err and "Traceback" not in err
    assert not token_file.exists() and not grafana.accounts


def test_a_token_from_the_environment_wins_and_nothing_is_created(grafana, tmp_path):
    assert sa.main(env_for(grafana, tmp_path / "t", TOUCHPULSE_GRAFANA_TOKEN="glsa_given")) == 0
    assert grafana.requests == [] and not (tmp_path / "t").exists()


def test_an_unreachable_grafana_is_reported_in_words(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = sa.main({"GRAFANA_URL": f"http://127.0.0.1:{port}", "GRAFANA_ADMIN_PASSWORD": "x",
                    "TOKEN_FILE": str(tmp_path / "t"), "GRAFANA_WAIT_SECONDS": "0"})
    err = capsys.readouterr().err
    assert code == 1 and "cannot reach Grafana" in err and "Traceback" not in err
