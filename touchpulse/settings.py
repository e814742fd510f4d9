"""Settings from TOUCHPULSE_* environment variables (and a `.env` file in the working directory).

One table, `SETTINGS`, is the source of truth: the README's settings table, `.env.example`
and `touchpulse config` are all checked against it by tests.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

from touchpulse.core.business_time import TimezoneError, business_zone
from touchpulse.core.touchpoints import default_registry_path


class SettingsError(ValueError):
    """A setting with a value touchpulse cannot use."""


@dataclass(frozen=True)
class Setting:
    env: str
    key: str
    default: str | None
    help: str
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("TOUCHPULSE_HOME", "home", "./.touchpulse", "Local data: embedded broker, chDB files, reports, logs"),
    Setting("TOUCHPULSE_KAFKA", "kafka", None, "Kafka bootstrap servers (host:port,...); unset = the embedded local broker"),
    Setting("TOUCHPULSE_CLICKHOUSE", "clickhouse", None,
            "ClickHouse DSN; unset = chdb:///<home>/clickhouse (embedded); http(s)://user:pass@host:port for a server",
            secret=True),
    Setting("TOUCHPULSE_DATABASE", "database", "touchpulse", "ClickHouse database holding facts and views (3+ characters)"),
    Setting("TOUCHPULSE_TOPIC_PREFIX", "topic_prefix", "touchpulse.", "Prefix of every topic name"),
    Setting("TOUCHPULSE_TIMEZONE", "timezone", "UTC", "Business time zone (IANA name) for days and hours"),
    Setting("TOUCHPULSE_FOLLOWUP_BELOW", "followup_below", "8", "Survey scores below this raise a follow-up"),
    Setting("TOUCHPULSE_TOUCHPOINTS", "touchpoints", None, "Touchpoint registry TOML file; unset = the bundled registry"),
    Setting("TOUCHPULSE_PARTITIONS", "partitions", "4", "Partitions per event topic, created by `touchpulse up`"),
    Setting("TOUCHPULSE_GROUP", "group", "touchpulse", "Consumer group (Faust app id) shared by all workers"),
    Setting("TOUCHPULSE_BATCH_SIZE", "batch_size", "20000", "Most events written to ClickHouse in one batch"),
    Setting("TOUCHPULSE_BATCH_WAIT", "batch_wait", "0.5", "Seconds a worker waits to fill a batch"),
    Setting("TOUCHPULSE_KAFKA_SECURITY_PROTOCOL", "kafka_security_protocol", "PLAINTEXT",
            "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
    Setting("TOUCHPULSE_KAFKA_SASL_MECHANISM", "kafka_sasl_mechanism", None, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"),
    Setting("TOUCHPULSE_KAFKA_SASL_USERNAME", "kafka_sasl_username", None, "SASL user name"),
    Setting("TOUCHPULSE_KAFKA_SASL_PASSWORD", "kafka_sasl_password", None, "SASL password", secret=True),
    Setting("TOUCHPULSE_KAFKA_SSL_CAFILE", "kafka_ssl_cafile", None, "CA bundle to verify the brokers (SSL/SASL_SSL)"),
    Setting("TOUCHPULSE_CLICKHOUSE_CLUSTER", "clickhouse_cluster", None,
            "Cluster name: DDL runs ON CLUSTER with Replicated tables and Distributed facts"),
    Setting("TOUCHPULSE_GRAFANA_URL", "grafana_url", None, "Grafana base URL for `refresh-dashboards`"),
    Setting("TOUCHPULSE_GRAFANA_TOKEN", "grafana_token", None, "Grafana service-account token", secret=True),
    Setting("TOUCHPULSE_LOG_LEVEL", "log_level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    Setting("TOUCHPULSE_SERVE", "serve", "127.0.0.1:8124",
            "Where a worker on the embedded default serves read-only SQL over ClickHouse's HTTP interface "
            "(host:port; port 0 = any free port; off = not at all); ignored with a ClickHouse server"),
    Setting("TOUCHPULSE_SERVE_USER", "serve_user", "touchpulse", "User name readers give the worker's endpoint"),
    Setting("TOUCHPULSE_SERVE_PASSWORD", "serve_password", None,
            "Password of the worker's endpoint; unset = one generated into <home>/serve-password (mode 0600)",
            secret=True),
    Setting("TOUCHPULSE_SERVE_READERS", "serve_readers", "2",
            "Queries the worker's endpoint runs at once, each on one thread at the lowest CPU priority"),
)


@dataclass(frozen=True)
class Settings:
    home: Path
    kafka: str | None
    clickhouse: str
    database: str
    topic_prefix: str
    timezone: str
    followup_below: int
    touchpoints: Path
    partitions: int
    group: str
    batch_size: int
    batch_wait: float
    kafka_security_protocol: str
    kafka_sasl_mechanism: str | None
    kafka_sasl_username: str | None
    kafka_sasl_password: str | None
    kafka_ssl_cafile: str | None
    clickhouse_cluster: str | None
    grafana_url: str | None
    grafana_token: str | None
    log_level: str
    serve: str | None = "127.0.0.1:8124"  # None: off
    serve_user: str = "touchpulse"
    serve_password: str | None = None
    serve_readers: int = 2

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka is None

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse.startswith("chdb:")

    @property
    def serve_address(self) -> tuple[str, int] | None:
        """Where a worker serves reads: only on the embedded default, and unless TOUCHPULSE_SERVE=off."""
        if self.serve is None or not self.embedded_clickhouse:
            return None
        return split_address(self.serve)

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def public(self) -> dict[str, object]:
        """The effective settings as `config --json` shows them: secrets masked."""
        out: dict[str, object] = {}
        for s in SETTINGS:
            value = getattr(self, s.key)
            if value is not None and s.key in ("clickhouse", "grafana_url"):  # URLs may carry user:pass@
                value = mask_dsn(str(value))
            elif value is not None and s.secret:
                value = "***"
            out[s.key] = str(value) if isinstance(value, Path) else value
        return out


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# touchpulse's SQL names its table expressions with one- or two-letter aliases (`s`, `p`, ...); in a
# statement where an alias equals the database's name ClickHouse cannot resolve `database.table`
# (measured: a database named `s` failed every batch). tests/unit/clickhouse/test_sql_aliases.py
# keeps the aliases that short.
SHORTEST_DATABASE_NAME = 3


def load_settings(env: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Settings:
    """Read settings; a `.env` file fills in what the environment does not set."""
    values = dict(read_dotenv(dotenv)) if dotenv is not None else {}
    values.update({k: v for k, v in (os.environ if env is None else env).items() if k.startswith("TOUCHPULSE_")})

    def get(s: Setting) -> str | None:
        raw = values.get(s.env)
        return s.default if raw is None or raw == "" else raw

    raw = {s.key: get(s) for s in SETTINGS}
    home = Path(raw["home"]).expanduser().resolve()
    database = raw["database"]
    if not _IDENTIFIER.fullmatch(database):
        raise SettingsError(f"TOUCHPULSE_DATABASE={database!r} is not a plain identifier (letters, digits, _)")
    if len(database) < SHORTEST_DATABASE_NAME:
        raise SettingsError(f"TOUCHPULSE_DATABASE={database!r} would clash with the one- and two-letter table aliases of "
                            f"touchpulse's SQL: choose a name of {SHORTEST_DATABASE_NAME} characters or more, "
                            "e.g. 'touchpulse'")
    try:
        business_zone(raw["timezone"])
    except TimezoneError as exc:
        raise SettingsError(f"TOUCHPULSE_TIMEZONE: {exc}") from None
    if not re.fullmatch(r"[A-Za-z0-9._-]{0,100}", raw["topic_prefix"]):
        raise SettingsError("TOUCHPULSE_TOPIC_PREFIX may only contain letters, digits, '.', '_' and '-'")
    cluster = raw["clickhouse_cluster"]
    if cluster is not None and not _IDENTIFIER.fullmatch(cluster):
        raise SettingsError(f"TOUCHPULSE_CLICKHOUSE_CLUSTER={cluster!r} is not a plain identifier")
    clickhouse = raw["clickhouse"] or f"chdb:///{home / 'clickhouse'}".replace("chdb:////", "chdb:///")
    if not re.match(r"(chdb|https?)://", clickhouse):
        raise SettingsError("TOUCHPULSE_CLICKHOUSE must start with chdb://, http:// or https://")
    try:
        urlsplit(clickhouse)
    except ValueError:  # the message would echo the password, so it is not shown
        raise SettingsError("TOUCHPULSE_CLICKHOUSE is not a valid URL") from None
    protocol = raw["kafka_security_protocol"].upper()
    if protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
        raise SettingsError(f"TOUCHPULSE_KAFKA_SECURITY_PROTOCOL={protocol!r} is not one of "
                            "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL")
    log_level = raw["log_level"].upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"TOUCHPULSE_LOG_LEVEL={log_level!r} is not one of DEBUG, INFO, WARNING, ERROR")
    serve = raw["serve"].strip()
    if serve.lower() in ("off", "no", "false", "0", "none"):
        serve = None
    else:
        split_address(serve)  # a SettingsError names the variable
    if not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", raw["serve_user"]):
        raise SettingsError("TOUCHPULSE_SERVE_USER may only contain letters, digits, '.', '_', '@' and '-'")
    return Settings(
        home=home,
        kafka=raw["kafka"],
        clickhouse=clickhouse,
        database=database,
        topic_prefix=raw["topic_prefix"],
        timezone=raw["timezone"],
        followup_below=_int(raw["followup_below"], "TOUCHPULSE_FOLLOWUP_BELOW", 0, 11),
        touchpoints=Path(raw["touchpoints"]).expanduser().resolve() if raw["touchpoints"] else default_registry_path(),
        partitions=_int(raw["partitions"], "TOUCHPULSE_PARTITIONS", 1, 1024),
        group=raw["group"],
        batch_size=_int(raw["batch_size"], "TOUCHPULSE_BATCH_SIZE", 1, 1_000_000),
        batch_wait=_float(raw["batch_wait"], "TOUCHPULSE_BATCH_WAIT", 0.01, 60),
        kafka_security_protocol=protocol,
        kafka_sasl_mechanism=raw["kafka_sasl_mechanism"],
        kafka_sasl_username=raw["kafka_sasl_username"],
        kafka_sasl_password=raw["kafka_sasl_password"],
        kafka_ssl_cafile=raw["kafka_ssl_cafile"],
        clickhouse_cluster=cluster,
        grafana_url=raw["grafana_url"],
        grafana_token=raw["grafana_token"],
        log_level=log_level,
        serve=serve,
        serve_user=raw["serve_user"],
        serve_password=raw["serve_password"],
        serve_readers=_int(raw["serve_readers"], "TOUCHPULSE_SERVE_READERS", 1, 64),
    )


def split_address(text: str) -> tuple[str, int]:
    """host:port (an IPv6 host in brackets: [::1]:8124) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535 \
            or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,253}", host):
        raise SettingsError(f"TOUCHPULSE_SERVE={text!r} is not host:port (such as 127.0.0.1:8124) or off")
    return host, int(port)


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; comments, blanks and `export ` prefixes allowed; quotes stripped."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def mask_dsn(dsn: str) -> str:
    """Hide the password of a URL-style DSN; a DSN that does not parse is hidden whole."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "***"
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not an integer") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} must be between {low} and {high}")
    return value


def _float(text: str, name: str, low: float, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number") from None
    if not low <= value <= high:
        raise SettingsError(f"{name}={value} must be between {low} and {high}")
    return value


def settings_markdown() -> str:
    """The README's settings table (a test keeps the README equal to this)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default is not None else "unset"
        rows.append(f"| `{s.env}` | {default} | {s.help}{' (secret: masked)' if s.secret else ''} |")
    return "\n".join(rows)


def env_example() -> str:
    """The `.env.example` file (a test keeps it equal to this)."""
    lines = ["# touchpulse settings: copy to .env (read from the working directory) or export them.",
             "# Environment variables win over .env. Unset means the default in brackets.", ""]
    for s in SETTINGS:
        lines.append(f"# {s.help}" + (f" [{s.default}]" if s.default is not None else ""))
        lines.append(f"# {s.env}=")
    return "\n".join(lines) + "\n"
