"""The least-privilege ClickHouse users of infra/clickhouse/users.sql and the init script that fills it.

The grants are checked against the schema and the writer code (every view and fact table they
name), and the filled-in SQL is parsed by the real ClickHouse parser (chDB's formatQuery, in a
subprocess so this process's chDB directory is not involved). Running the grants needs a server:
tests/docker/test_docker_grants.py does that where Docker is available.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from touchpulse.clickhouse.schema import FACT_TABLES, SchemaOptions, schema_statements
from touchpulse.core.touchpoints import load_registry
from touchpulse.derived.tables import DERIVED_TABLES

ROOT = Path(__file__).resolve().parents[3]
USERS_SQL = ROOT / "infra/clickhouse/users.sql"
SCRIPT = ROOT / "infra/clickhouse/initdb/10-touchpulse-users.sh"
DB = "{{database}}"

ADMIN, WRITER, READER, DEFINER = "touchpulse_admin", "touchpulse_writer", "touchpulse_reader", "touchpulse_view_definer"
RAW_TABLES = set(FACT_TABLES.values()) | {"followups", "dead_letters", "customer_notices"}  # FactWriter's
# What the worker's maintenance (touchpulse.derived.maintenance) reads and writes.
DERIVED = set(DERIVED_TABLES)
WORKING = f"{DB}._w*"  # the writer's own in-memory tables
DDL = {"ALL", "CREATE", "ALTER", "DROP", "TRUNCATE", "OPTIMIZE", "CREATE TABLE", "CREATE VIEW", "DROP TABLE",
       "DROP VIEW", "CREATE DATABASE", "DROP DATABASE", "ALTER TABLE", "ALTER VIEW", "SYSTEM", "KILL QUERY"}


def statements(text: str) -> list[str]:
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [" ".join(s.split()) for s in body.split(";") if s.strip()]


def grants() -> dict[str, set[tuple[str, str]]]:
    """user -> {(privilege, object)}; one privilege list per GRANT, split on commas."""
    out: dict[str, set[tuple[str, str]]] = {}
    for stmt in statements(USERS_SQL.read_text(encoding="utf-8")):
        if not stmt.startswith("GRANT "):
            continue
        m = re.fullmatch(r"GRANT (.+?) ON (\S+) TO (\w+)", stmt)
        assert m, f"unexpected GRANT form: {stmt}"
        for privilege in m.group(1).split(","):
            out.setdefault(m.group(3), set()).add((privilege.strip().upper(), m.group(2)))
    return out


def ddl(opts: SchemaOptions) -> list[str]:
    """Everything `touchpulse up` may create: the schema, and the dashboards' views where they exist."""
    stmts = schema_statements(opts, load_registry())
    try:
        from touchpulse.clickhouse.dashboard_views import dashboard_view_statements
    except ImportError:
        return stmts
    return stmts + dashboard_view_statements(opts, load_registry())


def schema_objects() -> tuple[set[str], set[str]]:
    """(tables, views) the schema creates, single server and cluster layout together."""
    tables, views = set(), set()
    for cluster in (None, "touchpulse"):
        for stmt in ddl(SchemaOptions("touchpulse", "UTC", cluster)):
            m = re.match(r"CREATE (TABLE IF NOT EXISTS|OR REPLACE VIEW) `touchpulse`\.`(\w+)`", stmt)
            if m:
                (tables if m.group(1).startswith("TABLE") else views).add(m.group(2))
    return tables, views


def query_views() -> set[str]:
    """Views `touchpulse query` reads (when that module exists)."""
    try:
        from touchpulse.clickhouse.queries import VIEWS
    except ImportError:
        return set()
    return set(VIEWS)


def on(db_object: str) -> str:
    return f"{DB}.{db_object}"


def test_the_template_defines_exactly_the_four_users_idempotently():
    stmts = statements(USERS_SQL.read_text(encoding="utf-8"))
    created = {m.group(1) for s in stmts if (m := re.match(r"CREATE USER IF NOT EXISTS (\w+) ", s))}
    altered = {m.group(1) for s in stmts if (m := re.match(r"ALTER USER (\w+) IDENTIFIED", s))}
    assert created == altered == {ADMIN, WRITER, READER, DEFINER}
    assert not [s for s in stmts if s.startswith(("DROP", "REVOKE", "CREATE USER OR REPLACE"))]
    for s in stmts:
        if "IDENTIFIED" in s:
            user = re.search(r"USER (?:IF NOT EXISTS )?(\w+)", s).group(1)
            role = "definer" if user == DEFINER else user.removeprefix("touchpulse_")
            assert f"BY '{{{{{role}_password}}}}'" in s, f"{user} must take its own password placeholder"
    assert set(grants()) == {ADMIN, WRITER, READER, DEFINER}


