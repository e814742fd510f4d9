"""A private touchpulse installation for one bench run: its own home, broker and chDB dirs.

chDB allows one process per data directory and one directory per process, so the bench's
own process never opens ClickHouse: every step that needs it runs as a subprocess (the
worker, `touchpulse up`, or `python -m touchpulse.bench.child`), one after the other.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from touchpulse.settings import Settings, load_settings

CLI = [sys.executable, "-m", "touchpulse.cli"]
CHILD = [sys.executable, "-m", "touchpulse.bench.child"]
DATABASE = "touchpulse"
GROUP = "touchpulse-bench"


def say(message: str) -> None:
    """Progress in words on stderr (stdout carries the table or the JSON)."""
    print(f"bench {time.strftime('%H:%M:%S')}: {message}", file=sys.stderr, flush=True)


@dataclass
class BenchHome:
    root: Path
    overrides: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.root / "home"

    def env(self, **extra: str) -> dict[str, str]:
        """The parent environment without any TOUCHPULSE_* setting of the user, plus ours."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHPULSE_")}
        env.update({"TOUCHPULSE_HOME": str(self.home), "TOUCHPULSE_DATABASE": DATABASE,
                    "TOUCHPULSE_GROUP": GROUP, "TOUCHPULSE_TIMEZONE": "UTC", "TOUCHPULSE_LOG_LEVEL": "INFO"})
        env.update(self.overrides)
        env.update(extra)
        return env

    def settings(self, **extra: str) -> Settings:
        return load_settings(env=self.env(**extra), dotenv=None)

    def chdb_dir(self, name: str) -> str:
        """A DSN for a chDB directory of this run other than the pipeline's own."""
        return f"chdb://{self.root / name}"


def skip_earlier(settings, events: bool = False) -> None:
    """Start the new group `settings.group` at the end of the customers topic (and of the event
    topics with `events`). What is there already is the earlier steps' (for their own databases):
    a drain reading their notices too processed more messages each round (30 % more CPU), and the
    live worker of the freshness step, in the first drain's group, spent its first 6-7 s on the
    reads drains' 500,000 notices while the steady stream queued behind them (`freshness_p99_s`
    5.5 s in one run, 1.3-1.9 s in others, depending on which came first)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    from touchpulse.kafka.topics import Topics, bootstrap

    topics = Topics(settings.topic_prefix)
    names = [topics.customers, *(topics.events if events else ())]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(settings), group_id=settings.group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
        ends = consumer.end_offsets(tps)
        consumer.commit({tp: OffsetAndMetadata(end, None, -1) for tp, end in ends.items() if end})
    finally:
        consumer.close()
