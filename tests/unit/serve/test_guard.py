"""What a read through the worker may do: the checks on the engine's rendering of a query."""

from __future__ import annotations

import pytest

from touchpulse.serve.guard import (Limits, check, check_setting, check_url_settings, denied_table_functions,
                                    tokens)
from touchpulse.serve.protocol import ClickHouseError

LIMITS = Limits()
DENIED = denied_table_functions(["file", "url", "s3", "remote", "mysql", "python", "executable", "numbers", "view",
                                 "format", "merge", "filesystem"])


def refused(sql: str, code: int) -> str:
    with pytest.raises(ClickHouseError) as info:
        check(sql, DENIED, LIMITS, "touchpulse")
    assert info.value.code == code, info.value.message
    return info.value.message


def test_tokens_read_strings_identifiers_comments_and_numbers():
    toks = tokens("SELECT 'a\\'b', 'c''d', `x``y`, \"q\", 1e10, 10000000000., 0x1F /* c /* nested */ */ -- end\n"
                  "FROM t # also a comment\n WHERE a->b")
    kinds = [(t.kind, t.text) for t in toks]
    assert ("string", "'a\\'b'") in kinds and ("string", "'c''d'") in kinds
    assert ("quoted", "`x``y`") in kinds and ("quoted", '"q"') in kinds
    assert ("number", "1e10") in kinds and ("number", "10000000000.") in kinds and ("number", "0x1F") in kinds
    assert ("punct", "->") in kinds
    assert [t.text for t in toks if t.kind == "word"] == ["SELECT", "FROM", "t", "WHERE", "a", "b"]
    assert [t for t in toks if t.kind == "quoted"][0].name == "x`y"


@pytest.mark.parametrize("sql", [
    "SELECT 1", "WITH x AS (SELECT 1) SELECT * FROM x", "(SELECT 1) UNION ALL (SELECT 2)", "SHOW TABLES FROM touchpulse",
    "DESCRIBE TABLE touchpulse.nps_daily", "DESC touchpulse.calls", "EXPLAIN SELECT 1", "EXISTS touchpulse.calls",
    "SELECT * FROM numbers(10)", "SELECT format('{} {}', 'a', 'b')", "SELECT * FROM view(SELECT 1)",
    "SELECT * FROM touchpulse.nps_daily WHERE day >= {from:Date} SETTINGS join_use_nulls = 0",
    "SELECT 1 SETTINGS max_threads = 1, max_execution_time = 30",
    "SELECT * FROM t SETTINGS additional_table_filters = {'t':'touchpoint = \\'x\\''}",
    "SELECT file_name, url FROM t", "SELECT 'file(\\'/etc/passwd\\')'",
])
def test_reads_pass(sql):
    check(sql, DENIED, LIMITS)


@pytest.mark.parametrize("sql", [
    "INSERT INTO t FORMAT Values", "CREATE TABLE t (a UInt8) ENGINE = Memory", "DROP TABLE t", "SYSTEM FLUSH LOGS",
    "KILL QUERY WHERE 1 ASYNC", "SET max_threads = 8", "USE other", "OPTIMIZE TABLE t", "ALTER TABLE t DELETE WHERE 1",
    "TRUNCATE TABLE t", "GRANT SELECT ON *.* TO x", "BEGIN TRANSACTION", "",
])
def test_everything_but_reads_is_readonly(sql):
    assert "readonly" in refused(sql, 164)


def test_into_outfile_is_refused():
    refused("SELECT 1 INTO OUTFILE '/tmp/x'", 358)
    refused("SELECT * FROM t INTO OUTFILE 'x' FORMAT CSV", 358)


@pytest.mark.parametrize("sql", [
    "SELECT file('/etc/passwd')", "SELECT * FROM file('/etc/passwd', 'LineAsString')", "SELECT * FROM FILE('x')",
    "SELECT `file`('x')", "SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')",
    "SELECT * FROM s3('http://x/y')", "SELECT * FROM remote('h:9000', system.one)", "SELECT * FROM python(x)",
    "SELECT arrayMap(x -> file(x), ['a'])", "SELECT * FROM (SELECT * FROM mysql('h', 'd', 't', 'u', 'p'))",
    "SELECT aiGenerate('x')", "SELECT AIClassify('x', ['a'])", "DESCRIBE TABLE file('x')",
    "SELECT * FROM executable('ls', 'LineAsString', 'x String')", "SELECT * FROM filesystem('/')",
])
def test_functions_that_reach_outside_the_database_are_refused(sql):
    assert "outside the database" in refused(sql, 497)


@pytest.mark.parametrize("sql, code", [
    ("SELECT 1 SETTINGS max_threads = 8", 452), ("SELECT 1 SETTINGS max_threads = 0", 452),
    ("SELECT 1 SETTINGS max_memory_usage = 10000000000.", 452), ("SELECT 1 SETTINGS max_memory_usage = 0", 452),
    ("SELECT 1 SETTINGS max_execution_time = 3600", 452), ("SELECT 1 SETTINGS os_thread_priority = -20", 452),
    ("SELECT 1 SETTINGS `max_threads` = 4", 452), ("SELECT * FROM (SELECT 1 SETTINGS max_threads = 2)", 452),
    ("SELECT 1 SETTINGS max_result_bytes = '10G'", 452),
    ("SELECT 1 SETTINGS readonly = 0", 164), ("SELECT 1 SETTINGS allow_introspection_functions = 1", 164),
    ("SELECT 1 SETTINGS priority = 1", 164),
])
def test_settings_clauses_cannot_lift_the_limits(sql, code):
    refused(sql, code)


def test_the_format_clause_and_settings_are_reported():
    v = check("SELECT 1 SETTINGS max_threads = 1, join_use_nulls = 0 FORMAT JSONEachRow", DENIED, LIMITS)
    assert (v.statement, v.output_format) == ("SELECT", "JSONEachRow")
    assert v.settings == {"max_threads": "1", "join_use_nulls": "0"}
    assert check("SELECT format FROM t", DENIED, LIMITS).output_format is None


def test_url_settings_must_be_known_and_within_limits():
    known = frozenset({"max_threads", "enable_http_compression", "readonly", "max_memory_usage"})
    assert check_url_settings({"enable_http_compression": "1", "max_threads": "1", "readonly": "1"}, known, LIMITS)
    with pytest.raises(ClickHouseError) as info:
        check_url_settings({"no_such_setting": "1"}, known, LIMITS)
    assert info.value.code == 115
    for value in ("2", "0", "auto"):
        with pytest.raises(ClickHouseError) as info:
            check_url_settings({"max_threads": value}, known, LIMITS)
        assert info.value.code == 452
    with pytest.raises(ClickHouseError) as info:
        check_setting("readonly", "0", LIMITS)
    assert info.value.code == 164
    check_setting("max_memory_usage", "100Mi", LIMITS)


def test_generators_are_allowed_and_everything_else_of_the_engine_denied():
    assert {"numbers", "view", "format", "merge"}.isdisjoint(DENIED)
    assert {"file", "url", "s3", "remote", "mysql", "python", "executable", "filesystem"} <= DENIED
