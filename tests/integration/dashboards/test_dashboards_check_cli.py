"""`touchpulse dashboards check` runs every panel's SQL on the configured ClickHouse (a chDB
directory filled by another process, as after `touchpulse up` + a worker drain)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
FILL = """
import sys
from datetime import date
import clickhouse_connect
sys.path.insert(0, {repo!r})
from tests.support.facts import load_simulated
from touchpulse.clickhouse.dashboard_views import dashboard_view_statements
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.core.touchpoints import load_registry
client = clickhouse_connect.get_client(dsn="chdb://{dsn}")
load_simulated(client, "touchpulse", days=3, seed=11, end_day=date(2025, 3, 16), timezone="Europe/Moscow")
for stmt in dashboard_view_statements(SchemaOptions("touchpulse", "Europe/Moscow"), load_registry()):
    client.command(stmt)
client.command("DROP VIEW touchpulse.reviews_overdue")  # as if someone broke one view
"""


def test_check_reports_every_panel_and_fails_on_broken_sql(tmp_path):
    home = tmp_path / "home"
    subprocess.run([sys.executable, "-c", FILL.format(repo=str(REPO), dsn=str(home / "clickhouse"))],
                   check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
    env.update(TOUCHPULSE_HOME=str(home), TOUCHPULSE_TIMEZONE="Europe/Moscow")
    cli = [sys.executable, "-m", "touchpulse.cli", "dashboards", "check", "--end", "2025-03-17",
           "--days", "3", "--json"]
    done = subprocess.run(cli, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    failed = [line for line in lines if line["error"]]
    assert len(lines) > 100 and sum(line["rows"] > 0 for line in lines) > 80
    # exactly the two panels on the dropped view fail, each reported with ClickHouse's reason
    assert [f["panel"].split(" ")[0] for f in failed] == ["touchpulse-reviews"] * 2
    assert all("UNKNOWN_TABLE" in f["error"] for f in failed) and "2 failed" in done.stderr

    env["TOUCHPULSE_DATABASE"] = "nothing_here"
    done = subprocess.run(cli, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("touchpulse: error: ClickHouse:") and "UNKNOWN_DATABASE" in done.stderr
    assert done.stderr.count("\n") == 1
