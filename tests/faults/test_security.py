"""Security (issue "Nothing lost, nothing doubled", item 6), against real chDB, the real broker and
the CLI as users run it:

- SQL is built from bound parameters and quoted identifiers only: hostile strings in every
  user-supplied field that reaches SQL are stored verbatim and read back identical with the
  tables intact, CLI filters cannot widen a query, identifier settings with quotes are refused,
  and an AST taint check proves every SQL text the code runs interpolates nothing but
  constants, numbers and q()/literal() results;
- secrets come from the environment only and are never printed or logged;
- Kafka SASL/SSL (tests/unit/kafka) and ClickHouse TLS settings reach the clients.
"""

from __future__ import annotations

import ast
import datetime as dt
import itertools
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings
from hypothesis import strategies as st

from touchpulse.clickhouse.queries import query_view
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.clickhouse.writer import FactWriter
from touchpulse.core.touchpoints import load_registry
from touchpulse.settings import SettingsError, load_settings
from touchpulse.streams.batch import Message, process_batch

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "touchpulse.cli"]
UTC = dt.timezone.utc
REGISTRY = load_registry()
TOPICS = {"p.calls": "call", "p.purchases": "purchase", "p.reviews": "review", "p.surveys": "survey"}

# What an attacker would try, in any string field that reaches ClickHouse.
HOSTILE = [
    "x' OR 1=1 --", "'; DROP TABLE surveys; --", "\\'; DROP DATABASE default; --", "`; DROP TABLE calls; --`",
    '" OR ""="', "' UNION SELECT name FROM system.users --", "1); INSERT INTO surveys VALUES (1", "{touchpoint:String}",
    "{{x}}", "${touchpoint}", "$__timeFilter(occurred_at)", "%s %(x)s", "a\\", "\\", "\\x00\\0", "/* c */ --",
    "\u202e\u200b rtl", "😀 ünïcødé", "line\nbreak\r\n\ttab", "SELECT 1 FORMAT JSON", "'", "`", "''''",
]


# --- hostile strings through the worker's own path into real chDB -------------------------------

def message(topic: str, offset: int, doc: dict | bytes) -> Message:
    value = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return Message(topic, 0, offset, None, value, dt.datetime(2026, 3, 10, 12, tzinfo=UTC))


def survey(event_id: str, text: str, score: int = 3, touchpoint: str = "call_centre") -> dict:
    return {"event_id": event_id, "type": "survey", "version": 1, "occurred_at": "2026-03-10T10:00:00Z",
            "touchpoint": touchpoint, "response_id": event_id + "-r", "score": score, "customer_id": text,
            "attributes": {text: text, "plain": text}, "comment": text, "interaction_id": text}


@pytest.fixture
def warehouse(chdb_client, tmp_path):
    """A fresh database with the real schema on the session's chDB, and settings naming it."""
    db = "sec_" + uuid.uuid4().hex[:10]
    apply_schema(chdb_client, SchemaOptions(db, "UTC"), REGISTRY)
    settings = load_settings({"TOUCHPULSE_DATABASE": db, "TOUCHPULSE_HOME": str(tmp_path)}, dotenv=None)
    yield chdb_client, settings
    chdb_client.command(f"DROP DATABASE IF EXISTS `{db}`")


def tables(client, db: str) -> dict[str, str]:
    """The database's tables, but for the writer's own in-memory working tables (`_w<worker>_*`)."""
    rows = client.query("SELECT name, engine FROM system.tables WHERE database = {db:String} "
                        "AND NOT (startsWith(name, '_w') AND engine = 'Memory')", parameters={"db": db}).result_rows
    return dict(rows)


