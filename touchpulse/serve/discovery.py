"""How local commands find a worker that serves reads: a file under TOUCHPULSE_HOME.

While a worker on the embedded default serves, `<home>/serve.json` (mode 0600) says where:
its pid, host, port and user name. It holds no secret: the password is TOUCHPULSE_SERVE_PASSWORD
when set, else the one generated once into `<home>/serve-password` (mode 0600, kept across runs
so that a Grafana data source configured with it keeps working).

A file left by a killed worker must not mislead anyone: a reader trusts it only when its pid is
alive and the port answers `/ping` as that very worker (the X-Touchpulse-Worker header carries
the pid), within a second.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from touchpulse.settings import Settings

ADDRESS_FILE = "serve.json"
PASSWORD_FILE = "serve-password"
WORKER_HEADER = "X-Touchpulse-Worker"


@dataclass(frozen=True)
class Endpoint:
    pid: int
    host: str
    port: int
    user: str
    database: str

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def password(settings: Settings, create: bool = False) -> str | None:
    """The endpoint's password: the setting, else the generated one (made now if `create`)."""
    if settings.serve_password:
        return settings.serve_password
    path = settings.home / PASSWORD_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
        if text:
            return text
    except FileNotFoundError:
        pass
    if not create:
        return None
    _write_private(path, secrets.token_urlsafe(24) + "\n")
    return path.read_text(encoding="utf-8").strip()


def publish(settings: Settings, endpoint: Endpoint) -> Path:
    """Write the address file (atomically, 0600)."""
    path = settings.home / ADDRESS_FILE
    _write_private(path, json.dumps({"pid": endpoint.pid, "host": endpoint.host, "port": endpoint.port,
                                     "user": endpoint.user, "database": endpoint.database}) + "\n")
    return path


def withdraw(settings: Settings, pid: int) -> None:
    """Remove the address file if it is still this worker's."""
    path = settings.home / ADDRESS_FILE
    found = read(path)
    if found is not None and found.pid == pid:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def read(path: Path) -> Endpoint | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Endpoint(int(data["pid"]), str(data["host"]), int(data["port"]), str(data["user"]),
                        str(data.get("database", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_worker(settings: Settings, timeout: float = 1.0) -> Endpoint | None:
    """The worker serving this home's chDB directory, or None (no file, or a stale one)."""
    if not settings.embedded_clickhouse:
        return None
    found = read(settings.home / ADDRESS_FILE)
    if found is None or found.pid == os.getpid() or not _alive(found.pid):
        return None
    return found if answers(found, timeout) else None


def answers(endpoint: Endpoint, timeout: float = 1.0) -> bool:
    """The endpoint's /ping answers as the worker with that pid."""
    conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        response = conn.getresponse()
        response.read()
        return response.status == 200 and response.getheader(WORKER_HEADER) == str(endpoint.pid)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not our worker
        return False
    return True


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
