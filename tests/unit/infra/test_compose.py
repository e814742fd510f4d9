"""Structural checks of infra/compose.yaml: what `docker compose up` would build, checked without Docker.

Runs everywhere: the services, KRaft settings, health checks, volumes and ports, and that every
touchpulse container is configured only through settings that exist, with secrets from infra/.env.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from touchpulse.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
COMPOSE = INFRA / "compose.yaml"
CLUSTER = INFRA / "clickhouse-cluster" / "compose.yaml"
ENV_EXAMPLE = INFRA / ".env.example"

TOUCHPULSE_SERVICES = ("init", "worker", "scheduler")
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict:
    return load(COMPOSE)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    out = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"infra/.env.example: {line!r} is not KEY=VALUE"
            out[key.strip()] = value
    return out


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} (enough for these files)."""
    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        value = env.get(name, "")
        if op in (":-", "-") and not value:
            return arg
        if op in (":?", "?") and not value:
            raise AssertionError(f"{name} is required: {arg}")
        return value
    return VAR.sub(sub, text.replace("$$", "\0")).replace("\0", "$")


def test_every_service_is_there(services):
    assert set(services) >= {"kafka", "clickhouse", "grafana", "prefect", "init", "worker", "scheduler"}


def test_images_are_the_official_ones_and_pinned(services):
    expected = {"kafka": "apache/kafka:", "clickhouse": "clickhouse/clickhouse-server:",
                "grafana": "grafana/grafana:", "prefect": "prefecthq/prefect:3.8.8-python3.11"}
    for name, prefix in expected.items():
        image = services[name]["image"]
        assert image.startswith(prefix), f"{name} uses {image}"
        tag = image.rsplit(":", 1)[1]
        assert tag and tag != "latest" and re.match(r"\d", tag), f"{name} image {image} is not pinned"


