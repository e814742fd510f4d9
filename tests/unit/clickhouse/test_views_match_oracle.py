"""Every view against the plain-Python reference, on generated adversarial streams, in-process.

The same comparison runs through the real broker and worker in
tests/integration/test_views_vs_oracle.py; here it is cheap enough to try many streams and
business zones, including ones with daylight saving time and half-hour offsets.
"""

from __future__ import annotations

import tomllib
import uuid
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.oracle.compare import KEYS, mismatches
from tests.oracle.reference import compute
from tests.oracle.streams import build_stream, oracle_input, registry_targets
from tests.oracle.warehouse import Warehouse
from touchpulse.core.touchpoints import default_registry_path, load_registry

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


def retargeted_registry(directory: Path) -> Path:
    """The bundled registry with every service-level base in use and other windows, written as TOML."""
    doc = tomllib.loads(default_registry_path().read_text())
    doc["touchpoints"]["business_line"].update(service_level_base="answered", repeat_window_hours=6,
                                               callback_minutes=15)
    doc["touchpoints"]["retail_store"].update(service_level_base="offered", callback_minutes=120.5)
    doc["touchpoints"]["call_centre"].update(service_level_base="offered_less_short")
    doc["defaults"].update(repeat_window_hours=0.5, service_level_base="answered")

    def value(v):
        return f'"{v}"' if isinstance(v, str) else repr(v)

    lines = ["[defaults]", *(f"{k} = {value(v)}" for k, v in doc["defaults"].items())]
    for slug, entry in doc["touchpoints"].items():
        lines += [f"[touchpoints.{slug}]", *(f"{k} = {value(v)}" for k, v in entry.items())]
    path = directory / "touchpoints.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


@settings(max_examples=3, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), tz=st.sampled_from(ZONES))
def test_other_targets_and_service_level_bases_match_the_reference(chdb_client, tmp_path_factory, seed, tz):
    path = retargeted_registry(tmp_path_factory.mktemp("registry"))
    targets, defaults = registry_targets(path)
    assert {t.service_level_base for t in targets.values()} | {defaults.service_level_base} == {
        "offered_less_short", "offered", "answered"}
    stream = build_stream(seed, tz, size=250, registry=path)
    wh = Warehouse(chdb_client, f"o_{uuid.uuid4().hex[:12]}", tz, registry=load_registry(path))
    sent = wh.send(stream)
    expected = compute(oracle_input(stream), tz, targets, defaults, arrived_at=[m.timestamp for m in sent])
    problems = [p for view in KEYS for p in mismatches(view, wh.view(view), expected[view])]
    assert not problems, f"seed={seed} tz={tz}\n" + "\n".join(problems[:30])