def test_hostile_strings_are_stored_verbatim_and_read_back_identical(warehouse):
    client, settings = warehouse
    db = settings.database
    before = tables(client, db)
    assert {"surveys", "calls", "reviews", "purchases", "followups", "dead_letters", "nps_daily"} <= set(before)
    msgs = [message("p.surveys", i, survey(f"ev-{i}-{text}", text)) for i, text in enumerate(HOSTILE)]
    n = len(msgs)
    msgs += [message("p.calls", n + i, {"event_id": f"c{i}", "type": "call", "version": 1,
                                        "occurred_at": "2026-03-10T09:10:00Z", "touchpoint": "call_centre",
                                        "call_id": text, "agent_id": text, "customer_id": text,
                                        "queued_at": "2026-03-10T09:00:00Z", "ended_at": "2026-03-10T09:10:00Z"})
             for i, text in enumerate(HOSTILE)]
    msgs += [message("p.reviews", 2 * n + i, {"event_id": f"rv{i}", "type": "review", "version": 1,
                                              "occurred_at": "2026-03-10T09:00:00Z", "touchpoint": "online_shop",
                                              "review_id": text, "platform": "google", "rating": 2,
                                              "posted_at": "2026-03-10T09:00:00Z", "text": text})
             for i, text in enumerate(HOSTILE)]
    msgs += [message("p.purchases", 3 * n + i, {"event_id": f"p{i}", "type": "purchase", "version": 1,
                                                "occurred_at": "2026-03-10T09:00:00Z", "touchpoint": "online_shop",
                                                "order_id": text, "amount": "1.50", "currency": "EUR",
                                                "source": text[:64]})
             for i, text in enumerate(HOSTILE)]
    # A touchpoint must be a slug: an injection attempt there never reaches a fact table.
    msgs += [message("p.surveys", 4 * n + i, survey(f"tp-{i}", "c", touchpoint=text)) for i, text in enumerate(HOSTILE)]
    outcome = process_batch(msgs, TOPICS, REGISTRY, followup_below=8)
    assert outcome.accepted_count == 4 * n and len(outcome.followups) == n
    assert len(outcome.dead_letters) == n and {d.field for d in outcome.dead_letters} == {"touchpoint"}
    FactWriter(client, db).write(outcome)

    def read(sql: str) -> list[tuple]:
        return client.query(sql.replace("DB", f"`{db}`")).result_rows

    got = {r[0]: r[1:] for r in read("SELECT event_id, customer_id, attributes, comment, interaction_id, touchpoint "
                                      "FROM DB.surveys")}
    assert got == {f"ev-{i}-{t}": (t, {t: t, "plain": t}, t, t, "call_centre") for i, t in enumerate(HOSTILE)}
    assert sorted(read("SELECT call_id, agent_id, customer_id FROM DB.calls")) == sorted((t, t, t) for t in HOSTILE)
    assert sorted(read("SELECT review_id, text FROM DB.reviews")) == sorted((t, t) for t in HOSTILE)
    assert sorted(read("SELECT order_id, source FROM DB.purchases")) == sorted((t, t[:64]) for t in HOSTILE)
    assert sorted(read("SELECT event_id, customer_id, comment FROM DB.followups")) == \
        sorted((f"ev-{i}-{t}", t, t) for i, t in enumerate(HOSTILE))
    stored = read("SELECT raw, reason FROM DB.dead_letters ORDER BY src_offset")
    assert [json.loads(raw)["touchpoint"] for raw, _ in stored] == HOSTILE
    assert all(reason.startswith("field 'touchpoint': must be a slug") for _, reason in stored)
    # Lookups by hostile event ids are bound as an Array(String) parameter.
    ids = [f"ev-{i}-{t}" for i, t in enumerate(HOSTILE)]
    assert set(FactWriter(client, db).followed_up(ids + ["' OR 1=1 --"])) == set(ids)
    # The views see every hostile customer exactly once and nothing got dropped or added (the
    # batch's maintenance carried the hostile keys through the state and the sums).
    assert read("SELECT sum(responses) FROM DB.nps_daily") == [(n,)]
    assert read("SELECT count() FROM DB.calls_latest") == [(n,)]
    assert tables(client, db) == before


def test_query_filters_are_bound_parameters(warehouse):
    client, settings = warehouse
    outcome = process_batch([message("p.surveys", i, survey(f"e{i}", "c", score=9)) for i in range(3)], TOPICS,
                            REGISTRY, followup_below=8)
    FactWriter(client, settings.database).write(outcome)
    _, rows = query_view(settings, "nps_daily", client=client)
    assert len(rows) == 1
    for text in HOSTILE + ["call_centre' OR touchpoint != '", "call_centre' --", "call_centre\x00"]:
        _, rows = query_view(settings, "nps_daily", touchpoint=text, client=client)
        assert rows == [], text
    _, rows = query_view(settings, "nps_daily", touchpoint="call_centre", day_from=dt.date(2026, 3, 10),
                         day_to=dt.date(2026, 3, 10), limit=5, client=client)
    assert len(rows) == 1
    assert set(tables(client, settings.database)) >= {"surveys", "nps_daily"}


_OFFSETS = itertools.count()
TEXT = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=40)
NONEMPTY = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1, max_size=40)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(customer=NONEMPTY, key=TEXT, value=TEXT, comment=TEXT)
def test_any_text_round_trips_through_the_writer(warehouse, customer, key, value, comment):
    client, settings = warehouse
    event_id = uuid.uuid4().hex
    doc = {**survey(event_id, customer), "attributes": {key: value}, "comment": comment}
    # Each example is a new message (a position already applied would be skipped as a replay).
    outcome = process_batch([message("p.surveys", next(_OFFSETS), doc)], TOPICS, REGISTRY, followup_below=8)
    assert outcome.accepted_count == 1
    FactWriter(client, settings.database).write(outcome)
    rows = client.query(f"SELECT customer_id, attributes, comment FROM `{settings.database}`.surveys "
                        "WHERE event_id = {id:String}", parameters={"id": event_id}).result_rows
    assert rows == [(customer, {key: value}, comment)]


