"""User-facing errors: the CLI prints their message on one line and exits non-zero, no traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad argument, missing file, service not started)."""

    exit_code = 2


def describe_service_error(exc: BaseException) -> str | None:
    """A one-line message for failures of the services we talk to, or None for real bugs."""
    from touchpulse.clickhouse.client import ClickHouseUnavailable
    from touchpulse.kafka.broker import BrokerError
    from touchpulse.kafka.emit import ProduceFailed
    from touchpulse.kafka.topics import KafkaUnavailable

    if isinstance(exc, (ClickHouseUnavailable, KafkaUnavailable, BrokerError, ProduceFailed)):
        return str(exc)
    try:
        from confluent_kafka import KafkaException
        if isinstance(exc, KafkaException):
            return f"Kafka: {exc}"
    except ImportError:  # pragma: no cover
        pass
    try:
        from kafka.errors import KafkaError, NoBrokersAvailable
        if isinstance(exc, NoBrokersAvailable):
            return "no Kafka broker answered at the configured bootstrap servers (TOUCHPULSE_KAFKA)"
        if isinstance(exc, KafkaError):
            return f"Kafka: {exc}"
    except ImportError:  # pragma: no cover
        pass
    try:
        from clickhouse_connect.driver.exceptions import ClickHouseError
        if isinstance(exc, ClickHouseError):
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            if "UNKNOWN_DATABASE" in text or "UNKNOWN_TABLE" in text:
                text += "; run `touchpulse up` first"
            return "ClickHouse: " + text
    except ImportError:  # pragma: no cover
        pass
    return None