def test_kafka_runs_in_kraft_mode_with_listeners_for_the_network_and_the_host(services):
    env = services["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env).upper(), "KRaft needs no ZooKeeper settings"
    node = str(env["KAFKA_NODE_ID"])
    voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert voters.startswith(f"{node}@kafka:")
    listeners = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
    advertised = dict(item.split("://", 1) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in listeners and controller not in advertised
    assert voters.endswith(listeners[controller].rsplit(":", 1)[1])
    assert set(listeners) == set(protocols)
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    # The touchpulse containers bootstrap from the advertised in-network listener.
    internal = [name for name, addr in advertised.items() if addr.startswith("kafka:")]
    assert internal, "no listener advertised as kafka:<port> for the compose network"
    port = advertised[internal[0]].rsplit(":", 1)[1]
    assert services["init"]["environment"]["TOUCHPULSE_KAFKA"] == f"kafka:{port}"
    assert env["CLUSTER_ID"], "KRaft storage needs a cluster id"
    assert env["KAFKA_LOG_DIRS"] in [v.split(":")[1] for v in services["kafka"]["volumes"]]
    # A single broker: internal topics must not ask for three replicas.
    assert str(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == "1"
    assert str(env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"]) == "1"


def test_the_host_port_of_kafka_is_the_port_it_advertises_to_the_host(services):
    env = env_example()
    kafka = services["kafka"]
    advertised = dict(item.split("://", 1) for item in kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(","))
    external = interpolate(advertised["EXTERNAL"], env)
    published = interpolate(kafka["ports"][0], env)  # host_ip:host_port:container_port
    host_ip, host_port, container_port = published.rsplit(":", 2)
    assert external == f"{env['KAFKA_EXTERNAL_HOST']}:{host_port}"
    listeners = dict(item.split("://", 1) for item in kafka["environment"]["KAFKA_LISTENERS"].split(","))
    assert listeners["EXTERNAL"].endswith(f":{container_port}")


def test_infrastructure_services_have_health_checks_and_dependents_wait_for_them(services):
    for name in ("kafka", "clickhouse", "grafana", "prefect"):
        check = services[name].get("healthcheck")
        assert check and check["test"][0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
        assert check.get("retries", 0) >= 3 and "interval" in check
    init = services["init"]["depends_on"]
    assert init["kafka"]["condition"] == "service_healthy"
    assert init["clickhouse"]["condition"] == "service_healthy"
    for name in ("worker", "scheduler"):
        assert services[name]["depends_on"]["init"]["condition"] == "service_completed_successfully"
    assert services["scheduler"]["depends_on"]["prefect"]["condition"] == "service_healthy"
    assert services["init"].get("restart") == "no", "init is a one-shot"


def test_clickhouse_health_check_waits_for_the_users_init_scripts(services):
    # During init the image's server listens on 127.0.0.1 only; a loopback check would pass too early.
    test = " ".join(services["clickhouse"]["healthcheck"]["test"])
    assert "/ping" in test and "127.0.0.1" not in test and "localhost" not in test


def test_named_volumes_are_declared_and_hold_the_state(compose, services):
    declared = set(compose["volumes"])
    used = set()
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            if not source.startswith((".", "/")):
                used.add(source)
                assert source in declared, f"{name} mounts undeclared volume {source}"
    assert used == declared, f"declared but unused: {declared - used}"
    targets = {name: [v.split(":")[1] for v in svc.get("volumes", [])] for name, svc in services.items()}
    assert "/var/lib/clickhouse" in targets["clickhouse"]
    assert "/var/lib/grafana" in targets["grafana"]
    assert "/var/lib/kafka/data" in targets["kafka"]
    assert "/root/.prefect" in targets["prefect"]


def test_bind_mounts_point_at_files_in_the_repository(services):
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("."):
                path = (INFRA / source).resolve()
                if source == "./grafana/dashboards":
                    continue  # generated by `make dashboards`; Docker creates it when absent
                assert path.exists(), f"{name} mounts {source}, which does not exist"


def test_grafana_is_provisioned_from_files_with_the_clickhouse_plugin(services):
    grafana = services["grafana"]
    assert "grafana-clickhouse-datasource" in grafana["environment"]["GF_INSTALL_PLUGINS"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning/datasources"] == "./grafana/provisioning/datasources"
    assert mounts["/etc/grafana/provisioning/dashboards"] == "./grafana/provisioning/dashboards"
    assert mounts["/var/lib/grafana/dashboards"] == "./grafana/dashboards"
    provider = load(INFRA / "grafana/provisioning/dashboards/touchpulse.yaml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_ports_bind_to_a_configurable_address_and_match_the_containers(services):
    expected = {"kafka": "9094", "clickhouse": "8123", "grafana": "3000", "prefect": "4200"}
    env = env_example()
    seen = set()
    for name, svc in services.items():
        for port in svc.get("ports", []):
            host_ip, host_port, container_port = interpolate(port, env).rsplit(":", 2)
            assert host_ip == env["BIND_ADDRESS"] == "127.0.0.1", f"{name} publishes {port} beyond localhost by default"
            assert container_port == expected[name]
            assert host_port not in seen
            seen.add(host_port)
    assert {s for s in services if services[s].get("ports")} == set(expected)
    assert env["GRAFANA_PORT"] == "3000", "the docs say: open Grafana at http://localhost:3000"


def test_the_touchpulse_services_are_built_from_the_top_level_dockerfile(services):
    for name in (*TOUCHPULSE_SERVICES, "grafana-token"):
        build = services[name]["build"]
        assert (INFRA / build["context"] / build["dockerfile"]).resolve() == ROOT / "Dockerfile"
        assert services[name]["image"] == services["init"]["image"]
    assert services["init"]["command"] == ["up"]
    assert services["worker"]["command"] == ["worker"]
    assert "touchpulse flow serve" in " ".join(services["scheduler"]["command"])


def test_the_worker_scales_as_replicas_of_one_consumer_group(services):
    worker = services["worker"]
    assert "container_name" not in worker and "ports" not in worker, "a fixed name or port blocks --scale"
    assert "replicas" in worker["deploy"]
    replicas = int(interpolate(str(worker["deploy"]["replicas"]), env_example()))
    partitions = int(env_example()["TOUCHPULSE_PARTITIONS"])
    assert 1 <= replicas <= partitions, "more workers than partitions would sit idle"
    # Replicas share the group and never a local state directory.
    assert worker["environment"]["TOUCHPULSE_GROUP"] == services["scheduler"]["environment"]["TOUCHPULSE_GROUP"]
    assert not [v for v in worker.get("volumes", []) if v.split(":")[1] == worker["environment"]["TOUCHPULSE_HOME"]]


def test_touchpulse_variables_are_settings_that_exist(services):
    known = {s.env for s in SETTINGS}
    text = COMPOSE.read_text(encoding="utf-8") + CLUSTER.read_text(encoding="utf-8")
    used = set(re.findall(r"\bTOUCHPULSE_[A-Z0-9_]+", text))
    assert used, "no TOUCHPULSE_ variables found"
    assert used <= known, f"not in touchpulse.settings.SETTINGS: {sorted(used - known)}"


def test_touchpulse_containers_get_only_settings_and_the_prefect_url(services):
    known = {s.env for s in SETTINGS}
    for name in TOUCHPULSE_SERVICES:
        extra = set(services[name]["environment"]) - known
        assert extra <= {"PREFECT_API_URL", "PREFECT_SERVER_ANALYTICS_ENABLED"}, f"{name}: {extra}"
        assert services[name]["environment"]["TOUCHPULSE_KAFKA"] == "kafka:9092"


def test_each_touchpulse_service_logs_in_as_its_least_privileged_user(services):
    env = env_example() | {k: f"secret-{k.lower()}" for k in env_example() if k.endswith("PASSWORD")}
    expected = {"init": ("touchpulse_admin", "CLICKHOUSE_ADMIN_PASSWORD"),
                "worker": ("touchpulse_writer", "CLICKHOUSE_WRITER_PASSWORD"),
                "scheduler": ("touchpulse_reader", "CLICKHOUSE_READER_PASSWORD")}
    for name, (user, secret) in expected.items():
        dsn = urlsplit(interpolate(services[name]["environment"]["TOUCHPULSE_CLICKHOUSE"], env))
        assert (dsn.scheme, dsn.hostname, dsn.port) == ("http", "clickhouse", 8123)
        assert dsn.username == user
        assert dsn.password == env[secret]
    datasource = load(INFRA / "grafana/provisioning/datasources/clickhouse.yaml")["datasources"][0]
    assert datasource["jsonData"]["username"] == "touchpulse_reader"


def test_secrets_come_from_the_env_file_and_are_required(services):
    secrets = [k for k in env_example() if k.endswith(("PASSWORD", "SECRET"))]
    assert set(secrets) >= {"CLICKHOUSE_ROOT_PASSWORD", "CLICKHOUSE_ADMIN_PASSWORD", "CLICKHOUSE_WRITER_PASSWORD",
                            "CLICKHOUSE_READER_PASSWORD", "GRAFANA_ADMIN_PASSWORD"}
    for key in secrets:
        assert env_example()[key] == "", f"infra/.env.example must not ship a value for {key}"
    text = COMPOSE.read_text(encoding="utf-8")
    for m in VAR.finditer(text):
        if m.group(1) in secrets:
            assert m.group(2) == ":?", f"${{{m.group(1)}}} must be required (:?), never defaulted"
    # No literal password anywhere: every *PASSWORD* value is an ${...} reference.
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if key.endswith(("PASSWORD", "TOKEN", "SECRET")):
                assert VAR.fullmatch(str(value)), f"{name}.{key} is not taken from the env file"
    with pytest.raises(AssertionError, match="CLICKHOUSE_WRITER_PASSWORD is required"):
        interpolate(services["worker"]["environment"]["TOUCHPULSE_CLICKHOUSE"], env_example())


def test_env_example_covers_every_variable_the_compose_files_use():
    documented = set(env_example())
    for path in (COMPOSE, CLUSTER):
        used = {m.group(1) for m in VAR.finditer(path.read_text(encoding="utf-8"))}
        assert used <= documented, f"{path.name}: missing from infra/.env.example: {sorted(used - documented)}"
    example_settings = {k for k in documented if k.startswith("TOUCHPULSE_")}
    assert example_settings <= {s.env for s in SETTINGS}


def test_env_example_defaults_agree_with_the_settings_defaults():
    defaults = {s.env: s.default for s in SETTINGS}
    for key, value in env_example().items():
        if key in defaults and defaults[key] is not None:
            assert value == defaults[key], f"{key}={value} in infra/.env.example, {defaults[key]} in settings"
    text = COMPOSE.read_text(encoding="utf-8")
    for m in VAR.finditer(text):
        if m.group(1) in defaults and m.group(2) == ":-" and defaults[m.group(1)] is not None:
            assert m.group(3) == defaults[m.group(1)], f"compose default of {m.group(1)}"


def test_the_cluster_overlay_extends_the_base_services(services):
    overlay = load(CLUSTER)["services"]
    for name in ("init", "worker", "scheduler"):
        assert name in services
        assert overlay[name]["environment"]["TOUCHPULSE_CLICKHOUSE_CLUSTER"] == "touchpulse"
    nodes = [n for n in overlay if n.startswith("clickhouse")]
    assert sorted(nodes) == ["clickhouse", "clickhouse-s1r2", "clickhouse-s2r1", "clickhouse-s2r2"]
    for name in nodes:
        assert overlay[name]["hostname"] == name, "replicas fetch parts by hostname"
        if name != "clickhouse":
            assert overlay[name]["image"] == services["clickhouse"]["image"]
            assert overlay[name]["environment"].keys() >= services["clickhouse"]["environment"].keys()
        for v in overlay[name]["volumes"]:
            source = v.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name} mounts {source} (relative to infra/)"
    assert {f"keeper-{i}" for i in (1, 2, 3)} <= set(overlay)


def compose_cli() -> list[str] | None:
    """A Docker Compose v2 command line (no engine needed for `config`), if this machine has one."""
    explicit = os.environ.get("TOUCHPULSE_TEST_COMPOSE")
    for cmd in ([explicit],) if explicit else (["docker", "compose"], ["docker-compose"]):
        if shutil.which(cmd[0]) is None:
            continue
        try:
            out = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and re.search(r"\bv?2\.\d+", out.stdout):
            return cmd
    return None


def test_docker_compose_accepts_both_files_with_a_generated_env_and_refuses_empty_secrets(tmp_path):
    cmd = compose_cli()
    if cmd is None:
        pytest.skip("no Docker Compose v2 CLI here (`docker compose` / `docker-compose`); "
                    "set TOUCHPULSE_TEST_COMPOSE to a compose binary to run `config` on the files")
    env_file = tmp_path / ".env"
    subprocess.run(["sh", str(INFRA / "new-env.sh"), str(env_file)], check=True, capture_output=True)
    for files in (["-f", str(COMPOSE)], ["-f", str(COMPOSE), "-f", str(CLUSTER)]):
        out = subprocess.run([*cmd, *files, "--env-file", str(env_file), "config", "--format", "json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        config = json.loads(out.stdout)
        assert config["services"]["worker"]["deploy"]["replicas"] == 2
        assert config["services"]["worker"]["environment"]["TOUCHPULSE_CLICKHOUSE"].startswith(
            "http://touchpulse_writer:")
    out = subprocess.run([*cmd, "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config", "-q"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "PASSWORD" in out.stderr
