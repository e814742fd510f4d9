"""Settings: defaults, environment over `.env`, secrets never shown, and errors that name the variable."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from touchpulse.core.touchpoints import default_registry_path
from touchpulse.settings import SETTINGS, Settings, SettingsError, load_settings, mask_dsn, read_dotenv


def load(env: dict[str, str] | None = None, dotenv: Path | None = None) -> Settings:
    return load_settings(env=env or {}, dotenv=dotenv)


def test_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load()
    assert s.home == (tmp_path / ".touchpulse").resolve()
    assert s.kafka is None and s.embedded_kafka
    assert s.clickhouse == f"chdb://{s.home / 'clickhouse'}" and s.embedded_clickhouse
    assert s.clickhouse.startswith("chdb:///") and not s.clickhouse.startswith("chdb:////")
    assert (s.database, s.topic_prefix, s.timezone, s.group) == ("touchpulse", "touchpulse.", "UTC", "touchpulse")
    assert (s.followup_below, s.partitions, s.batch_size, s.batch_wait) == (8, 4, 20000, 0.5)
    assert s.touchpoints == default_registry_path()
    assert (s.kafka_security_protocol, s.log_level) == ("PLAINTEXT", "INFO")
    for key in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile",
                "clickhouse_cluster", "grafana_url", "grafana_token"):
        assert getattr(s, key) is None, key
    assert s.topic("calls") == "touchpulse.calls"


def test_settings_table_matches_the_dataclass():
    assert [s.key for s in SETTINGS] == [f.name for f in dataclasses.fields(Settings)]
    assert all(s.env == "TOUCHPULSE_" + s.key.upper() for s in SETTINGS)
    assert len({s.env for s in SETTINGS}) == len(SETTINGS)


def test_environment_overrides(tmp_path):
    s = load({
        "TOUCHPULSE_HOME": str(tmp_path / "h"), "TOUCHPULSE_KAFKA": "k1:9092,k2:9092",
        "TOUCHPULSE_CLICKHOUSE": "https://ch.example:8443", "TOUCHPULSE_DATABASE": "metrics_2",
        "TOUCHPULSE_TOPIC_PREFIX": "acme-", "TOUCHPULSE_TIMEZONE": "Europe/Moscow", "TOUCHPULSE_FOLLOWUP_BELOW": "7",
        "TOUCHPULSE_TOUCHPOINTS": str(tmp_path / "tp.toml"), "TOUCHPULSE_PARTITIONS": "12",
        "TOUCHPULSE_GROUP": "g2", "TOUCHPULSE_BATCH_SIZE": "100", "TOUCHPULSE_BATCH_WAIT": "2.5",
        "TOUCHPULSE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "TOUCHPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TOUCHPULSE_CLICKHOUSE_CLUSTER": "main", "TOUCHPULSE_LOG_LEVEL": "debug",
        "OTHER_VAR": "ignored",
    })
    assert s.home == (tmp_path / "h").resolve() and s.kafka == "k1:9092,k2:9092" and not s.embedded_kafka
    assert s.clickhouse == "https://ch.example:8443" and not s.embedded_clickhouse
    assert (s.database, s.topic_prefix, s.timezone, s.followup_below) == ("metrics_2", "acme-", "Europe/Moscow", 7)
    assert s.touchpoints == (tmp_path / "tp.toml").resolve()
    assert (s.partitions, s.group, s.batch_size, s.batch_wait) == (12, "g2", 100, 2.5)
    assert (s.kafka_security_protocol, s.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (s.clickhouse_cluster, s.log_level) == ("main", "DEBUG")
    assert s.topic("dlq") == "acme-dlq"


def test_embedded_clickhouse_follows_home(tmp_path):
    s = load({"TOUCHPULSE_HOME": str(tmp_path)})
    assert s.clickhouse == f"chdb://{tmp_path.resolve()}/clickhouse"


def test_empty_value_means_default():
    s = load({"TOUCHPULSE_DATABASE": "", "TOUCHPULSE_PARTITIONS": ""})
    assert (s.database, s.partitions) == ("touchpulse", 4)


def test_dotenv_fills_in_and_environment_wins(tmp_path):
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "# comment\n\n"
        "TOUCHPULSE_DATABASE=from_file\n"
        "export TOUCHPULSE_TIMEZONE='Europe/Berlin'\n"
        'TOUCHPULSE_GROUP = "quoted group"\n'
        "TOUCHPULSE_PARTITIONS=8\n"
        "not a setting line\n"
    )
    s = load({"TOUCHPULSE_PARTITIONS": "2"}, dotenv)
    assert s.database == "from_file"
    assert s.timezone == "Europe/Berlin"
    assert s.group == "quoted group"
    assert s.partitions == 2


def test_dotenv_in_working_directory_is_read_by_default(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TOUCHPULSE_FOLLOWUP_BELOW=5\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).followup_below == 5
    assert load_settings(env={}, dotenv=None).followup_below == 8


def test_process_environment_is_used_when_env_is_not_given(monkeypatch):
    monkeypatch.setenv("TOUCHPULSE_BATCH_SIZE", "77")
    assert load_settings(dotenv=None).batch_size == 77


def test_read_dotenv_missing_file_is_empty(tmp_path):
    assert read_dotenv(tmp_path / "none") == {}
    (tmp_path / "e").write_text("A=1\nB='x=y'\n#C=3\n")
    assert read_dotenv(tmp_path / "e") == {"A": "1", "B": "x=y"}


def test_public_masks_secrets():
    s = load({
        "TOUCHPULSE_CLICKHOUSE": "https://reader:s3cret-pw@ch.example:8443/?secure=1",
        "TOUCHPULSE_KAFKA_SASL_USERNAME": "svc", "TOUCHPULSE_KAFKA_SASL_PASSWORD": "sasl-pw-123",
        "TOUCHPULSE_GRAFANA_URL": "https://admin:graf-pw@grafana.example", "TOUCHPULSE_GRAFANA_TOKEN": "glsa_tok_456",
    })
    pub = s.public()
    assert list(pub) == [x.key for x in SETTINGS]
    assert pub["clickhouse"] == "https://reader:***@ch.example:8443/?secure=1"
    assert pub["kafka_sasl_password"] == "***"
    assert pub["grafana_token"] == "***"
    assert pub["grafana_url"] == "https://admin:***@grafana.example"
    assert pub["kafka_sasl_username"] == "svc"
    text = json.dumps(pub)  # must be JSON-ready as `config --json` prints it
    for secret in ("s3cret-pw", "sasl-pw-123", "glsa_tok_456", "graf-pw"):
        assert secret not in text
    # The real values stay available to the code that needs them.
    assert s.kafka_sasl_password == "sasl-pw-123" and s.grafana_token == "glsa_tok_456"


def test_public_leaves_unset_secrets_as_none_and_paths_as_strings():
    pub = load().public()
    assert pub["kafka_sasl_password"] is None and pub["grafana_token"] is None
    assert isinstance(pub["home"], str) and isinstance(pub["touchpoints"], str)
    assert pub["clickhouse"].startswith("chdb:///")


@pytest.mark.parametrize("dsn,masked", [
    ("http://u:p@h:8123", "http://u:***@h:8123"), ("https://:only-pw@h", "https://:***@h"),
    ("http://u:p%40ss@h/db", "http://u:***@h/db"), ("http://u@h", "http://u@h"), ("chdb:///x/y", "chdb:///x/y"),
    ("http://u:pw@[::1", "***"),
])
def test_mask_dsn(dsn, masked):
    assert mask_dsn(dsn) == masked


@pytest.mark.parametrize("var,value", [
    ("TOUCHPULSE_DATABASE", "bad-name"), ("TOUCHPULSE_DATABASE", "x; DROP TABLE y"),
    ("TOUCHPULSE_TIMEZONE", "Mars/Olympus"), ("TOUCHPULSE_TOPIC_PREFIX", "a b"),
    ("TOUCHPULSE_CLICKHOUSE_CLUSTER", "my cluster"), ("TOUCHPULSE_CLICKHOUSE", "mysql://h"),
    ("TOUCHPULSE_CLICKHOUSE", "ch.example:8123"), ("TOUCHPULSE_FOLLOWUP_BELOW", "abc"),
    ("TOUCHPULSE_FOLLOWUP_BELOW", "12"), ("TOUCHPULSE_FOLLOWUP_BELOW", "-1"), ("TOUCHPULSE_PARTITIONS", "0"),
    ("TOUCHPULSE_PARTITIONS", "4.5"), ("TOUCHPULSE_BATCH_SIZE", "lots"), ("TOUCHPULSE_BATCH_WAIT", "0"),
    ("TOUCHPULSE_BATCH_WAIT", "nan"), ("TOUCHPULSE_BATCH_WAIT", "soon"), ("TOUCHPULSE_BATCH_WAIT", "61"),
    ("TOUCHPULSE_KAFKA_SECURITY_PROTOCOL", "TLS"), ("TOUCHPULSE_LOG_LEVEL", "TRACE"),
])
def test_invalid_values_raise_settings_error_naming_the_variable(var, value):
    with pytest.raises(SettingsError) as info:
        load({var: value})
    assert var in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_value_in_dotenv_is_reported_too(tmp_path):
    (tmp_path / ".env").write_text("TOUCHPULSE_LOG_LEVEL=loud\n")
    with pytest.raises(SettingsError, match="TOUCHPULSE_LOG_LEVEL"):
        load({}, tmp_path / ".env")


def test_unparsable_clickhouse_url_error_does_not_echo_the_password():
    with pytest.raises(SettingsError, match="TOUCHPULSE_CLICKHOUSE") as info:
        load({"TOUCHPULSE_CLICKHOUSE": "http://u:hunter2@[::1"})
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("name", ["s", "p", "ab"])
def test_a_database_named_like_a_table_alias_of_the_sql_is_refused_in_one_line(name):
    with pytest.raises(SettingsError) as info:
        load({"TOUCHPULSE_DATABASE": name})
    assert "TOUCHPULSE_DATABASE" in str(info.value) and "touchpulse" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", ["abc", "shift", "touchpulse"])
def test_other_database_names_are_kept(name):
    assert load({"TOUCHPULSE_DATABASE": name}).database == name
