"""Bring the services touchpulse needs into shape: broker (embedded or yours), topics, schema."""

from __future__ import annotations

import logging

from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.schema import SchemaOptions
from touchpulse.clickhouse.setup import apply_schema
from touchpulse.core.touchpoints import RegistryError, load_registry
from touchpulse.errors import UserError
from touchpulse.kafka import broker
from touchpulse.kafka.topics import create_topics
from touchpulse.settings import Settings

log = logging.getLogger("touchpulse")


def schema_options(settings: Settings) -> SchemaOptions:
    return SchemaOptions(settings.database, settings.timezone, settings.clickhouse_cluster)


def registry(settings: Settings):
    try:
        return load_registry(settings.touchpoints)
    except RegistryError as exc:
        raise UserError(str(exc)) from None


def bring_up(settings: Settings) -> None:
    reg = registry(settings)
    if settings.embedded_kafka:
        b = broker.start(settings.home)
        log.info("Kafka: local broker at %s", b.bootstrap)
    else:
        log.info("Kafka: using %s", settings.kafka)
    created = create_topics(settings)
    log.info("Kafka: %d topics created, the others already existed", len(created))
    client = connect(settings)
    try:
        apply_schema(client, schema_options(settings), reg)
    finally:
        client.close()
