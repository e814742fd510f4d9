"""The bench's table, its targets and the helpers that read the worker's log."""

from __future__ import annotations

import inspect

from touchpulse.bench.queries import _pct
from touchpulse.bench.report import table
from touchpulse.bench.synthetic import SLOTS, _slots
from touchpulse.bench.worker import BATCH


def test_table_gives_a_verdict_against_each_target():
    text = table({"events": 1000, "pipeline_eps": 25_000, "ratio": 0.2, "worker_rss_mb": 1500.0,
                  "query_p95_ms": None, "machine": {"cpu_count": 2}})
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert lines["touchpulse worker --drain"].endswith("meets")
    assert lines["pipeline / limit"].endswith("MISSES")
    assert lines["worker peak RSS"].endswith("MISSES")
    assert "skipped" in lines["dashboard query p95"]
    assert "1,000 events; 2 CPUs" in text


def test_batch_pattern_matches_the_workers_log_line():
    """The bench reads the worker's DEBUG line; this fails if its wording changes."""
    from touchpulse.streams import app
    assert "log.debug(BATCH_LINE," in inspect.getsource(app), "the worker no longer logs BATCH_LINE"
    line = app.BATCH_LINE % (514, 500, 2, 54, 1200, 3, 2994.4)
    m = BATCH.search(line.encode())
    assert m and m.group(1) == b"514" and m.group(2) == b"3" and m.group(3) == b"2994"


def test_nearest_rank_percentile():
    values = list(range(1, 101))
    assert _pct(values, 50) == 50 and _pct(values, 95) == 95 and _pct(values, 100) == 100
    assert _pct([7.0], 95) == 7.0 and _pct([], 50) == 0.0


def test_weighted_slots_keep_the_proportions():
    slots = _slots({"a": 0.5, "b": 0.3, "c": 0.2})
    assert len(slots) == SLOTS
    assert (slots.count("a"), slots.count("b"), slots.count("c")) == (200, 120, 80)
    odd = _slots({"x": 1, "y": 1, "z": 1})
    assert len(odd) == SLOTS and max(odd.count(k) for k in "xyz") - min(odd.count(k) for k in "xyz") <= 1