# --- settings that become identifiers ---------------------------------------------------------

@pytest.mark.parametrize("variable, value", [
    ("TOUCHPULSE_DATABASE", "x`; DROP TABLE surveys; --"), ("TOUCHPULSE_DATABASE", "touchpulse' OR 1=1"),
    ("TOUCHPULSE_DATABASE", "db.surveys"), ("TOUCHPULSE_DATABASE", "a b"), ("TOUCHPULSE_DATABASE", "x\\"),
    ("TOUCHPULSE_CLICKHOUSE_CLUSTER", "c' ON CLUSTER x"), ("TOUCHPULSE_CLICKHOUSE_CLUSTER", "`c`"),
    ("TOUCHPULSE_CLICKHOUSE_CLUSTER", "c\"; DROP"), ("TOUCHPULSE_TOPIC_PREFIX", "p'; x"),
])
def test_identifier_settings_with_quotes_are_refused(variable, value):
    with pytest.raises(SettingsError) as info:
        load_settings({variable: value}, dotenv=None)
    assert variable in str(info.value)


def cli(tmp_path, *args, env=None, timeout=120) -> subprocess.CompletedProcess:
    """The CLI with a clean environment (no TOUCHPULSE_* from outside, no .env)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
    base.update({"TOUCHPULSE_HOME": str(tmp_path / "home"), **(env or {})})
    return subprocess.run([*CLI, *args], capture_output=True, env=base, cwd=tmp_path, timeout=timeout)


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode()
    assert proc.returncode != 0 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("variable, value", [("TOUCHPULSE_DATABASE", "x`; DROP TABLE surveys; --"),
                                             ("TOUCHPULSE_CLICKHOUSE_CLUSTER", "c' OR '1")])
def test_cli_refuses_quoted_identifiers_in_one_line_naming_the_variable(tmp_path, variable, value):
    proc = cli(tmp_path, "config", env={variable: value})
    assert proc.returncode == 2
    assert variable in one_line_error(proc) and len(proc.stderr.decode().strip().splitlines()) == 1


@pytest.mark.parametrize("option, value", [("--from", "2026-01-01' OR 1=1 --"), ("--to", "2026-02-30"),
                                           ("--from", "yesterday; DROP TABLE surveys")])
def test_cli_bad_dates_are_refused_before_any_sql(tmp_path, option, value):
    proc = cli(tmp_path, "query", "nps_daily", option, value)
    assert proc.returncode == 2
    line = one_line_error(proc)
    assert option in line and "YYYY-MM-DD" in line


# --- secrets ----------------------------------------------------------------------------------

def test_config_json_masks_the_dsn_password_and_every_secret(tmp_path):
    marks = {"TOUCHPULSE_CLICKHOUSE": "https://writer:dsn-pw-7f3a9c@ch.example.com:8443/?verify=true",
             "TOUCHPULSE_KAFKA_SASL_PASSWORD": "sasl-pw-51c2e0", "TOUCHPULSE_GRAFANA_TOKEN": "glsa_token_90ab77",
             "TOUCHPULSE_GRAFANA_URL": "https://admin:grafana-pw-33d1@grafana.example.com"}
    proc = cli(tmp_path, "config", "--json", env={**marks, "TOUCHPULSE_KAFKA": "127.0.0.1:1"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["clickhouse"] == "https://writer:***@ch.example.com:8443/?verify=true"
    assert out["grafana_url"] == "https://admin:***@grafana.example.com"
    assert out["kafka_sasl_password"] == "***" and out["grafana_token"] == "***"
    text = proc.stdout + proc.stderr + cli(tmp_path, "config", env=marks).stdout
    for secret in ("dsn-pw-7f3a9c", "sasl-pw-51c2e0", "glsa_token_90ab77", "grafana-pw-33d1"):
        assert secret.encode() not in text


def test_an_unreachable_clickhouse_is_one_line_without_the_password(tmp_path):
    from touchpulse.kafka.broker import free_port
    dsn = f"http://reader:dsn-pw-0c0ffee@127.0.0.1:{free_port()}/"
    proc = cli(tmp_path, "query", "nps_daily", env={"TOUCHPULSE_CLICKHOUSE": dsn})
    assert proc.returncode == 1
    line = one_line_error(proc)
    assert "127.0.0.1" in line and "dsn-pw-0c0ffee" not in proc.stderr.decode() + proc.stdout.decode()


def test_hostile_input_and_secrets_end_to_end(pipeline):
    """Events with injection attempts go through the broker and the worker; CLI filters stay bound;
    secrets set in the environment appear in no output and no file under TOUCHPULSE_HOME."""
    secrets = {"TOUCHPULSE_KAFKA_SASL_PASSWORD": "sasl-pw-e2e-4b1d", "TOUCHPULSE_KAFKA_SASL_USERNAME": "svc",
               "TOUCHPULSE_GRAFANA_TOKEN": "glsa_e2e_token_c0de"}
    pipeline.env.update({**secrets, "TOUCHPULSE_LOG_LEVEL": "DEBUG"})
    outputs: list[bytes] = []

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = pipeline.run(*args, check=check)
        outputs.extend([proc.stdout, proc.stderr])
        return proc

    run("up")
    db = pipeline.env["TOUCHPULSE_DATABASE"]
    tables_of = (f"SELECT name FROM system.tables WHERE database = '{db}' "
                 "AND NOT (startsWith(name, '_w') AND engine = 'Memory') ORDER BY name")
    names = pipeline.sql(tables_of)
    records = [("surveys", json.dumps(survey(f"e{i}", t, score=10)).encode(), None) for i, t in enumerate(HOSTILE)]
    records.append(("surveys", json.dumps(survey("bad-tp", "c", touchpoint="x' OR 1=1 --")).encode(), None))
    pipeline.produce(records)
    outputs.append(run("worker", "--drain").stderr)

    rows = json.loads(run("query", "nps_daily", "--format", "json").stdout)
    assert [(r["touchpoint"], r["responses"], r["promoters"]) for r in rows] == \
        [("call_centre", len(HOSTILE), len(HOSTILE))]
    for text in ("x' OR 1=1 --", "call_centre' OR '1'='1", "call_centre' --", "'; DROP TABLE surveys; --"):
        assert json.loads(run("query", "nps_daily", "--touchpoint", text, "--format", "json").stdout) == []
    stored = pipeline.sql(f"SELECT event_id, customer_id, comment FROM {db}.surveys")
    assert {e: (c, m) for e, c, m in stored} == {f"e{i}": (t, t) for i, t in enumerate(HOSTILE)}
    assert pipeline.sql(tables_of) == names
    (dead,) = pipeline.consume("dlq")
    assert dict(dead.headers)["touchpulse.field"] == b"touchpoint"
    assert json.loads(run("config", "--json").stdout)["kafka_sasl_password"] == "***"

    for secret in (secrets["TOUCHPULSE_KAFKA_SASL_PASSWORD"], secrets["TOUCHPULSE_GRAFANA_TOKEN"]):
        assert not any(secret.encode() in out for out in outputs), secret
        leaked = [p for p in pipeline.home.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
        assert leaked == [], secret


# --- ClickHouse TLS -----------------------------------------------------------------------------

@dataclass
class Pki:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    """A test CA and a server certificate for 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(UTC)

    def sign(subject, issuer, public, key, ca: bool, san=None):
        b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public)
             .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
             .not_valid_after(now + dt.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return b.sign(key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "touchpulse test ClickHouse CA")])
    ca = sign(ca_name, ca_name, ca_key.public_key(), ca_key, True)
    cert = sign(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, key.public_key(),
                ca_key, False, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    d = tmp_path_factory.mktemp("pki")
    out = Pki(d / "ca.pem", d / "server.pem", d / "server.key")
    out.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return out


@dataclass
class TlsProbe:
    """A TLS endpoint that records what reaches it: decrypted request heads, or handshake failures.
    It answers 500 to every request; it checks the client's TLS, it does not play ClickHouse."""
    port: int
    requests: list[bytes] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def tls_probe(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.cert, pki.key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    probe = TlsProbe(listener.getsockname()[1])

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                conn.settimeout(5)
                with context.wrap_socket(conn, server_side=True) as s:
                    head = b""
                    while b"\r\n\r\n" not in head and (chunk := s.recv(4096)):
                        head += chunk
                    probe.requests.append(head)
                    s.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n"
                              b"Connection: close\r\n\r\nprobe\n")
            except (ssl.SSLError, OSError) as exc:
                probe.failures.append(str(exc))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield probe
    try:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
    except OSError:
        pass
    listener.close()
    thread.join(timeout=5)


def https_settings(port: int, query: str, tmp_path):
    dsn = f"https://touchpulse_reader:tls-pw-91e2@127.0.0.1:{port}/{query}"
    return load_settings({"TOUCHPULSE_CLICKHOUSE": dsn, "TOUCHPULSE_HOME": str(tmp_path)}, dotenv=None)


def test_https_dsn_query_parameters_reach_clickhouse_connect(pki, tmp_path):
    """How clickhouse-connect reads touchpulse's DSN, without a server: TLS options come from the query."""
    from clickhouse_connect.driver import _parse_connection_params
    from clickhouse_connect.driver.common import coerce_bool
    from clickhouse_connect.driver.httputil import get_pool_manager_options

    dsn = f"https://touchpulse_reader:tls-pw@ch.example.com:8443/analytics?verify=true&ca_cert={pki.ca}"
    kwargs: dict = {}
    host, user, password, port, database, interface = _parse_connection_params(
        None, None, "", None, None, "https", True, dsn, kwargs)
    assert (host, user, password, port, database, interface) == \
        ("ch.example.com", "touchpulse_reader", "tls-pw", 8443, "analytics", "https")
    assert kwargs == {"verify": "true", "ca_cert": str(pki.ca)}
    options = get_pool_manager_options(ca_cert=kwargs["ca_cert"], verify=coerce_bool(kwargs["verify"]))
    assert options["cert_reqs"] == "CERT_REQUIRED" and options["ca_certs"] == str(pki.ca)


def test_https_dsn_verifies_the_server_with_the_ca_cert_it_names(tls_probe, pki, tmp_path):
    """touchpulse's own connect(): TLS on a non-default port, the DSN's CA trusted, credentials only
    inside TLS; without that CA the handshake fails before anything is sent."""
    from touchpulse.clickhouse.client import ClickHouseUnavailable, connect

    with pytest.raises(ClickHouseUnavailable) as info:
        connect(https_settings(tls_probe.port, f"?verify=true&ca_cert={pki.ca}", tmp_path), connect_timeout=5)
    assert tls_probe.requests, f"no request arrived over TLS: {tls_probe.failures or str(info.value)}"
    head = tls_probe.requests[0].decode("latin-1")
    assert head.startswith("POST ") and "tls-pw-91e2" not in str(info.value)
    assert "Authorization: Basic " in head or "X-ClickHouse-User: touchpulse_reader" in head

    tls_probe.requests.clear()
    with pytest.raises(ClickHouseUnavailable) as info:
        connect(https_settings(tls_probe.port, "?verify=true", tmp_path), connect_timeout=5)
    assert tls_probe.requests == [], "a server with an unknown CA was trusted"
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate verify failed" in str(info.value)


# --- the AST taint check over the source tree ---------------------------------------------------

SCANNED = ("touchpulse", "streams", "flows", "dashboards")
# Sinks that run SQL text made elsewhere on purpose, and why that is safe.
EXEMPT = {
    ("dashboards/cli.py", "cmd_check"): "runs each panel's SQL after the macro expansion Grafana does "
                                        "(touchpulse.dashboards.macros quotes variable values like Grafana)",
    ("touchpulse/bench/queries.py", "time_queries.run"): "the benchmark times that same panel SQL",
    ("touchpulse/bench/queries.py", "build_data"): "the benchmark's synthetic-data generator: numbers and dates "
                                                   "from its own arguments, never event data",
    ("touchpulse/bench/reads.py", "DashboardLoop.run.query"): "the benchmark runs that same panel SQL through the "
                                                              "worker's read endpoint",
    ("touchpulse/serve/engine.py", "Engine._run"): "the worker's read endpoint runs the SQL its (authenticated) client "
                                                   "sent, unchanged, in a fresh readonly = 2 session with limits, after "
                                                   "touchpulse.serve.guard's checks: that is what it is for",
}
SINKS = {"query", "command", "raw_query", "query_df", "query_np", "query_arrow", "query_rows",
         "query_row_block_stream", "query_column_block_stream", "raw_stream"}
QUOTERS = {"q", "literal"}  # their result is quoted, whatever goes in
NUMERIC = {"int", "float", "round", "len", "abs", "bool", "chr", "ord"}
PASS_THROUGH = {"sorted", "list", "tuple", "set", "reversed", "enumerate", "zip", "dict", "str", "min", "max"}
STR_METHODS = {"join", "replace", "strip", "lstrip", "rstrip", "lower", "upper", "items", "values", "keys",
               "split", "get", "removeprefix", "removesuffix", "copy"}
FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
SCOPES = (*FUNCS, ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)


@dataclass(eq=False)
class Module:
    name: str
    path: str
    tree: ast.Module
    parents: dict

    def scope(self, node):
        node = self.parents.get(node)
        while node is not None and not isinstance(node, SCOPES):
            node = self.parents.get(node)
        return node


def load_modules(root: Path, folders=SCANNED) -> dict[str, Module]:
    mods = {}
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[0] != "touchpulse":  # streams/, flows/, dashboards/ install as touchpulse.<name>
                parts.insert(0, "touchpulse")
            if parts[-1] == "__init__":
                parts.pop()
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            parents = {c: n for n in ast.walk(tree) for c in ast.iter_child_nodes(n)}
            mods[".".join(parts)] = Module(".".join(parts), path.relative_to(root).as_posix(), tree, parents)
    return mods


def _names(target) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _scope_nodes(scope):
    """The nodes of one scope, not descending into nested scopes or classes."""
    todo = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (*SCOPES, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))


