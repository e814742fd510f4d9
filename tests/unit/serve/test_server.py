"""The read endpoint in this process, on the session's chDB, with real clients: clickhouse-connect over
HTTP, and raw requests shaped as clickhouse-go (Grafana's plugin) sends them. The worker end to end is in
tests/integration/test_serve.py."""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import threading
import time
import uuid

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from tests.support.native import decode
from touchpulse.serve import server as serve_server
from touchpulse.serve.engine import Engine, escape_parameter
from touchpulse.serve.protocol import parse_request
from touchpulse.serve.server import ReadServer

USER, PASSWORD = "touchpulse", "s3cret-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def db(chdb_client):
    name = "serve_" + uuid.uuid4().hex[:8]
    chdb_client.command(f"CREATE DATABASE {name}")
    chdb_client.command(f"CREATE TABLE {name}.t (day Date, touchpoint LowCardinality(String), n UInt64, "
                        "x Nullable(Float64)) ENGINE = MergeTree ORDER BY day")
    chdb_client.command(f"INSERT INTO {name}.t SELECT toDate('2026-03-01') + number % 30, "
                        f"'tp' || toString(number % 3), number, if(number % 5 = 0, NULL, number / 4) FROM numbers(3000)")
    yield name
    chdb_client.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture(scope="module")
def endpoint(chdb_path, db):
    engine = Engine(str(chdb_path))
    srv = ReadServer(("127.0.0.1", 0), engine, USER, PASSWORD, readers=2)
    srv.start()
    yield srv
    srv.stop()
    engine.close()


def client(srv, **kw):
    return clickhouse_connect.get_client(interface="http", host="127.0.0.1", port=srv.port, username=USER,
                                         password=PASSWORD, **kw)


