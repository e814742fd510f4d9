"""`touchpulse query` on embedded chDB completes a batch a crashed worker left open.

On chDB a process that can open the database knows no worker is running (one process per data
directory), so `query` finishes any batch left half applied before it reads a view. The crash
is simulated in a subprocess on the pipeline's chDB: a first batch is applied through the
worker's own writer (touchpulse.clickhouse.writer.FactWriter), then a second one through a
client that dies at the statement inserting the batch's deltas into `sums` (as kill -9 would
leave it: its facts are in the raw tables and it is recorded in `open_batches`, but nothing of
it is in what the views read yet).
"""

from __future__ import annotations

import pickle
import zlib
from datetime import datetime, timedelta, timezone

import pytest

from tests.oracle.compare import mismatches
from tests.oracle.reference import compute
from tests.oracle.streams import TOPIC, build_stream, oracle_input, registry_targets
from touchpulse.streams.batch import Message

pytestmark = pytest.mark.integration

TZ = "Europe/Moscow"
TARGETS, DEFAULTS = registry_targets()

CRASH = """
import pickle, sys
from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.writer import FactWriter
from touchpulse.core.touchpoints import load_registry
from touchpulse.settings import load_settings
from touchpulse.streams.batch import process_batch


class Crash(Exception):
    pass


class CrashingClient:
    '''The worker's client, dying at its first statement that contains `at` (commands, queries
    and inserts alike; ClickHouse has committed every statement before it).'''

    def __init__(self, client, at):
        self._client, self.at, self.count = client, at, 0

    def _tick(self, sql):
        self.count += 1
        if self.at in str(sql):
            raise Crash(f"statement {self.count}")

    def command(self, cmd, *a, **k):
        self._tick(cmd)
        return self._client.command(cmd, *a, **k)

    def query(self, query=None, *a, **k):
        self._tick(query)
        return self._client.query(query, *a, **k)

    def insert(self, *a, **k):
        self._tick("")
        return self._client.insert(*a, **k)

    def __getattr__(self, name):
        return getattr(self._client, name)


settings = load_settings()
client = connect(settings)
job = pickle.loads(sys.stdin.buffer.read())
registry = load_registry()


def outcome(batch):
    return process_batch(batch, job["types"], registry, followup_below=8, now=batch[-1].timestamp)


FactWriter(client, settings.database, worker="w1").write(outcome(job["first"]))
crashing = CrashingClient(client, job["at"])
try:
    FactWriter(crashing, settings.database, worker="w1").write(outcome(job["second"]))
except Crash as exc:
    print(f"crashed at {exc}", file=sys.stderr)
else:
    sys.exit("the second batch did not crash")
"""


def messages(p, stream) -> list[Message]:
    """The stream as Kafka would deliver it: each keyed record on its key's partition."""
    clock = datetime(2024, 6, 1, tzinfo=timezone.utc)
    offsets: dict[tuple[str, int], int] = {}
    out = []
    for topic, value, key in stream:
        t = p.topic(topic)
        part = zlib.crc32(key) % 2 if key else 0
        clock += timedelta(milliseconds=1)
        out.append(Message(t, part, offsets.setdefault((t, part), 0), key, value, clock))
        offsets[(t, part)] += 1
    return out


def test_query_completes_the_batch_a_crashed_worker_left_open(pipeline):
    p = pipeline
    p.env["TOUCHPULSE_TIMEZONE"] = TZ
    db = p.env["TOUCHPULSE_DATABASE"]
    p.up()
    stream = build_stream(515151, TZ, size=200)
    msgs = messages(p, stream)
    half = len(msgs) // 2
    job = {"types": {p.topic(t): e for e, t in TOPIC.items()}, "first": msgs[:half], "second": msgs[half:],
           "at": f"{db}`.sums ("}
    p.python(CRASH, input=pickle.dumps(job))

    assert p.sql(f"SELECT count() FROM {db}.open_batches") == [[1]], "the crash should leave the batch open"
    crashed = p.sql(f"SELECT count() FROM {db}.surveys WHERE batch_id IN (SELECT batch_id FROM {db}.open_batches)")
    assert crashed[0][0] > 0, "the open batch should hold surveys"
    whole = compute(oracle_input(stream), TZ, TARGETS, DEFAULTS)["nps_daily"]
    first = compute(oracle_input(stream[:half]), TZ, TARGETS, DEFAULTS)["nps_daily"]
    assert mismatches("nps_daily", first, whole), "the second batch should change nps_daily"

    got = p.query("nps_daily")
    problems = mismatches("nps_daily", got, whole)
    assert not problems, "\n".join(problems[:30])
    assert p.sql(f"SELECT count() FROM {db}.open_batches") == [[0]]
    p.run("reconcile")  # exit 0: nothing left to repair
