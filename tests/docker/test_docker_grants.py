"""The least-privilege users on a real ClickHouse server: what each may and may not do.

The users come from infra/clickhouse/users.sql through the same init script compose mounts;
the schema from `touchpulse up` run as touchpulse_admin.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.docker

DENIED = re.compile(r"ACCESS_DENIED|Not enough privileges|READONLY|Code: (497|164)\b")


@pytest.fixture(scope="module")
def server(clickhouse_server, kafka_bootstrap, tmp_path_factory):
    """The shared server with the schema applied by the admin user, through the CLI."""
    import os
    import subprocess
    import sys
    home = tmp_path_factory.mktemp("grants-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
    env.update(TOUCHPULSE_HOME=str(home), TOUCHPULSE_KAFKA=kafka_bootstrap, TOUCHPULSE_TOPIC_PREFIX="grants.",
               TOUCHPULSE_DATABASE=clickhouse_server.database, TOUCHPULSE_CLICKHOUSE=clickhouse_server.dsn("admin"))
    proc = subprocess.run([sys.executable, "-m", "touchpulse.cli", "up"], env=env, capture_output=True,
                          timeout=600, cwd=home)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return clickhouse_server


def refused(client, sql: str) -> str:
    with pytest.raises(Exception) as info:
        client.command(sql)
    assert DENIED.search(str(info.value)), str(info.value)[:500]
    return str(info.value)


def dead_letter_row() -> list:
    now = datetime.now(timezone.utc)
    return ["survey", "test row from test_docker_grants", "", b"", b"{}", "grants.surveys", 0, 0, now]


DEAD_LETTER_COLUMNS = ["type", "reason", "field", "message_key", "raw", "src_topic", "src_partition", "src_offset",
                       "src_timestamp"]


def test_views_run_as_the_definer_user(server):
    admin = server.client("admin")
    try:
        rows = admin.query("SELECT name, create_table_query FROM system.tables "
                           "WHERE database = {db:String} AND engine = 'View'", parameters={"db": server.database})
        views = dict(rows.result_rows)
    finally:
        admin.close()
    assert "nps_daily" in views and "surveys_latest" in views
    for name, ddl in views.items():
        assert "SQL SECURITY DEFINER" in ddl and "touchpulse_view_definer" in ddl, f"{name}: {ddl[:200]}"


def test_the_reader_selects_views_and_nothing_else(server):
    reader = server.client("reader")
    db = server.database
    try:
        reader.query(f"SELECT * FROM {db}.nps_daily LIMIT 1")
        reader.query(f"SELECT * FROM {db}.calls_latest LIMIT 1")
        refused(reader, f"SELECT count() FROM {db}.surveys")
        refused(reader, f"SELECT count() FROM {db}.followups")
        refused(reader, f"INSERT INTO {db}.dead_letters (type) VALUES ('x')")
        refused(reader, f"CREATE TABLE {db}.reader_was_here (x UInt8) ENGINE = Memory")
        refused(reader, f"DROP VIEW {db}.nps_daily")
    finally:
        reader.close()


def test_the_writer_inserts_facts_reads_followups_and_nothing_else(server):
    writer = server.client("writer")
    db = server.database
    try:
        writer.insert(f"{db}.dead_letters", [dead_letter_row()], column_names=DEAD_LETTER_COLUMNS)
        writer.query(f"SELECT event_id FROM {db}.followups LIMIT 1")
        refused(writer, f"SELECT * FROM {db}.nps_daily LIMIT 1")
        refused(writer, f"SELECT count() FROM {db}.surveys")
        refused(writer, f"TRUNCATE TABLE {db}.surveys")
        refused(writer, f"ALTER TABLE {db}.surveys DELETE WHERE 1")
        refused(writer, f"CREATE TABLE {db}.writer_was_here (x UInt8) ENGINE = Memory")
        refused(writer, f"INSERT INTO {db}.touchpoint_targets (touchpoint) VALUES ('x')")
    finally:
        writer.close()
    admin = server.client("admin")
    try:
        assert admin.query(f"SELECT count() FROM {db}.dead_letters WHERE reason = "
                           "'test row from test_docker_grants'").result_rows[0][0] >= 1
    finally:
        admin.close()


def test_the_admin_is_confined_to_its_database(server):
    admin = server.client("admin")
    try:
        refused(admin, "CREATE DATABASE touchpulse_admin_was_here")
        refused(admin, "CREATE USER touchpulse_admin_made_this")
        refused(admin, f"CREATE VIEW {server.database}.v_as_root DEFINER = {server.root[0]} SQL SECURITY DEFINER "
                       "AS SELECT 1")
    finally:
        admin.close()
