"""One DSN switches between embedded chDB and a ClickHouse server; same SQL, same client API."""

from __future__ import annotations

import logging
import os
from typing import Any

import clickhouse_connect

from touchpulse.settings import Settings, mask_dsn

log = logging.getLogger(__name__)


class ClickHouseUnavailable(RuntimeError):
    """ClickHouse cannot be reached or opened (server down, chDB directory held by another process)."""


def connect(settings: Settings, **kwargs: Any):
    """A new client (clickhouse-connect clients are not thread-safe: one per thread)."""
    dsn = settings.clickhouse
    if dsn.startswith("chdb:"):
        path = dsn[len("chdb://"):]
        if path.startswith("/"):
            os.makedirs(path, exist_ok=True)
    else:  # clickhouse-connect reads host, port and credentials from a DSN, but not its scheme
        scheme = dsn.split("://", 1)[0].lower()
        kwargs.setdefault("interface", scheme)
        kwargs.setdefault("secure", scheme == "https")
    try:
        return clickhouse_connect.get_client(dsn=dsn, **kwargs)
    except Exception as exc:  # the driver raises many types; callers need one
        hint = ""
        if dsn.startswith("chdb:") and "EmbeddedServer" in str(exc):
            hint = " (another touchpulse process, such as a running worker, holds this chDB directory)"
        raise ClickHouseUnavailable(f"cannot open ClickHouse at {mask_dsn(dsn)}: {_first_line(exc)}{hint}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
