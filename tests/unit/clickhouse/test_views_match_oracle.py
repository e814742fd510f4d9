"""Every view against the plain-Python reference, on generated adversarial streams, in-process.

The same comparison runs through the real broker and worker in
tests/integration/test_views_vs_oracle.py; here it is cheap enough to try many streams and
business zones, including ones with daylight saving time and half-hour offsets.
"""

from __future__ import annotations

import uuid

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.oracle.compare import KEYS, mismatches
from tests.oracle.reference import compute
from tests.oracle.streams import build_stream, oracle_input, registry_targets
from tests.oracle.warehouse import Warehouse

ZONES = ["UTC", "Europe/Moscow", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
TARGETS, DEFAULTS = registry_targets()


@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), tz=st.sampled_from(ZONES), replay=st.booleans())
def test_every_view_matches_the_reference(chdb_client, seed, tz, replay):
    stream = build_stream(seed, tz, size=250)
    wh = Warehouse(chdb_client, f"o_{uuid.uuid4().hex[:12]}", tz)
    half = len(stream) // 2
    sent = wh.send(stream[:half]) + wh.send(stream[half:], partition=1)
    if replay:  # a crash re-delivers the first half: nothing may change
        wh.write(sent[:half])
    expected = compute(oracle_input(stream), tz, TARGETS, DEFAULTS, arrived_at=[m.timestamp for m in sent])
    problems = [p for view in KEYS for p in mismatches(view, wh.view(view), expected[view])]
    assert not problems, f"seed={seed} tz={tz}\n" + "\n".join(problems[:30])
    assert sum(len(expected[v]) for v in KEYS) > 100  # the stream really exercised the views
