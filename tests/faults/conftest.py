"""Fault-suite fixtures: the real local broker, per-test pipelines, and one calm reference run."""

from __future__ import annotations

import pytest

from touchpulse.kafka import broker
from tests.support.pipeline import local_broker, make_pipeline, pipeline  # noqa: F401  (pytest fixtures)


@pytest.fixture(scope="session")
def reference(local_broker, tmp_path_factory):  # noqa: F811
    """(records, expected): a realistic scenario and what a run without any fault makes of it."""
    from tests.faults.test_crash_and_outages import dead_letters, followups, scenario, views

    records = scenario()
    calm = make_pipeline(local_broker.bootstrap, tmp_path_factory.mktemp("calm"))
    calm.up()
    calm.produce(records)
    calm.drain()
    expected = {"views": views(calm), "followups": followups(calm), "dead_letters": dead_letters(calm)}
    assert expected["views"]["nps_daily"] and expected["followups"] and expected["dead_letters"]
    return records, expected


@pytest.fixture
def own_broker_pipeline(tmp_path):
    """A pipeline on a broker of its own, for tests that restart the broker."""
    home = tmp_path / "broker"
    b = broker.start(home)
    try:
        yield make_pipeline(b.bootstrap, tmp_path), home
    finally:
        broker.stop(home)