def test_the_writer_can_only_write_the_facts_and_what_derives_from_them():
    tables, views = schema_objects()
    writer = grants()[WRITER]
    on_tables = {(p, o) for p, o in writer if o != WORKING and p != "TABLE ENGINE"}
    inserts = {o for p, o in on_tables if p == "INSERT"}
    selects = {o for p, o in on_tables if p == "SELECT"}
    assert {p for p, _ in on_tables} == {"INSERT", "SELECT", "ALTER DELETE"}
    assert {(p, o) for p, o in on_tables if p == "ALTER DELETE"} == {("ALTER DELETE", on("open_batches")),
                                                                      ("ALTER DELETE", on("outbox"))}
    assert inserts == {on(t) for t in RAW_TABLES | DERIVED} | {on(f"{t}_local") for t in RAW_TABLES}
    assert selects == inserts | {on("schema_info")}
    assert {o.split(".", 1)[1] for o in inserts | selects} <= tables | {"schema_info"}, \
        "a grant names a table the schema lacks"
    assert not {o.split(".", 1)[1] for o in selects} & (views - {"schema_info"}), \
        "the writer must read no view but the schema's time zone"
    # DDL only on its own working tables, of the Memory engine.
    working = {p for p, o in writer if o == WORKING}
    assert working == {"CREATE TABLE", "DROP TABLE", "TRUNCATE", "INSERT", "SELECT"}
    assert {(p, o) for p, o in writer if p == "TABLE ENGINE"} == {("TABLE ENGINE", "Memory")}
    assert not {p for p, o in on_tables} & DDL
    assert not [o for _, o in writer if o.endswith(".*") or o.startswith("*")], "no database-wide grant"


def test_the_reader_can_only_select_views_and_every_view_it_needs():
    tables, views = schema_objects()
    reader = grants()[READER]
    assert {priv for priv, _ in reader} == {"SELECT"}, "the reader has no INSERT, no DDL"
    granted = {obj.split(".", 1)[1] for _, obj in reader if obj.startswith(DB + ".")}
    assert len(granted) == len(reader), "every reader grant names one object of the touchpulse database"
    assert not granted & tables, f"the reader may read fact tables: {granted & tables}"
    assert views <= granted, f"views the schema creates but Grafana could not read: {views - granted}"
    assert query_views() <= granted, f"views `touchpulse query` shows but the reader could not read: " \
                                     f"{query_views() - granted}"
    known = views | query_views()
    assert granted <= known, f"grants on views nobody defines: {granted - known}"


def test_the_views_run_as_a_definer_that_can_only_read_this_database():
    assert grants()[DEFINER] == {("SELECT", f"{DB}.*")}
    admin_alter = next(s for s in statements(USERS_SQL.read_text(encoding="utf-8"))
                       if s.startswith(f"ALTER USER {ADMIN} "))
    assert "default_normal_view_sql_security = 'DEFINER'" in admin_alter
    assert f"default_view_definer = '{DEFINER}'" in admin_alter


def test_the_admin_owns_its_database_and_may_name_only_the_view_definer():
    admin = grants()[ADMIN]
    assert ("ALL", f"{DB}.*") in admin
    assert ("SET DEFINER", DEFINER) in admin
    assert [o for p, o in admin if p == "SET DEFINER"] == [DEFINER]
    global_grants = {p for p, o in admin if o == "*.*"}
    assert global_grants == {"CLUSTER"}, "beyond its database the admin needs ON CLUSTER only"
    engines = {o for p, o in admin if p == "TABLE ENGINE"}
    used = set()
    for cluster in (None, "touchpulse"):
        for stmt in ddl(SchemaOptions("touchpulse", "UTC", cluster)):
            used |= set(re.findall(r"ENGINE = (\w+)", stmt))
    assert used <= engines, f"engines the schema uses without a grant: {used - engines}"


def run_script(env: dict, *args: str, template: Path = USERS_SQL) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "TOUCHPULSE_"))}
    return subprocess.run(["bash", str(SCRIPT), *args], env={**base, "USERS_SQL": str(template), **env},
                          capture_output=True, text=True, timeout=60)


PASSWORDS = {"CLICKHOUSE_ADMIN_PASSWORD": "ad'min\\pw&1", "CLICKHOUSE_WRITER_PASSWORD": "wr{{it}}er",
             "CLICKHOUSE_READER_PASSWORD": "re$ader`x`"}


