"""The serve settings, and how local commands find a serving worker (and never trust a stale file)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from touchpulse.serve import discovery
from touchpulse.serve.discovery import Endpoint, find_worker, password, publish, withdraw
from touchpulse.settings import SettingsError, load_settings


def settings_for(tmp_path, **env):
    return load_settings({"TOUCHPULSE_HOME": str(tmp_path), **env}, dotenv=None)


def test_serve_settings_default_to_loopback_and_can_be_turned_off(tmp_path):
    s = settings_for(tmp_path)
    assert s.serve_address == ("127.0.0.1", 8124) and s.serve_user == "touchpulse" and s.serve_readers == 2
    assert settings_for(tmp_path, TOUCHPULSE_SERVE="off").serve_address is None
    assert settings_for(tmp_path, TOUCHPULSE_SERVE="[::1]:0").serve_address == ("::1", 0)
    # A ClickHouse server is readable by anyone with a client: no endpoint then.
    assert settings_for(tmp_path, TOUCHPULSE_CLICKHOUSE="http://u:p@ch:8123").serve_address is None
    for bad in ("8124", "localhost", "127.0.0.1:99999", "a b:1", "127.0.0.1:x"):
        with pytest.raises(SettingsError, match="TOUCHPULSE_SERVE"):
            settings_for(tmp_path, TOUCHPULSE_SERVE=bad)
    with pytest.raises(SettingsError, match="TOUCHPULSE_SERVE_USER"):
        settings_for(tmp_path, TOUCHPULSE_SERVE_USER="a'b")
    with pytest.raises(SettingsError, match="TOUCHPULSE_SERVE_READERS"):
        settings_for(tmp_path, TOUCHPULSE_SERVE_READERS="0")
    assert settings_for(tmp_path, TOUCHPULSE_SERVE_PASSWORD="pw-9f1e").public()["serve_password"] == "***"


def test_the_generated_password_is_private_and_kept(tmp_path):
    s = settings_for(tmp_path)
    assert password(s) is None
    first = password(s, create=True)
    assert len(first) >= 24 and password(s, create=True) == first == password(s)
    assert stat.S_IMODE(os.stat(tmp_path / discovery.PASSWORD_FILE).st_mode) == 0o600
    assert password(settings_for(tmp_path, TOUCHPULSE_SERVE_PASSWORD="mine")) == "mine"


class _Ping(BaseHTTPRequestHandler):
    claimed_pid = "0"

    def do_GET(self):
        self.send_response(200)
        self.send_header(discovery.WORKER_HEADER, self.claimed_pid)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"Ok.\n")

    def log_message(self, *args):
        pass


@pytest.fixture
def other_process():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def pinger():
    handler = type("Ping", (_Ping,), {})
    srv = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, handler
    srv.shutdown()
    srv.server_close()


def test_a_live_worker_is_found_and_a_stale_file_ignored(tmp_path, other_process, pinger):
    s = settings_for(tmp_path)
    srv, handler = pinger
    assert find_worker(s) is None  # no file
    endpoint = Endpoint(other_process, "127.0.0.1", srv.server_address[1], "touchpulse", "touchpulse")
    path = publish(s, endpoint)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and "password" not in path.read_text()
    handler.claimed_pid = str(other_process)
    assert find_worker(s) == endpoint
    handler.claimed_pid = "1"  # the port now answers for another process: not our worker
    assert find_worker(s) is None
    handler.claimed_pid = str(other_process)
    publish(s, Endpoint(other_process, "127.0.0.1", 9, "touchpulse", "touchpulse"))  # nothing listens there
    assert find_worker(s) is None
    publish(s, Endpoint(2**22 + 12345, "127.0.0.1", srv.server_address[1], "touchpulse", "touchpulse"))  # no such pid
    assert find_worker(s) is None
    (tmp_path / discovery.ADDRESS_FILE).write_text("{not json")
    assert find_worker(s) is None


def test_only_the_worker_that_wrote_the_file_removes_it(tmp_path):
    s = settings_for(tmp_path)
    publish(s, Endpoint(123, "127.0.0.1", 1, "u", "d"))
    withdraw(s, 456)
    assert json.loads((tmp_path / discovery.ADDRESS_FILE).read_text())["pid"] == 123
    withdraw(s, 123)
    assert not (tmp_path / discovery.ADDRESS_FILE).exists()
    withdraw(s, 123)  # already gone: fine


def test_readers_go_through_a_serving_worker_and_say_so(tmp_path, chdb_path, chdb_client, other_process, monkeypatch):
    """connect(read_only=True) on the embedded default, with a worker serving that directory: an HTTP client to
    it, marked so that query_view leaves batch completion to the worker."""
    from touchpulse.clickhouse.client import ClickHouseUnavailable, connect, reads_through_worker
    from touchpulse.serve.engine import Engine
    from touchpulse.serve.server import ReadServer

    s = settings_for(tmp_path, TOUCHPULSE_CLICKHOUSE=f"chdb://{chdb_path}", TOUCHPULSE_SERVE_PASSWORD="pw")
    engine = Engine(str(chdb_path))
    srv = ReadServer(("127.0.0.1", 0), engine, "touchpulse", "pw", readers=1)
    srv.pid = other_process  # as if another process served it
    srv.start()
    try:
        publish(s, Endpoint(other_process, "127.0.0.1", srv.port, "touchpulse", "touchpulse"))
        c = connect(s, read_only=True)
        assert reads_through_worker(c) and c.command("SELECT 1") == 1
        writer = connect(s)  # in this process chDB opens directly (the worker would be another process)
        assert not reads_through_worker(writer)
        c.close()
        writer.close()
        with pytest.raises(ClickHouseUnavailable, match="refused the password"):
            connect(settings_for(tmp_path, TOUCHPULSE_CLICKHOUSE=f"chdb://{chdb_path}",
                                 TOUCHPULSE_SERVE_PASSWORD="wrong-" + uuid.uuid4().hex), read_only=True)
    finally:
        srv.stop()
        engine.close()
