"""The ClickHouse cluster example (infra/clickhouse-cluster/): 2 shards x 2 replicas and 3 Keepers,
consistent with its compose overlay and with the DDL `touchpulse up` generates for a cluster."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from touchpulse.clickhouse.schema import SchemaOptions, schema_statements
from touchpulse.core.touchpoints import load_registry
from touchpulse.settings import load_settings

ROOT = Path(__file__).resolve().parents[3]
CLUSTER_DIR = ROOT / "infra/clickhouse-cluster"


def overlay() -> dict:
    return yaml.safe_load((CLUSTER_DIR / "compose.yaml").read_text())["services"]


def mounts(service: dict) -> dict[str, Path]:
    """container path -> file in the repository (overlay paths are relative to infra/)."""
    out = {}
    for v in service.get("volumes", []):
        source, target = v.split(":")[:2]
        if source.startswith("."):
            out[target] = (ROOT / "infra" / source).resolve()
    return out


def remote_servers() -> tuple[str, ET.Element]:
    root = ET.parse(CLUSTER_DIR / "config.d/cluster.xml").getroot()
    servers = root.find("remote_servers")
    assert servers.get("replace") == "true", "the image's sample clusters must not linger"
    [cluster] = list(servers)
    return cluster.tag, cluster


def test_two_shards_of_two_replicas_with_internal_replication_and_a_secret():
    name, cluster = remote_servers()
    shards = cluster.findall("shard")
    assert len(shards) == 2
    for shard in shards:
        assert shard.findtext("internal_replication") == "true"
        replicas = shard.findall("replica")
        assert len(replicas) == 2
        assert {r.findtext("port") for r in replicas} == {"9000"}
    assert cluster.find("secret").get("from_env") == "CLICKHOUSE_CLUSTER_SECRET"
    hosts = [r.findtext("host") for s in shards for r in s.findall("replica")]
    assert len(set(hosts)) == 4
    nodes = {n for n in overlay() if n.startswith("clickhouse")}
    assert set(hosts) == nodes, "remote_servers must name exactly the overlay's ClickHouse services"


def test_every_node_gets_the_cluster_file_and_its_own_macros_matching_its_shard():
    name, cluster = remote_servers()
    shard_of = {r.findtext("host"): f"{i:02d}" for i, s in enumerate(cluster.findall("shard"), start=1)
                for r in s.findall("replica")}
    seen = set()
    for node, service in overlay().items():
        if not node.startswith("clickhouse"):
            continue
        files = mounts(service)
        assert files["/etc/clickhouse-server/config.d/touchpulse-cluster.xml"] == CLUSTER_DIR / "config.d/cluster.xml"
        macros_file = files["/etc/clickhouse-server/config.d/macros.xml"]
        assert macros_file == CLUSTER_DIR / "macros" / f"{node}.xml"
        macros = ET.parse(macros_file).getroot().find("macros")
        assert macros.findtext("cluster") == name
        assert macros.findtext("shard") == shard_of[node], f"{node} sits in shard {shard_of[node]}"
        assert macros.findtext("replica") == node
        seen.add((macros.findtext("shard"), macros.findtext("replica")))
        assert service["hostname"] == node
    assert len(seen) == 4


def test_three_keepers_form_one_raft_ensemble_that_the_servers_use():
    services = overlay()
    keepers = sorted(n for n in services if n.startswith("keeper-"))
    assert keepers == ["keeper-1", "keeper-2", "keeper-3"]
    ensembles, ports = set(), set()
    for n in keepers:
        config = mounts(services[n])["/etc/clickhouse-keeper/keeper_config.xml"]
        keeper = ET.parse(config).getroot().find("keeper_server")
        assert keeper.findtext("server_id") == n.split("-")[1]
        raft = tuple((s.findtext("id"), s.findtext("hostname"), s.findtext("port"))
                     for s in keeper.find("raft_configuration").findall("server"))
        ensembles.add(raft)
        ports.add(keeper.findtext("tcp_port"))
        assert keeper.findtext("log_storage_path").startswith("/var/lib/clickhouse/")
        assert "/var/lib/clickhouse" in [v.split(":")[1] for v in services[n]["volumes"]], "keeper state is kept"
    [raft] = ensembles
    assert [(i, h) for i, h, _ in raft] == [("1", "keeper-1"), ("2", "keeper-2"), ("3", "keeper-3")]
    [port] = ports
    zk = ET.parse(CLUSTER_DIR / "config.d/cluster.xml").getroot().find("zookeeper")
    assert [(node.findtext("host"), node.findtext("port")) for node in zk.findall("node")] == \
           [(k, port) for k in keepers]


def test_the_cluster_ddl_uses_this_cluster_name_and_only_macros_the_nodes_define():
    name, _ = remote_servers()
    env = overlay()["init"]["environment"]
    assert env["TOUCHPULSE_CLICKHOUSE_CLUSTER"] == name
    settings = load_settings({"TOUCHPULSE_CLICKHOUSE_CLUSTER": name}, dotenv=None)
    ddl = schema_statements(SchemaOptions("touchpulse", "UTC", settings.clickhouse_cluster), load_registry())
    assert all(f"ON CLUSTER `{name}`" in stmt for stmt in ddl)
    assert any(f"Distributed('{name}'" in stmt for stmt in ddl)
    used = {m for stmt in ddl for m in re.findall(r"\{(\w+)\}", stmt) if "Replicated" in stmt}
    macros = {child.tag for child in ET.parse(CLUSTER_DIR / "macros/clickhouse.xml").getroot().find("macros")}
    assert used and used <= macros, f"macros the DDL needs but the nodes lack: {used - macros}"
