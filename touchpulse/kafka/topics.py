"""Topic names, client configuration and topic creation (every topic with explicit partitions,
before any worker starts: auto-created topics would get one partition and break Faust)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from touchpulse.core.events import EVENT_TYPES
from touchpulse.settings import Settings

log = logging.getLogger(__name__)

TYPE_TOPICS = {"call": "calls", "purchase": "purchases", "review": "reviews", "survey": "surveys",
               "followup_update": "followup_updates"}


class KafkaUnavailable(RuntimeError):
    """No broker answered at the configured bootstrap servers."""


@dataclass(frozen=True)
class Topics:
    prefix: str

    def for_type(self, etype: str) -> str:
        return self.prefix + TYPE_TOPICS[etype]

    @property
    def events(self) -> dict[str, str]:
        """topic name -> event type it carries."""
        return {self.for_type(t): t for t in EVENT_TYPES}

    @property
    def dlq(self) -> str:
        return self.prefix + "dlq"

    @property
    def followups(self) -> str:
        return self.prefix + "followups"

    @property
    def customers(self) -> str:
        """Internal: notices naming (customer, order) for the worker that owns the customer, keyed by
        customer id (touchpulse/derived/maintenance.py)."""
        return self.prefix + "customers"


def bootstrap(settings: Settings) -> str:
    """The bootstrap servers: the setting, or the embedded broker of this home."""
    if settings.kafka:
        return settings.kafka
    from touchpulse.kafka.broker import running
    broker = running(settings.home)
    if broker is None:
        raise KafkaUnavailable("the local broker is not running: run `touchpulse up` first "
                               "(or set TOUCHPULSE_KAFKA to use your own Kafka)")
    return broker.bootstrap


def client_config(settings: Settings) -> dict:
    """kafka-python security settings (the same names aiokafka takes)."""
    protocol = settings.kafka_security_protocol
    cfg: dict = {"security_protocol": protocol}
    if protocol.startswith("SASL_"):  # Faust defaults to PLAIN and upper-cases; kafka-python does neither
        cfg["sasl_mechanism"] = (settings.kafka_sasl_mechanism or "PLAIN").upper()
        cfg["sasl_plain_username"] = settings.kafka_sasl_username
        cfg["sasl_plain_password"] = settings.kafka_sasl_password
    if settings.kafka_ssl_cafile:
        cfg["ssl_cafile"] = settings.kafka_ssl_cafile
    return cfg


# kafka-python's name of each security setting -> librdkafka's (the producers use librdkafka).
_LIBRDKAFKA_KEYS = {"security_protocol": "security.protocol", "sasl_mechanism": "sasl.mechanism",
                    "sasl_plain_username": "sasl.username", "sasl_plain_password": "sasl.password",
                    "ssl_cafile": "ssl.ca.location"}


def librdkafka_config(settings: Settings) -> dict:
    """`client_config` under librdkafka's names, derived from it so the clients cannot disagree.
    (librdkafka verifies the broker's host name against its certificate by default, as
    kafka-python does.)"""
    return {_LIBRDKAFKA_KEYS[key]: value for key, value in client_config(settings).items()}


def create_topics(settings: Settings) -> list[str]:
    """Create every topic touchpulse uses; existing ones are left as they are. Returns those created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    topics = Topics(settings.topic_prefix)
    wanted = {name: settings.partitions for name in topics.events}
    wanted[topics.dlq] = settings.partitions
    wanted[topics.followups] = settings.partitions
    wanted[topics.customers] = settings.partitions  # co-partitioned with the event topics
    wanted[f"{settings.group}-__assignor-__leader"] = 1  # Faust's own; must exist before it starts
    admin = KafkaAdminClient(bootstrap_servers=bootstrap(settings), client_id="touchpulse-admin",
                             **client_config(settings))
    try:
        existing = set(admin.list_topics())
        missing = [NewTopic(n, p, 1) for n, p in wanted.items() if n not in existing]
        created = []
        for topic in missing:
            try:
                admin.create_topics([topic])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("created topics: %s", ", ".join(created))
        return created
    finally:
        admin.close()
