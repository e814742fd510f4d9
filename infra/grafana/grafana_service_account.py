"""Give the flow scheduler a Grafana service-account token, so no admin password reaches touchpulse.

Run once per start by the compose `grafana-token` service (standard library only). Finds or
creates the service account `touchpulse` (role Admin: the refresh-dashboards flow provisions
folders, the datasource, dashboards and alert rules), keeps the token already in TOKEN_FILE
while Grafana still accepts it, and otherwise issues a new one and writes it there (mode 0600).
When TOUCHPULSE_GRAFANA_TOKEN is set, that token is used and nothing is created.

Environment: GRAFANA_URL, GRAFANA_ADMIN_USER, GRAFANA_ADMIN_PASSWORD, TOKEN_FILE,
TOUCHPULSE_GRAFANA_TOKEN (optional). Exit 0 when the token is ready, 1 with one line otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ACCOUNT = "touchpulse"
ROLE = "Admin"


class GrafanaError(RuntimeError):
    """Grafana refused a request or could not be reached."""


class Grafana:
    def __init__(self, url: str, user: str, password: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None, auth: str | None = None):
        """(status, decoded JSON or None); 2xx and 4xx are answers, anything else raises."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": auth or self.basic, "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {})})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500:
                return exc.code, _json(exc.read())
            raise GrafanaError(f"{method} {path}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GrafanaError(f"cannot reach Grafana at {self.url}: {reason}") from None

    def admin(self, method: str, path: str, body: dict | None = None):
        status, payload = self.call(method, path, body)
        if status == 401:
            raise GrafanaError("Grafana refused the admin credentials (GRAFANA_ADMIN_USER / GRAFANA_ADMIN_PASSWORD)")
        if status >= 300:
            raise GrafanaError(f"{method} {path}: HTTP {status} {_message(payload)}")
        return payload

    def token_works(self, token: str) -> bool:
        status, _ = self.call("GET", "/api/org", auth=f"Bearer {token}")
        return status == 200

    def account_id(self) -> int:
        found = self.admin("GET", "/api/serviceaccounts/search?" + urllib.parse.urlencode({"query": ACCOUNT}))
        for account in found.get("serviceAccounts") or []:
            if account.get("name") == ACCOUNT:
                return int(account["id"])
        created = self.admin("POST", "/api/serviceaccounts", {"name": ACCOUNT, "role": ROLE, "isDisabled": False})
        return int(created["id"])

    def new_token(self, account_id: int) -> str:
        name = f"{ACCOUNT}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.urandom(3).hex()}"
        created = self.admin("POST", f"/api/serviceaccounts/{account_id}/tokens", {"name": name})
        return str(created["key"])


def ensure_token(grafana: Grafana, token_file: Path) -> tuple[str, bool]:
    """The token to use and whether it is new."""
    if token_file.is_file():
        old = token_file.read_text(encoding="utf-8").strip()
        if old and grafana.token_works(old):
            return old, False
    token = grafana.new_token(grafana.account_id())
    token_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = token_file.with_name(token_file.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(token + "\n")
    os.replace(tmp, token_file)
    return token, True


def wait_ready(grafana: Grafana, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, _ = grafana.call("GET", "/api/health")
            if status == 200:
                return
        except GrafanaError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise GrafanaError(f"Grafana at {grafana.url} is not healthy")
        time.sleep(1)


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    if env.get("TOUCHPULSE_GRAFANA_TOKEN"):
        print("grafana-token: TOUCHPULSE_GRAFANA_TOKEN is set; using it")
        return 0
    missing = [n for n in ("GRAFANA_URL", "GRAFANA_ADMIN_PASSWORD", "TOKEN_FILE") if not env.get(n)]
    if missing:
        print(f"grafana-token: error: {', '.join(missing)} not set", file=sys.stderr)
        return 1
    grafana = Grafana(env["GRAFANA_URL"], env.get("GRAFANA_ADMIN_USER") or "admin", env["GRAFANA_ADMIN_PASSWORD"])
    try:
        wait_ready(grafana, float(env.get("GRAFANA_WAIT_SECONDS", "60")))
        _, new = ensure_token(grafana, Path(env["TOKEN_FILE"]))
    except (GrafanaError, KeyError, ValueError, OSError) as exc:
        print(f"grafana-token: error: {exc}", file=sys.stderr)
        return 1
    print(f"grafana-token: {'issued a new' if new else 'kept the'} token of service account "
          f"'{ACCOUNT}' in {env['TOKEN_FILE']}")
    return 0


def _json(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _message(payload) -> str:
    return str(payload.get("message", "")) if isinstance(payload, dict) else ""


if __name__ == "__main__":
    sys.exit(main())