def test_the_init_script_fills_every_placeholder_and_escapes_passwords():
    out = run_script({**PASSWORDS, "TOUCHPULSE_DATABASE": "metrics_db"}, "--print")
    assert out.returncode == 0, out.stderr
    sql = out.stdout
    assert "{{database}}" not in sql and "_password}}" not in sql
    assert "GRANT SELECT ON metrics_db.nps_daily TO touchpulse_reader" in sql
    assert r"BY 'ad\'min\\pw&1'" in sql
    assert "BY 'wr{{it}}er'" in sql
    definer = re.findall(r"USER (?:IF NOT EXISTS )?touchpulse_view_definer IDENTIFIED WITH sha256_password BY '(\w+)'",
                         sql)
    assert len(definer) == 2 and definer[0] == definer[1] and len(definer[0]) == 64
    again = run_script({**PASSWORDS, "TOUCHPULSE_DATABASE": "metrics_db"}, "--print").stdout
    assert definer[0] not in again, "the definer's password is random on every run"


def test_the_filled_sql_parses_and_its_literals_are_the_passwords():
    sql = run_script({**PASSWORDS, "TOUCHPULSE_DATABASE": "touchpulse"}, "--print").stdout
    stmts = statements(sql)
    literals = {m.group(1): m.group(2) for s in stmts
                if (m := re.match(r"ALTER USER (\w+) IDENTIFIED WITH sha256_password BY ('(?:[^'\\]|\\.)*')", s))}
    settings = sorted({m for s in stmts for m in re.findall(r"(\w+) = (?:'|\d)", s.split(" SETTINGS ", 1)[-1])
                       if " SETTINGS " in s})
    probe = textwrap.dedent("""
        import json, sys
        from chdb import session
        job = json.load(sys.stdin)
        s = session.Session()
        def one(sql):
            return str(s.query(sql, "TSV")).strip()
        def lit(text):
            return "'" + text.replace("\\\\", "\\\\\\\\").replace("'", "\\\\'") + "'"
        out = {"errors": [], "values": {}, "settings": []}
        for stmt in job["statements"]:
            try:
                one("SELECT formatQuery(" + lit(stmt) + ")")
            except Exception as exc:
                out["errors"].append([stmt[:120], str(exc).splitlines()[0]])
        for user, literal in job["literals"].items():
            out["values"][user] = one("SELECT " + literal + " FORMAT JSONEachRow")
        names = ",".join(lit(n) for n in job["settings"])
        out["settings"] = one("SELECT name FROM system.settings WHERE name IN (" + names + ") ORDER BY name").split()
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          input=json.dumps({"statements": stmts, "literals": literals, "settings": settings}),
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    values = {user: next(iter(json.loads(row).values())) for user, row in result["values"].items()}
    assert values[ADMIN] == PASSWORDS["CLICKHOUSE_ADMIN_PASSWORD"]
    assert values[WRITER] == PASSWORDS["CLICKHOUSE_WRITER_PASSWORD"]
    assert values[READER] == PASSWORDS["CLICKHOUSE_READER_PASSWORD"]
    assert set(settings) >= {"readonly", "default_view_definer", "default_normal_view_sql_security",
                             "distributed_foreground_insert"}
    assert result["settings"] == settings, "a SETTINGS clause names a setting ClickHouse does not have"


@pytest.mark.parametrize("env, message", [
    ({"CLICKHOUSE_WRITER_PASSWORD": ""}, "CLICKHOUSE_WRITER_PASSWORD is not set"),
    ({"TOUCHPULSE_DATABASE": "x; DROP USER y"}, "is not a plain identifier"),
])
def test_the_init_script_refuses_missing_secrets_and_odd_database_names(env, message):
    out = run_script({**PASSWORDS, **env}, "--print")
    assert out.returncode != 0
    assert message in out.stderr
    assert out.stdout == ""


def test_the_init_script_refuses_a_template_with_an_unknown_placeholder(tmp_path):
    template = tmp_path / "users.sql"
    template.write_text(USERS_SQL.read_text(encoding="utf-8") + "\nCREATE USER x IDENTIFIED BY '{{x_password}}';\n")
    out = run_script(PASSWORDS, "--print", template=template)
    assert out.returncode != 0 and "placeholder" in out.stderr


def test_the_init_script_is_executable_and_mounted_where_the_image_runs_it():
    assert os.access(SCRIPT, os.X_OK), "not executable: the image would source it instead (it copes, but say so)"
    import yaml
    clickhouse = yaml.safe_load((ROOT / "infra/compose.yaml").read_text())["services"]["clickhouse"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in clickhouse["volumes"]}
    assert (ROOT / "infra" / mounts["/docker-entrypoint-initdb.d"]).resolve() == SCRIPT.parent
    assert (ROOT / "infra" / mounts["/etc/touchpulse/users.sql"]).resolve() == USERS_SQL
    assert clickhouse["environment"]["CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"] == 1
