"""Fixtures shared by every test suite.

chDB allows one data directory per process for the process lifetime, so all in-process
ClickHouse tests share the session's `chdb_client` and isolate themselves by database
name (one database per test). Tests that need a second process on chDB (worker, CLI)
must start it as a subprocess with its own directory.
"""

from __future__ import annotations

import os

import pytest

# Workers that tests start serve reads on a port of their own (found through serve.json): the
# suite runs in two processes (pytest-xdist), and two workers cannot share the default port.
os.environ.setdefault("TOUCHPULSE_SERVE", "127.0.0.1:0")


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory):
    """The session's embedded chDB directory (more clients on it may be opened in this process)."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(scope="session")
def chdb_client(chdb_path):
    """A clickhouse-connect client on the session's embedded chDB directory."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    yield client
    client.close()