class TaintCheck:
    """Whole-program, flow-insensitive: a value may reach SQL text only if every way it can be
    produced is a constant, a number, a q()/literal() result or a combination of those. Names are
    followed to all their bindings, parameters to all their call sites, calls to all their returns."""

    def __init__(self, modules: dict[str, Module]):
        self.modules = modules
        self.memo: dict = {}
        self.leaves: list[tuple[Module, ast.AST, str]] = []
        # Indexes, so that following a parameter to its callers does not re-walk every module.
        self.loads: dict[str, list[tuple[Module, ast.Name]]] = {}
        self.attribute_calls: dict[str, list[tuple[Module, ast.Call]]] = {}
        self.methods: dict[str, list[tuple[Module, ast.AST]]] = {}
        for m in modules.values():
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    self.loads.setdefault(node.id, []).append((m, node))
                elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    self.attribute_calls.setdefault(node.func.attr, []).append((m, node))
                elif isinstance(node, ast.ClassDef):
                    for f in node.body:
                        if isinstance(f, FUNCS):
                            self.methods.setdefault(f.name, []).append((m, f))
        self._resolved: dict = {}
        self._sites: dict = {}

    def sinks(self):
        for m in self.modules.values():
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SINKS:
                    arg = node.args[0] if node.args else next(
                        (k.value for k in node.keywords if k.arg in ("query", "cmd", "sql")), None)
                    if arg is not None:
                        yield m, node, arg, self.qualname(m, node)

    @staticmethod
    def qualname(m, node) -> str:
        names = []
        while (node := m.parents.get(node)) is not None:
            if isinstance(node, (*FUNCS, ast.ClassDef)):
                names.append(node.name)
        return ".".join(reversed(names)) or "<module>"

    def problems(self, m, arg) -> list[str]:
        self.leaves = []
        if self.safe(m, arg):
            return []
        return [f"{lm.path}:{getattr(node, 'lineno', '?')} {ast.unparse(node).splitlines()[0][:70]!r}: {why}"
                for lm, node, why in self.leaves]

    def safe(self, m, e) -> bool:
        key = (m.name, id(e))
        if key in self.memo:
            ok, leaves = self.memo[key]
            self.leaves += [x for x in leaves if x not in self.leaves]
            return ok
        self.memo[key] = (True, [])  # a cycle adds no taint of its own
        before = len(self.leaves)
        ok = self._safe(m, e)
        self.memo[key] = (ok, [] if ok else self.leaves[before:])
        return ok

    def bad(self, m, node, why) -> bool:
        self.leaves.append((m, node, why))
        return False

    def all_safe(self, m, exprs) -> bool:
        return all([self.safe(m, x) for x in exprs])  # no short cut: report every leaf

    def _safe(self, m, e) -> bool:
        if isinstance(e, ast.Constant):
            return True
        if isinstance(e, ast.JoinedStr):
            return self.all_safe(m, [v.value if isinstance(v, ast.FormattedValue) else v for v in e.values])
        if isinstance(e, (ast.List, ast.Tuple, ast.Set)):
            return self.all_safe(m, e.elts)
        if isinstance(e, ast.Dict):
            return self.all_safe(m, [x for x in (*e.keys, *e.values) if x is not None])
        if isinstance(e, ast.Starred):
            return self.safe(m, e.value)
        if isinstance(e, ast.BinOp):
            return self.all_safe(m, [e.left, e.right])
        if isinstance(e, ast.BoolOp):
            return self.all_safe(m, e.values)
        if isinstance(e, ast.IfExp):
            return self.all_safe(m, [e.body, e.orelse])
        if isinstance(e, ast.Compare) or (isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not)):
            return True  # a bool
        if isinstance(e, ast.UnaryOp):
            return self.safe(m, e.operand)
        if isinstance(e, ast.Subscript):
            return self.safe(m, e.value)
        if isinstance(e, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            return self.safe(m, e.elt)
        if isinstance(e, ast.DictComp):
            return self.all_safe(m, [e.key, e.value])
        if isinstance(e, ast.Call):
            return self._call(m, e)
        if isinstance(e, ast.Name):
            return self._name(m, e)
        return self.bad(m, e, "not a constant, a number or a q()/literal() result")

    def _call(self, m, e) -> bool:
        f, args = e.func, [*e.args, *(k.value for k in e.keywords)]
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name in QUOTERS or name in NUMERIC:
            return True
        if isinstance(f, ast.Name) and name in PASS_THROUGH:
            return self.all_safe(m, args)
        if isinstance(f, ast.Attribute) and name in STR_METHODS:
            return self.all_safe(m, [f.value, *args])
        if isinstance(f, ast.Attribute) and isinstance(f.value, (ast.Constant, ast.JoinedStr)):
            return self.bad(m, e, f"str.{name}() builds text from its arguments")
        targets = self.resolve_call(m, e)
        if not targets:
            return self.bad(m, e, "a call whose result cannot be traced")
        return all([self.all_safe(fm, [r.value for r in _scope_nodes(fn) if isinstance(r, ast.Return)
                                        and r.value is not None]) for fm, fn in targets])

    def _name(self, m, e) -> bool:
        scope = m.scope(e)
        while True:
            found = self._bound(m, scope, e.id)
            if found is not None:
                return found
            if scope is None:
                return self.bad(m, e, "not bound anywhere visible")
            scope = m.scope(scope)

    def _bound(self, m, scope, name):
        """True/False when `name` is bound in `scope` (None: the module), None when it is not bound there."""
        if isinstance(scope, (*FUNCS, ast.Lambda)):
            a = scope.args
            if any(p.arg == name for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p):
                return self._parameter(m, scope, name)
        if isinstance(scope, (ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)):
            gens = [g for g in scope.generators if name in _names(g.target)]
            return self.safe(m, gens[0].iter) if gens else None
        values, bound = [], False
        for node in _scope_nodes(m.tree if scope is None else scope):
            if isinstance(node, ast.Assign) and any(name in _names(t) for t in node.targets):
                values.append(node.value)
                bound = True
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and name in _names(node.target):
                values += [node.value] if node.value is not None else []
                bound = True
            elif isinstance(node, (ast.For, ast.AsyncFor)) and name in _names(node.target):
                values.append(node.iter)
                bound = True
            elif isinstance(node, ast.NamedExpr) and node.target.id == name:
                values.append(node.value)
                bound = True
            elif isinstance(node, (ast.With, ast.AsyncWith)) and any(
                    i.optional_vars is not None and name in _names(i.optional_vars) for i in node.items):
                return self.bad(m, node, f"{name} is bound by a with statement")
            elif isinstance(node, ast.ExceptHandler) and node.name == name:
                return self.bad(m, node, f"{name} is an exception")
            elif isinstance(node, (*FUNCS, ast.ClassDef)) and node.name == name:
                return True  # a function or class object, not text
            elif isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
                alias = next(a for a in node.names if (a.asname or a.name) == name)
                src = self.modules.get(node.module or "")
                if src is None:
                    return self.bad(m, node, f"{name} comes from outside the scanned tree")
                return bool(self._bound(src, None, alias.name)) or self.bad(m, node, f"{name}: unsafe at its source")
            elif isinstance(node, ast.Import) and any((a.asname or a.name).split(".")[0] == name for a in node.names):
                return True  # a module object
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and isinstance(node.func.value, ast.Name) and node.func.value.id == name
                  and node.func.attr in ("append", "extend", "insert", "add", "update", "setdefault")):
                values += node.args
        if not bound:
            return None
        return self.all_safe(m, values)

    def resolve_call(self, m, call):
        """The project functions a call may run: a name in scope or imported, or any method of that name."""
        key = (m.name, id(call.func))
        if key not in self._resolved:
            self._resolved[key] = self._resolve(m, call)
        return self._resolved[key]

    def _resolve(self, m, call):
        f = call.func
        if isinstance(f, ast.Name):
            scope = m.scope(call)
            while True:
                for node in _scope_nodes(m.tree if scope is None else scope):
                    if isinstance(node, FUNCS) and node.name == f.id:
                        return [(m, node)]
                    if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == f.id for a in node.names):
                        alias = next(a for a in node.names if (a.asname or a.name) == f.id)
                        src = self.modules.get(node.module or "")
                        return [(src, n) for n in (src.tree.body if src else [])
                                if isinstance(n, FUNCS) and n.name == alias.name]
                if scope is None:
                    return []
                scope = m.scope(scope)
        if isinstance(f, ast.Attribute):
            return list(self.methods.get(f.attr, []))
        return []

    def _parameter(self, m, fn, name) -> bool:
        if isinstance(fn, ast.Lambda):
            return self.bad(m, fn, f"parameter {name!r} of a lambda: its callers cannot be traced")
        a = fn.args
        positional = [p.arg for p in (*a.posonlyargs, *a.args)]
        if name not in positional and name not in [p.arg for p in a.kwonlyargs]:
            return self.bad(m, fn, f"{name!r} collects *args/**kwargs of {fn.name}()")
        defaults = dict(zip(positional[len(positional) - len(a.defaults):], a.defaults))
        defaults.update({p.arg: d for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
        sites, escaped = self.call_sites(m, fn)
        if escaped:
            return self.bad(m, fn, f"parameter {name!r} of {fn.name}(), which is passed around as a value")
        if not sites:
            return self.bad(m, fn, f"parameter {name!r} of {fn.name}(), which nothing here calls")
        shift = 1 if positional and positional[0] in ("self", "cls") else 0
        index = positional.index(name) - shift if name in positional else -1
        ok = True
        for cm, call in sites:
            kw = next((k.value for k in call.keywords if k.arg == name), None)
            starred = any(isinstance(x, ast.Starred) for x in call.args) or any(k.arg is None for k in call.keywords)
            if kw is not None:
                arg = kw
            elif 0 <= index < len(call.args) and not any(isinstance(x, ast.Starred) for x in call.args[:index + 1]):
                arg = call.args[index]
            elif name in defaults and not starred:
                arg = defaults[name]
            else:
                return self.bad(cm, call, f"passes {name!r} to {fn.name}() through *args/**kwargs")
            ok = self.safe(cm, arg) and ok
        return ok

    def call_sites(self, m, fn):
        """Calls that reach `fn`, and whether it escapes as a value (then its callers are unknown)."""
        if id(fn) not in self._sites:
            self._sites[id(fn)] = self._call_sites(m, fn)
        return self._sites[id(fn)]

    def _call_sites(self, m, fn):
        if isinstance(m.parents.get(fn), ast.ClassDef):
            return list(self.attribute_calls.get(fn.name, [])), False
        sites, escaped = [], False
        for mm, node in self.loads.get(fn.name, []):
            parent = mm.parents.get(node)
            call = parent if isinstance(parent, ast.Call) and parent.func is node else None
            probe = call or ast.Call(func=node, args=[], keywords=[])
            if call is None:
                mm.parents[probe] = parent
            try:
                reaches = any(t is fn for _, t in self._resolve(mm, probe))
            finally:
                if call is None:
                    del mm.parents[probe]
            if reaches and call is not None:
                sites.append((mm, call))
            elif reaches:
                escaped = True
        return sites, escaped


def unsafe_sinks(root: Path, folders=SCANNED) -> dict[tuple[str, str], list[str]]:
    check = TaintCheck(load_modules(root, folders))
    out = {}
    for m, call, arg, function in check.sinks():
        problems = check.problems(m, arg)
        if problems:
            out.setdefault((m.path, function), []).extend([f"line {call.lineno}: {p}" for p in problems])
    return out


def test_sql_text_interpolates_only_constants_numbers_and_quoted_values():
    found = unsafe_sinks(ROOT)
    report = "\n".join(f"{path} {fn}():\n    " + "\n    ".join(lines)
                       for (path, fn), lines in sorted(found.items()) if (path, fn) not in EXEMPT)
    assert not report, ("SQL text built from values that are not constants, numbers or q()/literal() results; "
                        "bind them as {name:Type} parameters or quote them:\n" + report)


def test_the_taint_check_flags_string_built_sql(tmp_path):
    pkg = tmp_path / "touchpulse"
    pkg.mkdir()
    (pkg / "q.py").write_text("def q(x):\n    return '`' + x + '`'\n\ndef literal(x):\n    return repr(x)\n")
    (pkg / "sample.py").write_text('''
import sys
from touchpulse.q import literal, q
TABLES = {"call": "calls", "survey": "surveys"}

def good(client, db, day):
    for table in TABLES.values():
        client.query(f"SELECT * FROM {q(db)}.{table} WHERE day = {{day:Date}} AND x = {literal(day)}",
                     parameters={"day": day})
    where = ["a = {a:String}"]
    where.append(f"{q('b')} = 1")
    client.query("SELECT 1 WHERE " + " AND ".join(where) + f" LIMIT {int(day)}")
    client.command(helper("calls"))

def helper(name, suffix=""):
    return f"OPTIMIZE TABLE {name}{suffix}"

def bad_param(client, touchpoint):
    client.query(f"SELECT * FROM t WHERE touchpoint = '{touchpoint}'")

def bad_format(client, settings):
    client.query("SELECT * FROM {}".format(settings.database))

def bad_concat(client, settings):
    client.command("DROP TABLE " + settings.database)

def bad_percent(client):
    client.query("SELECT '%s'" % sys.argv[1])

def bad_helper_caller(client):
    client.command(helper(sys.argv[1]))

def main(client):
    good(client, "db", "2026-01-01")
    bad_param(client, sys.argv[1])
''')
    found = unsafe_sinks(tmp_path, ("touchpulse",))
    assert set(found) == {("touchpulse/sample.py", f) for f in ("bad_param", "bad_format", "bad_concat",
                                                                "bad_percent", "bad_helper_caller", "good")}
    # `good` is flagged only because helper() is also called with sys.argv: a parameter is as unsafe
    # as its worst caller.
    assert all("helper" in line or "sys.argv" in line for line in found[("touchpulse/sample.py", "good")])
    # A parameter is traced to its callers: the report names the caller's sys.argv.
    assert any("sys.argv" in line for line in found[("touchpulse/sample.py", "bad_param")])
    assert any("str.format()" in line for line in found[("touchpulse/sample.py", "bad_format")])
