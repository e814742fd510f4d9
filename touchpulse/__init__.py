"""touchpulse: service metrics (NPS, contact centre, reviews, purchases) from Kafka to ClickHouse."""

__version__ = "0.1.0"
