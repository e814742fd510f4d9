"""The embedded Kafka-protocol broker (noida-db) for first runs, demos and tests.

Only used when TOUCHPULSE_KAFKA is unset. We start its binary ourselves (not its
wrapper) so we own the PID; port and PID are kept in <home>/broker.json.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The local broker could not be started or stopped."""


@dataclass(frozen=True)
class LocalBroker:
    pid: int
    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def binary() -> Path:
    import noida_db
    return Path(noida_db.__file__).parent / "noida-db"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def _state_file(home: Path) -> Path:
    return home / "broker.json"


def running(home: Path) -> LocalBroker | None:
    """The broker started for this home, if it is still alive and listening."""
    try:
        state = json.loads(_state_file(home).read_text())
        broker = LocalBroker(int(state["pid"]), int(state["port"]))
    except (OSError, ValueError, KeyError):
        return None
    if _alive(broker.pid) and port_open(broker.port):
        return broker
    return None


def start(home: Path, port: int | None = None, timeout: float = 20.0) -> LocalBroker:
    """Start (or find already running) the broker for this home; idempotent."""
    existing = running(home)
    if existing:
        return existing
    home.mkdir(parents=True, exist_ok=True)
    data = home / "kafka"
    data.mkdir(exist_ok=True)
    port = port or _previous_port(home) or free_port()
    if port_open(port):
        port = free_port()
    log_path = home / "broker.log"
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(
            [str(binary()), "start", "--data-dir", str(data), "--host", "127.0.0.1",
             "--only", "kafka", "--kafka-port", str(port)],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while not port_open(port):
        if proc.poll() is not None:
            raise BrokerError(f"local broker exited with code {proc.returncode}; see {log_path}")
        if time.monotonic() > deadline:
            proc.kill()
            raise BrokerError(f"local broker did not open port {port} within {timeout:.0f} s; see {log_path}")
        time.sleep(0.05)
    broker = LocalBroker(proc.pid, port)
    _state_file(home).write_text(json.dumps({"pid": broker.pid, "port": broker.port}))
    log.info("local Kafka broker started on %s (pid %d, data in %s)", broker.bootstrap, broker.pid, data)
    return broker


def stop(home: Path, timeout: float = 15.0) -> bool:
    """Stop the broker of this home; True if one was running. Its data stays on disk."""
    broker = running(home)
    if broker is None:
        return False
    os.kill(broker.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(broker.pid):
        if time.monotonic() > deadline:
            os.kill(broker.pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    log.info("local Kafka broker (pid %d) stopped; data kept in %s", broker.pid, home / "kafka")
    return True


def _previous_port(home: Path) -> int | None:
    try:
        return int(json.loads(_state_file(home).read_text())["port"])
    except (OSError, ValueError, KeyError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True
