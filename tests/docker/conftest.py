"""Fixtures for the end-to-end suite against Apache Kafka, a ClickHouse server and Grafana.

Each service, once per session: the running one named by TOUCHPULSE_TEST_KAFKA (host:port),
TOUCHPULSE_TEST_CLICKHOUSE (http://user:password@host:port of a user with access management)
or TOUCHPULSE_TEST_GRAFANA (http://admin:password@host:port) if set; else a container started
through testcontainers when a Docker engine answers; else the test is skipped with the reason,
which `-ra` prints in the summary. The images are the ones infra/compose.yaml pins, and the
ClickHouse container gets the least-privilege users the way compose does (init script + template).

touchpulse itself runs as a subprocess (`python -m touchpulse.cli ...`), exactly as users run it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
CLI = [sys.executable, "-m", "touchpulse.cli"]
ROLES = ("admin", "writer", "reader")


@cache
def compose_image(service: str) -> str:
    return yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))["services"][service]["image"]


@cache
def docker_problem() -> str | None:
    """None when a Docker engine answers; else why not (testcontainers cannot even build a container then)."""
    try:
        import docker
        client = docker.from_env(timeout=10)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # the docker SDK raises many types for "no engine"
        text = (str(exc).strip().splitlines() or [""])[0].split(" ('")[0]
        return f"{type(exc).__name__}: {text}".rstrip(": ")[:160]
    return None


def need_docker(service: str, variable: str) -> None:
    problem = docker_problem()
    if problem is not None:
        pytest.skip(f"no Docker engine for {service} ({problem}); set {variable} to use a running one")


# --- Apache Kafka -----------------------------------------------------------------------------

def apache_kafka_container(image: str):
    """apache/kafka as a single KRaft broker+controller that advertises the port mapped on the host.

    The mapped port is known only after the container starts, so the container waits for a start
    script that exports KAFKA_ADVERTISED_LISTENERS and then runs the image's own launcher.
    """
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    script = "/tmp/touchpulse-kafka-start.sh"

    class ApacheKafka(DockerContainer):
        def start(self):
            super().start()
            host, port = self.get_container_host_ip(), self.get_exposed_port(9092)
            body = (f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{host}:{port},BROKER://localhost:9093\n"
                    "exec /etc/kafka/docker/run\n")
            self.copy_into_container(body.encode(), script, 0o755)
            LogMessageWaitStrategy(re.compile(r"Kafka Server started")).with_startup_timeout(180) \
                .wait_until_ready(self)
            return self

    container = ApacheKafka(image)
    container.with_exposed_ports(9092)
    container.with_envs(
        CLUSTER_ID="4L6g3nShT-eMCtK--X86sw",
        KAFKA_NODE_ID="1",
        KAFKA_PROCESS_ROLES="broker,controller",
        KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9094",
        KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
        KAFKA_LISTENERS="PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094",
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
        KAFKA_INTER_BROKER_LISTENER_NAME="BROKER",
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
        KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
    )
    container.with_command(["sh", "-c", f"while [ ! -f {script} ]; do sleep 0.1; done; exec sh {script}"])
    return container


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    given = os.environ.get("TOUCHPULSE_TEST_KAFKA")
    if given:
        yield given
        return
    need_docker("Apache Kafka", "TOUCHPULSE_TEST_KAFKA")
    container = apache_kafka_container(compose_image("kafka"))
    container.start()
    try:
        yield f"{container.get_container_host_ip()}:{container.get_exposed_port(9092)}"
    finally:
        container.stop()


# --- ClickHouse server with the least-privilege users -------------------------------------------

@dataclass
class ClickHouseServer:
    """A ClickHouse server whose users come from infra/clickhouse/users.sql for `database`."""
    scheme: str
    host: str
    port: int
    database: str
    passwords: dict[str, str]
    root: tuple[str, str]

    def dsn(self, role: str) -> str:
        user, password = (self.root if role == "root" else (f"touchpulse_{role}", self.passwords[role]))
        return f"{self.scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{self.host}:{self.port}"

    def client(self, role: str):
        import clickhouse_connect
        return clickhouse_connect.get_client(dsn=self.dsn(role))


def users_sql(database: str, passwords: dict[str, str]) -> str:
    """The filled-in template, exactly as the init script would apply it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLICKHOUSE_", "TOUCHPULSE_"))}
    env.update({f"CLICKHOUSE_{r.upper()}_PASSWORD": p for r, p in passwords.items()})
    env.update(TOUCHPULSE_DATABASE=database, USERS_SQL=str(INFRA / "clickhouse/users.sql"))
    out = subprocess.run(["bash", str(INFRA / "clickhouse/initdb/10-touchpulse-users.sh"), "--print"],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    return out.stdout


def apply_users(server: ClickHouseServer) -> None:
    """For a server we did not start: run the template through the root DSN."""
    body = "\n".join(l for l in users_sql(server.database, server.passwords).splitlines()
                     if not l.lstrip().startswith("--"))
    client = server.client("root")
    try:
        for stmt in (s.strip() for s in body.split(";")):
            if stmt:
                client.command(stmt)
    finally:
        client.close()


@pytest.fixture(scope="session")
def clickhouse_server() -> ClickHouseServer:
    database = "tp_e2e_" + uuid.uuid4().hex[:8]
    passwords = {role: secrets.token_hex(16) for role in ROLES}
    given = os.environ.get("TOUCHPULSE_TEST_CLICKHOUSE")
    if given:
        parts = urlsplit(given)
        server = ClickHouseServer(parts.scheme, parts.hostname, parts.port or 8123, database, passwords,
                                  (parts.username or "default", parts.password or ""))
        apply_users(server)
        yield server
        return
    need_docker("ClickHouse", "TOUCHPULSE_TEST_CLICKHOUSE")
    from testcontainers.community.clickhouse import ClickHouseContainer

    root = ("touchpulse_root", secrets.token_hex(16))
    container = ClickHouseContainer(compose_image("clickhouse"), username=root[0], password=root[1],
                                    dbname="default")
    # The same mechanism as infra/compose.yaml: the template and the init script the image runs.
    container.with_copy_into_container(INFRA / "clickhouse/users.sql", "/etc/touchpulse/users.sql", 0o644)
    container.with_copy_into_container(INFRA / "clickhouse/initdb/10-touchpulse-users.sh",
                                       "/docker-entrypoint-initdb.d/10-touchpulse-users.sh", 0o755)
    container.with_envs(CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT="1", TOUCHPULSE_DATABASE=database,
                        **{f"CLICKHOUSE_{r.upper()}_PASSWORD": p for r, p in passwords.items()})
    container.start()
    try:
        yield ClickHouseServer("http", container.get_container_host_ip(), int(container.get_exposed_port(8123)),
                               database, passwords, root)
    finally:
        container.stop()


# --- Grafana --------------------------------------------------------------------------------------

GRAFANA_TOUCHPOINTS = ("call_centre", "retail_store")
GRAFANA_DATABASE = "touchpulse"


@dataclass
class GrafanaServer:
    url: str                      # base URL without credentials
    user: str
    password: str
    reader_password: str          # what the provisioned datasource carries
    file_provisioned: bool        # started here with infra/grafana/provisioning and dashboards
    touchpoints: tuple[str, ...] = GRAFANA_TOUCHPOINTS   # the file-provisioned dashboards were built for these
    database: str = GRAFANA_DATABASE


def dashboard_files(tmp: Path) -> list[Path]:
    """The dashboards Grafana provisions from files: built for GRAFANA_TOUCHPOINTS, or the generated copies."""
    try:
        from touchpulse.dashboards.build import write_all
    except ImportError:
        return sorted((INFRA / "grafana/dashboards").glob("*.json"))
    return write_all(tmp, GRAFANA_TOUCHPOINTS, database=GRAFANA_DATABASE)


@pytest.fixture(scope="session")
def grafana_server(tmp_path_factory) -> GrafanaServer:
    given = os.environ.get("TOUCHPULSE_TEST_GRAFANA")
    if given:
        parts = urlsplit(given)
        base = f"{parts.scheme}://{parts.hostname}:{parts.port or 3000}{parts.path.rstrip('/')}"
        yield GrafanaServer(base, parts.username or "admin", parts.password or "admin", secrets.token_hex(8), False)
        return
    need_docker("Grafana", "TOUCHPULSE_TEST_GRAFANA")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HttpWaitStrategy

    password, reader_password = secrets.token_hex(12), secrets.token_hex(12)
    container = DockerContainer(compose_image("grafana"))
    container.with_exposed_ports(3000)
    grafana_env = yaml.safe_load((INFRA / "compose.yaml").read_text(encoding="utf-8"))["services"]["grafana"]["environment"]
    container.with_envs(GF_SECURITY_ADMIN_PASSWORD=password, GF_INSTALL_PLUGINS=grafana_env["GF_INSTALL_PLUGINS"],
                        GF_ANALYTICS_REPORTING_ENABLED="false", GF_ANALYTICS_CHECK_FOR_UPDATES="false",
                        CLICKHOUSE_READER_PASSWORD=reader_password, TOUCHPULSE_DATABASE=GRAFANA_DATABASE)
    # The files infra/compose.yaml mounts, at the same places.
    provisioning = INFRA / "grafana/provisioning"
    container.with_copy_into_container(provisioning / "datasources/clickhouse.yaml",
                                       "/etc/grafana/provisioning/datasources/clickhouse.yaml")
    container.with_copy_into_container(provisioning / "dashboards/touchpulse.yaml",
                                       "/etc/grafana/provisioning/dashboards/touchpulse.yaml")
    for path in dashboard_files(tmp_path_factory.mktemp("dashboards")):
        container.with_copy_into_container(path, f"/var/lib/grafana/dashboards/{path.name}")
    container.waiting_for(HttpWaitStrategy(3000, "/api/health").for_status_code(200).with_startup_timeout(300))
    container.start()
    try:
        yield GrafanaServer(f"http://{container.get_container_host_ip()}:{container.get_exposed_port(3000)}",
                            "admin", password, reader_password, True)
    finally:
        container.stop()


# --- touchpulse against those services ----------------------------------------------------------

@dataclass
class Deployment:
    """One touchpulse installation on the real services, driven through its CLI."""
    home: Path
    bootstrap: str
    clickhouse: ClickHouseServer
    env: dict = field(default_factory=dict)

    def run(self, *args: str, role: str = "admin", input: bytes | None = None, timeout: float = 600,
            check: bool = True) -> subprocess.CompletedProcess:
        env = {**self.env, "TOUCHPULSE_CLICKHOUSE": self.clickhouse.dsn(role)}
        proc = subprocess.run([*CLI, *args], input=input, capture_output=True, env=env, timeout=timeout,
                              cwd=self.home)
        if check and proc.returncode != 0:
            raise AssertionError(f"touchpulse {' '.join(args)} (as {role}) exited {proc.returncode}\n"
                                 f"stdout: {proc.stdout.decode()[-3000:]}\nstderr: {proc.stderr.decode()[-5000:]}")
        return proc

    def query(self, view: str, *args: str, role: str = "reader") -> list[dict]:
        return json.loads(self.run("query", view, "--format", "json", *args, role=role).stdout)

    def topic(self, name: str) -> str:
        return self.env["TOUCHPULSE_TOPIC_PREFIX"] + name

    def produce(self, topic: str, values: list[bytes]) -> None:
        from kafka import KafkaProducer
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            for value in values:
                producer.send(self.topic(topic), value=value)
            producer.flush()
        finally:
            producer.close()

    def consume(self, topic: str, timeout_ms: int = 5000) -> list:
        """Every record now on a topic, read without a consumer group."""
        from kafka import KafkaConsumer, TopicPartition
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
        try:
            parts = consumer.partitions_for_topic(self.topic(topic)) or set()
            tps = [TopicPartition(self.topic(topic), p) for p in parts]
            consumer.assign(tps)
            ends = consumer.end_offsets(tps)
            consumer.seek_to_beginning(*tps)
            out = []
            while any(consumer.position(tp) < ends[tp] for tp in tps):
                batch = consumer.poll(timeout_ms=timeout_ms)
                if not batch:
                    break
                for records in batch.values():
                    out.extend(records)
            return out
        finally:
            consumer.close()


@pytest.fixture
def deployment(kafka_bootstrap, clickhouse_server, tmp_path) -> Deployment:
    name = "e2e" + uuid.uuid4().hex[:8]
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
    env.update({
        "TOUCHPULSE_HOME": str(home),
        "TOUCHPULSE_KAFKA": kafka_bootstrap,
        "TOUCHPULSE_DATABASE": clickhouse_server.database,
        "TOUCHPULSE_TOPIC_PREFIX": f"{name}.",
        "TOUCHPULSE_GROUP": f"{name}-workers",
        "TOUCHPULSE_PARTITIONS": "2",
        "TOUCHPULSE_BATCH_WAIT": "0.2",
        "PYTHONUNBUFFERED": "1",
    })
    return Deployment(home=home, bootstrap=kafka_bootstrap, clickhouse=clickhouse_server, env=env)
