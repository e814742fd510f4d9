"""Every table alias in touchpulse's SQL is shorter than the shortest database name settings.py
accepts: in a statement where a table alias equals the database's name, ClickHouse cannot resolve
`database.table` (shown here on chDB), so a database named like an alias would fail every batch.
(Aliases of ARRAY JOIN expressions and of columns do not clash, also shown.)"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from touchpulse.settings import SHORTEST_DATABASE_NAME

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [*sorted((ROOT / "touchpulse").rglob("*.py")), *sorted((ROOT / "dashboards").glob("*.py"))]
# A table expression's alias: `FROM|JOIN <table> AS a`, `<table> AS a ON ...` (built apart from its
# JOIN), or a subquery's `) AS a` followed by what may follow a table expression.
PATTERNS = [
    re.compile(r"\bAS\s+(\w+)\s+(?:ON|USING)\b"),
    re.compile(r"\b(?:FROM|JOIN)\s+(?:\{[^{}\n]*\}|[^\s(){}])+\s+AS\s+(\w+)"),  # {f-string fields} included
    re.compile(r"\)\s+AS\s+(\w+)\s*(?:\n\s*)?(?:ON|USING|LEFT|RIGHT|INNER|FULL|CROSS|ARRAY|JOIN|WHERE|GROUP|ORDER|"
               r"SETTINGS)\b"),
]


def table_aliases() -> dict[str, str]:
    """alias -> first file using it, over the package's and the dashboards' sources."""
    found: dict[str, str] = {}
    for path in SOURCES:
        if "bench" in path.parts:  # the bench's own scratch databases are fixed names
            continue
        text = path.read_text(encoding="utf-8")
        for pattern in PATTERNS:
            for m in pattern.finditer(text):
                line = text[text.rfind("\n", 0, m.start()) + 1:m.start()]
                if "ARRAY JOIN" not in line + m.group(0):  # `ARRAY JOIN range(n) AS shift`: an expression's alias
                    found.setdefault(m.group(1), str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_aliases_we_know_of():
    aliases = table_aliases()
    assert {"s", "p", "c", "u", "o"} <= set(aliases), sorted(aliases)


def test_every_table_alias_is_shorter_than_any_database_name():
    long_ones = {a: where for a, where in table_aliases().items() if len(a) >= SHORTEST_DATABASE_NAME}
    assert not long_ones, f"table aliases a database could be named: {long_ones}"


def test_clickhouse_cannot_resolve_a_table_of_a_database_named_like_an_alias(chdb_client):
    db = f"al_{uuid.uuid4().hex[:8]}"
    chdb_client.command(f"CREATE DATABASE {db}")
    chdb_client.command(f"CREATE TABLE {db}.t (k String) ENGINE = Memory")
    ok = f"SELECT s.k FROM (SELECT 'a' AS k) AS s LEFT JOIN {db}.t AS t2 ON t2.k = s.k"
    assert chdb_client.query(ok).result_rows == [("a",)]
    with pytest.raises(Exception, match="cannot be resolved as table expression"):
        chdb_client.query(f"SELECT {db}.k FROM (SELECT 'a' AS k) AS {db} LEFT JOIN {db}.t AS t2 ON t2.k = {db}.k")
    # a column alias or an ARRAY JOIN alias named like the database is fine
    chdb_client.command(f"INSERT INTO {db}.t VALUES ('a')")
    assert chdb_client.query(f"SELECT s.k AS {db}, t2.k FROM (SELECT 'a' AS k) AS s "
                             f"LEFT JOIN {db}.t AS t2 ON t2.k = s.k").result_rows == [("a", "a")]
    assert chdb_client.query(f"SELECT k, {db} FROM {db}.t ARRAY JOIN [-1, 1] AS {db}").result_rows == [("a", -1), ("a", 1)]
