"""One DSN switches between embedded chDB and a ClickHouse server; same SQL, same client API."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import clickhouse_connect

from touchpulse.settings import Settings, mask_dsn

log = logging.getLogger(__name__)
CHDB_CONFIG = Path(__file__).resolve().parent.parent / "data" / "chdb.xml"


class ClickHouseUnavailable(RuntimeError):
    """ClickHouse cannot be reached or opened (server down, chDB directory held by another process)."""


def connect(settings: Settings, read_only: bool = False, **kwargs: Any):
    """A new client (clickhouse-connect clients are not thread-safe: one per thread).

    `read_only`: the caller only reads. On the embedded default chDB belongs to one process, so
    while a worker runs on this directory a reader gets a client that reads through the worker's
    endpoint (touchpulse/serve/); anything that writes must open chDB itself, and is told to stop
    the worker first."""
    dsn = settings.clickhouse
    if dsn.startswith("chdb:") and read_only:
        client = _through_worker(settings, **kwargs)
        if client is not None:
            return client
    if dsn.startswith("chdb:"):
        path = dsn[len("chdb://"):]
        if path.startswith("/"):
            os.makedirs(path, exist_ok=True)
        if "?" not in dsn:  # the engine's configuration (data/chdb.xml; the first client of a process sets it)
            kwargs.setdefault("chdb_options", {"config-file": str(CHDB_CONFIG)})
    else:  # clickhouse-connect reads host, port and credentials from a DSN, but not its scheme
        scheme = dsn.split("://", 1)[0].lower()
        kwargs.setdefault("interface", scheme)
        kwargs.setdefault("secure", scheme == "https")
    try:
        return clickhouse_connect.get_client(dsn=dsn, **kwargs)
    except Exception as exc:  # the driver raises many types; callers need one
        hint = ""
        if dsn.startswith("chdb:") and "EmbeddedServer" in str(exc):
            from touchpulse.serve.discovery import find_worker
            worker = _wait_for_worker(settings) if read_only else find_worker(settings)
            if worker is not None and read_only:  # a worker was starting: read through it
                client = _through_worker(settings, worker, **kwargs)
                if client is not None:
                    return client
            if worker is not None:
                raise ClickHouseUnavailable(
                    f"cannot open ClickHouse at {mask_dsn(dsn)}: a touchpulse worker (pid {worker.pid}) is running on "
                    "this chDB directory and only reads go through it: stop the worker first, then run this "
                    "again") from None
            hint = " (another touchpulse process, such as a running worker, holds this chDB directory)"
        raise ClickHouseUnavailable(f"cannot open ClickHouse at {mask_dsn(dsn)}: {_first_line(exc)}{hint}") from None


def reads_through_worker(client) -> bool:
    """Whether `client` reads through a running worker (rather than holding chDB itself)."""
    return getattr(client, "touchpulse_endpoint", None) is not None


def _through_worker(settings: Settings, endpoint=None, **kwargs: Any):
    """An HTTP client to the worker serving this home's chDB, or None when none serves it."""
    from touchpulse.serve.discovery import find_worker, password

    endpoint = endpoint or find_worker(settings)
    if endpoint is None:
        return None
    secret = password(settings)
    if secret is None:
        raise ClickHouseUnavailable(f"a touchpulse worker (pid {endpoint.pid}) serves reads at {endpoint.url} but no "
                                    "password for it was found: set TOUCHPULSE_SERVE_PASSWORD to the worker's")
    options = {"connect_timeout": 5, "send_receive_timeout": 120, **kwargs}
    try:
        client = clickhouse_connect.get_client(interface="http", host=endpoint.host, port=endpoint.port,
                                               username=endpoint.user, password=secret, compress=False,
                                               autogenerate_session_id=False, **options)
    except Exception as exc:
        if getattr(exc, "code", None) == 516:
            raise ClickHouseUnavailable(f"the worker's read endpoint at {endpoint.url} refused the password: set "
                                        "TOUCHPULSE_SERVE_PASSWORD to the one the worker uses") from None
        raise ClickHouseUnavailable(f"cannot read through the worker at {endpoint.url}: {_first_line(exc)}") from None
    client.touchpulse_endpoint = endpoint
    log.debug("reading through the worker (pid %d) at %s", endpoint.pid, endpoint.url)
    return client


def _wait_for_worker(settings: Settings, seconds: float = 5.0):
    """A worker that holds chDB but has not published its endpoint yet (it is starting)."""
    import time

    from touchpulse.serve.discovery import find_worker

    deadline = time.monotonic() + seconds
    while True:
        found = find_worker(settings)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
