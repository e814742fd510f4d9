"""Where a flow gets its settings and ClickHouse client, and how Prefect is set up before import.

Prefect flows take only plain, serialisable parameters (a day, a directory): Prefect stores
parameters in its database, and settings carry secrets. Tests (and `make demo`) hand a flow
an existing client and settings through `injected(...)`, a context variable, because chDB
allows one data directory per process and the session already holds it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

from touchpulse.settings import Settings, load_settings

_settings: ContextVar[Settings | None] = ContextVar("touchpulse_flow_settings", default=None)
_client: ContextVar[Any] = ContextVar("touchpulse_flow_client", default=None)


@contextmanager
def injected(settings: Settings | None = None, client: Any = None) -> Iterator[None]:
    """Run flows (Prefect or plain) with these settings and this ClickHouse client."""
    tokens = (_settings.set(settings), _client.set(client))
    try:
        yield
    finally:
        _settings.reset(tokens[0])
        _client.reset(tokens[1])


def current_settings() -> Settings:
    return _settings.get() or load_settings()


@contextmanager
def clickhouse(settings: Settings, client: Any = None, read_only: bool = False) -> Iterator[Any]:
    """The given or injected client, else a new one closed afterwards (one client per thread);
    `read_only` flows read through a running worker on the embedded default."""
    given = client if client is not None else _client.get()
    if given is not None:
        yield given
        return
    from touchpulse.clickhouse.client import connect

    own = connect(settings, read_only=read_only)
    try:
        yield own
    finally:
        own.close()


def require_schema(client, database: str) -> None:
    """A flow on a database `touchpulse up` never prepared fails with what to do, not with SQL."""
    from touchpulse.errors import UserError

    found = client.query("SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'nps_daily'",
                         parameters={"db": database}).result_rows[0][0]
    if not found:
        raise UserError(f"ClickHouse database {database!r} has no touchpulse schema yet: run `touchpulse up` first")


def prepare_prefect(settings: Settings) -> dict[str, str]:
    """Environment for Prefect, set before it is imported: its home under TOUCHPULSE_HOME unless the
    user chose one, and no analytics (which also avoids a noisy 'database is locked' traceback)."""
    env = {}
    if not os.environ.get("PREFECT_HOME"):
        home = settings.home / "prefect"
        home.mkdir(parents=True, exist_ok=True)  # Prefect creates only the last level
        env["PREFECT_HOME"] = str(home)
    if not os.environ.get("PREFECT_SERVER_ANALYTICS_ENABLED"):
        env["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ.update(env)
    return env


def api_url() -> str | None:
    """The Prefect server flows report to; None means ephemeral mode (a temporary local server)."""
    url = os.environ.get("PREFECT_API_URL", "").strip()
    if url:
        return url
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None
