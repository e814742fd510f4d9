"""The proof: generated event streams through the real broker and worker, every view compared
with the plain-Python reference (tests/oracle/reference.py) row for row.

Two generated examples plus one fixed Europe/Moscow example, each a whole installation (its
own topics, consumer group and database) fed by a plain kafka-python producer, drained by
`touchpulse worker --drain`, and read back the way `touchpulse query VIEW --format json`
prints it. Many more streams and zones run in-process in
tests/unit/clickhouse/test_views_match_oracle.py. Shrinking is off: an example costs seconds,
and the failure message carries the seed that rebuilds the stream.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from tests.oracle.compare import KEYS, mismatches
from tests.oracle.reference import compute
from tests.oracle.streams import build_stream, oracle_input, registry_targets

pytestmark = pytest.mark.integration

TARGETS, DEFAULTS = registry_targets()
MOSCOW_SEED = 20260310  # always run: the business zone of the acceptance scenario

# All views in one subprocess, through the same functions as `touchpulse query --format json`.
READ_ALL = """
import json, sys
from touchpulse.clickhouse.client import connect
from touchpulse.clickhouse.queries import format_rows, query_view
from touchpulse.settings import load_settings
settings = load_settings()
client = connect(settings)
out = {}
for view in sys.argv[1:]:
    columns, rows = query_view(settings, view, client=client)
    out[view] = json.loads(format_rows(columns, rows, "json"))
print(json.dumps(out))
"""


def installation(pipeline, tz: str):
    """A fresh installation on the session broker and the test's chDB directory."""
    name = "o" + uuid.uuid4().hex[:10]
    env = {**pipeline.env, "TOUCHPULSE_TOPIC_PREFIX": f"{name}.", "TOUCHPULSE_GROUP": f"{name}-workers",
           "TOUCHPULSE_DATABASE": name, "TOUCHPULSE_TIMEZONE": tz}
    return replace(pipeline, env=env)


def read_all(p) -> dict[str, list[dict]]:
    proc = subprocess.run([sys.executable, "-c", READ_ALL, *KEYS], capture_output=True, env=p.env, cwd=p.home,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    return json.loads(proc.stdout)


def totals(rows: list[dict]) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    for r in rows:
        a, d, x = out.get(r["type"], (0, 0, 0))
        out[r["type"]] = (a + r["accepted"], d + r["duplicates"], x + r["rejected"])
    return out


@settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.generate], database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), tz=st.sampled_from(["UTC", "Europe/Moscow", "America/New_York"]))
@example(seed=MOSCOW_SEED, tz="Europe/Moscow")
def test_every_view_matches_the_reference_through_broker_and_worker(pipeline, seed, tz):
    p = installation(pipeline, tz)
    p.up()
    stream = build_stream(seed, tz, size=300)
    before = datetime.now(timezone.utc)
    p.produce(stream)
    after = datetime.now(timezone.utc)
    p.drain()
    got = read_all(p)

    same_day = before.astimezone(ZoneInfo(tz)).date() == after.astimezone(ZoneInfo(tz)).date()
    expected = compute(oracle_input(stream), tz, TARGETS, DEFAULTS, arrived_at=before)
    views = [v for v in KEYS if v != "ingest_daily" or same_day]
    problems = [m for view in views for m in mismatches(view, got[view], expected[view])]
    assert not problems, f"seed={seed} tz={tz}\n" + "\n".join(problems[:30])
    if not same_day:  # produced across a midnight: compare the totals per type
        assert totals(got["ingest_daily"]) == totals(expected["ingest_daily"])
    assert sum(len(expected[v]) for v in KEYS) > 100
    if seed == MOSCOW_SEED:  # the CLI prints exactly what was compared (once: each call costs seconds)
        assert p.query("calls_daily") == got["calls_daily"]