def request(srv, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def basic(user=USER, password=PASSWORD) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_clickhouse_connect_reads_native_with_parameters_and_settings(endpoint, db, chdb_client):
    c = client(endpoint)
    assert c.server_version.startswith("26.") and c.protocol_version == 54405  # its probe for block info passed
    sql = (f"SELECT touchpoint, count() AS rows, sum(n) AS total, avg(x) AS mean FROM {db}.t "
           "WHERE day >= {from:Date} AND touchpoint IN {tps:Array(String)} GROUP BY touchpoint ORDER BY touchpoint")
    params = {"from": "2026-03-10", "tps": ["tp0", "tp2"]}
    got = c.query(sql, parameters=params, settings={"max_execution_time": 30, "join_use_nulls": 0})
    want = chdb_client.query(sql, parameters=params)
    assert got.column_names == want.column_names and got.result_rows == want.result_rows
    assert c.query(f"SELECT * FROM {db}.t LIMIT 0").column_names == ("day", "touchpoint", "n", "x")
    assert c.command("SELECT 41 + 1") == 42


@pytest.mark.parametrize("fmt", ["JSON", "JSONEachRow", "TabSeparatedWithNames", "CSV", "RowBinaryWithNamesAndTypes",
                                 "Parquet", "Arrow"])
def test_formats_come_back_as_the_engine_writes_them(endpoint, db, chdb_path, fmt):
    from chdb import _chdb
    sql = f"SELECT day, touchpoint, n FROM {db}.t ORDER BY n LIMIT 50"
    got = client(endpoint).raw_query(sql, fmt=fmt)
    local = _chdb.connect(str(chdb_path))
    try:
        want = local.query(sql, fmt).bytes()
    finally:
        local.close()
    if fmt == "JSON":  # its statistics differ run to run
        got, want = json.loads(got), json.loads(want)
        assert got["data"] == want["data"] and got["meta"] == want["meta"]
    elif fmt in ("Parquet", "Arrow"):
        assert got[:4] == want[:4] and abs(len(got) - len(want)) < 64
    else:
        assert got == want


@pytest.mark.parametrize("method", ["lz4", "zstd", "gzip", "deflate"])
def test_compression_is_negotiated(endpoint, db, method):
    c = client(endpoint, compress=method)
    rows = c.query(f"SELECT n, toString(n) FROM {db}.t ORDER BY n").result_rows
    assert len(rows) == 3000 and rows[-1] == (2999, "2999")
    status, headers, body = request(endpoint, "POST", "/?enable_http_compression=1",
                                    f"SELECT n FROM {db}.t ORDER BY n".encode(),
                                    {**basic(), "Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).split(b"\n")[:3] == [b"0", b"1", b"2"]


@pytest.mark.parametrize("sql, code", [
    ("INSERT INTO {db}.t (n) VALUES (1)", 164), ("CREATE TABLE {db}.x (a UInt8) ENGINE = Memory", 164),
    ("DROP TABLE {db}.t", 164), ("ALTER TABLE {db}.t DELETE WHERE 1", 164), ("TRUNCATE TABLE {db}.t", 164),
    ("SYSTEM STOP MERGES", 164), ("OPTIMIZE TABLE {db}.t FINAL", 164), ("KILL QUERY WHERE 1", 164),
    ("SET max_threads = 8", 164), ("CREATE TEMPORARY TABLE tmp (a UInt8)", 164),
    ("INSERT INTO FUNCTION file('/tmp/touchpulse-x.csv') SELECT 1", 164),
    ("SELECT 1 INTO OUTFILE '/tmp/touchpulse-outfile.txt'", 358), ("SELECT 1; DROP TABLE {db}.t", 62),
    ("SELECT file('/etc/hostname')", 497), ("SELECT * FROM file('/etc/hostname', 'LineAsString')", 497),
    ("SELECT * FROM url('http://127.0.0.1:9/', 'CSV', 'a String')", 497),
    ("SELECT 1 /* */ , `file`('/etc/hostname')", 497), ("SELECT 1 # hidden?\n, file('/etc/hostname')", 497),
    ("SELECT $$'$$, file('/etc/hostname'), '$$'", 497), ("SELECT 1 SETTINGS max_threads = 64", 452),
    ("SELECT 1 SETTINGS max_memory_usage = 0", 452), ("SELECT 1 SETTINGS readonly = 0", 164),
])
def test_writes_and_escapes_are_refused_with_clickhouse_codes(endpoint, db, chdb_client, sql, code):
    before = chdb_client.query(f"SELECT count() FROM {db}.t").result_rows
    with pytest.raises(DatabaseError) as info:
        client(endpoint).command(sql.replace("{db}", db))
    assert info.value.code == code, str(info.value)
    assert chdb_client.query(f"SELECT count() FROM {db}.t").result_rows == before
    status, headers, body = request(endpoint, "POST", "/", sql.replace("{db}", db).encode(), basic())
    assert headers["X-ClickHouse-Exception-Code"] == str(code) and body.startswith(f"Code: {code}. DB::Exception:".encode())
    assert status in (400, 403, 500, 501)


def test_a_nested_comment_cannot_hide_a_call_from_the_guard(endpoint):
    """ClickHouse nests /* */ comments: text the engine reads as a comment is no call, and none slips through."""
    assert client(endpoint).command("SELECT 1 /* /* */ , file('/etc/hostname') */") == 1


def test_wrong_or_missing_credentials_fail_with_516(endpoint):
    with pytest.raises(DatabaseError) as info:
        clickhouse_connect.get_client(interface="http", host="127.0.0.1", port=endpoint.port, username=USER,
                                      password="wrong")
    assert info.value.code == 516
    status, headers, body = request(endpoint, "POST", "/", b"SELECT 1")
    assert (status, headers["X-ClickHouse-Exception-Code"]) == (403, "516") and b"AUTHENTICATION_FAILED" in body
    status, _, _ = request(endpoint, "POST", "/", b"SELECT 1", basic(user="default"))
    assert status == 403
    status, _, body = request(endpoint, "POST", "/", b"SELECT 1",
                              {"X-ClickHouse-User": USER, "X-ClickHouse-Key": PASSWORD})
    assert (status, body) == (200, b"1\n")


def test_health_checks_and_unknown_paths(endpoint):
    assert request(endpoint, "GET", "/ping")[::2] == (200, b"Ok.\n")
    assert request(endpoint, "GET", "/")[::2] == (200, b"Ok.\n")
    status, headers, _ = request(endpoint, "GET", "/ping")
    assert headers["X-Touchpulse-Worker"] == str(endpoint.pid)
    assert request(endpoint, "GET", "/play")[0] == 404
    status, _, body = request(endpoint, "GET", "/?query=SELECT%20version()", headers=basic())
    assert status == 200 and body.startswith(b"26.")


def test_requests_shaped_as_clickhouse_go_sends_them(endpoint, db):
    """Grafana's ClickHouse plugin in HTTP mode: clickhouse-go POSTs the SQL with default_format=Native and its
    protocol revision, credentials as basic auth, Accept-Encoding gzip; it parses blocks with block info and
    per-column serialization flags."""
    hello = "SELECT displayName(), version(), revision(), timezone()"
    path = f"/?database={db}&default_format=Native&client_protocol_version=54460&max_execution_time=50"
    status, headers, body = request(endpoint, "POST", path, hello.encode(), {**basic(), "Accept-Encoding": "gzip"})
    assert status == 200 and headers["X-ClickHouse-Format"] == "Native"
    ((name, version, revision, zone),) = decode(body, 54460)
    assert version.startswith("26.") and int(revision) > 54400 and zone
    status, _, body = request(endpoint, "POST", path, b"SELECT 1", basic())
    assert decode(body, 54460) == [(1,)]  # its ping checks for one column named "1"
    sql = (f"SELECT toStartOfDay(day) AS time, touchpoint, sum(n) AS total FROM t "
           f"WHERE day >= toDate({{from:String}}) GROUP BY time, touchpoint ORDER BY time, touchpoint")
    status, _, body = request(endpoint, "POST", path + "&param_from=2026-03-20", sql.encode(), basic())
    rows = decode(body, 54460)
    assert status == 200 and len(rows) == 11 and rows[0][1] in ("tp0", "tp1", "tp2")  # days 20..30
    # An ad hoc filter: the plugin appends it to the SQL as a SETTINGS clause.
    adhoc = f"SELECT count() FROM {db}.t settings additional_table_filters={{'{db}.t' : 'touchpoint = \\'tp1\\''}}"
    status, _, body = request(endpoint, "POST", path, adhoc.encode(), basic())
    assert status == 200 and decode(body, 54460) == [(1000,)], body


def test_chunked_bodies_and_keep_alive(endpoint):
    conn = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=30)
    try:
        for i in range(3):  # one connection, three queries
            conn.request("POST", "/", body=iter([b"SELECT ", str(i).encode()]), headers=basic(),
                         encode_chunked=True)
            r = conn.getresponse()
            assert (r.status, r.read()) == (200, f"{i}\n".encode())
    finally:
        conn.close()


def test_settings_of_one_query_do_not_reach_the_next(endpoint, db):
    c = client(endpoint)
    with pytest.raises(DatabaseError):
        c.query(f"SELECT n FROM {db}.t", settings={"max_result_rows": 10})
    assert len(c.query(f"SELECT n FROM {db}.t").result_rows) == 3000


def test_limits_bound_time_and_memory(endpoint):
    c = client(endpoint)
    with pytest.raises(DatabaseError) as info:
        c.command("SELECT count() FROM numbers(1000000000000) WHERE NOT ignore(sleepEachRow(0))",
                  settings={"max_execution_time": 1})
    assert info.value.code == 159  # TIMEOUT_EXCEEDED
    with pytest.raises(DatabaseError) as info:
        c.command("SELECT groupArray(number) FROM numbers(200000000)")
    assert info.value.code == 241  # MEMORY_LIMIT_EXCEEDED: 512 MiB per query
    assert c.command("SELECT getSetting('max_threads')") == 1
    assert c.command("SELECT getSetting('os_thread_priority')") == 19


def test_readers_are_bounded_and_a_waiting_query_gives_up_like_a_busy_server(chdb_path, db, monkeypatch):
    monkeypatch.setattr(serve_server, "QUEUE_WAIT", 0.5)
    engine = Engine(str(chdb_path))
    srv = ReadServer(("127.0.0.1", 0), engine, USER, PASSWORD, readers=1)
    srv.start()
    try:
        slow = threading.Thread(target=lambda: request(srv, "POST", "/", b"SELECT sleep(2)", basic()))
        slow.start()
        time.sleep(0.3)
        status, headers, body = request(srv, "POST", "/", b"SELECT 1", basic())
        assert headers["X-ClickHouse-Exception-Code"] == "202" and b"Maximum: 1" in body
        slow.join()
        assert request(srv, "POST", "/", b"SELECT 1", basic())[::2] == (200, b"1\n")
    finally:
        srv.stop()
        engine.close()


def test_the_writer_is_not_held_up_by_a_long_read(endpoint, db, chdb_client):
    """Reads run on sessions of their own: an insert on the writer's client completes while a read runs."""
    done = threading.Event()
    reader = threading.Thread(target=lambda: (request(endpoint, "POST", "/", b"SELECT sleep(3)", basic()), done.set()))
    reader.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    chdb_client.command(f"INSERT INTO {db}.t VALUES ('2026-04-01', 'w', 99999, 1)")
    # Held up, the insert would end with the read, 2.7 s from now: 2 s leaves a busy machine room.
    assert time.perf_counter() - t0 < 2.0 and not done.is_set()
    reader.join()
    chdb_client.command(f"ALTER TABLE {db}.t DELETE WHERE n = 99999 SETTINGS mutations_sync = 1")


@pytest.mark.parametrize("text", ["plain", "tab\there", "line\nbreak", "back\\slash", "quote'and\"", "nul\0byte",
                                  "ünïcødé 😀", "{x:String}"])
def test_the_guard_sees_the_query_exactly_as_sent(chdb_path, text):
    from chdb import _chdb
    conn = _chdb.connect(str(chdb_path))
    try:
        back = conn.query("SELECT {q:String}", "TabSeparatedRaw", params={"q": escape_parameter(text)}).bytes()
    finally:
        conn.close()
    assert back.decode()[:-1] == text


def test_stopping_cancels_reads_still_running_and_refuses_new_ones(chdb_path):
    """A query left running in the engine while the worker's process exits can crash it: stop() waits, then
    cancels what is still running, and takes no new query meanwhile."""
    engine = Engine(str(chdb_path))
    srv = ReadServer(("127.0.0.1", 0), engine, USER, PASSWORD, readers=2)
    srv.start()
    got = {}
    slow = threading.Thread(target=lambda: got.update(
        r=request(srv, "POST", "/", b"SELECT sleep(3), sleep(3), sleep(3), sleep(3)", basic())))
    slow.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    srv.stop(wait=0.2)
    assert engine.running == 0 and time.monotonic() - t0 < 8
    slow.join(10)
    status, headers, _ = got["r"]
    assert headers["X-ClickHouse-Exception-Code"] == "394"  # QUERY_WAS_CANCELLED
    with pytest.raises(Exception):
        engine.run(parse_request("", basic(), b"SELECT 1"))
    engine.close()
