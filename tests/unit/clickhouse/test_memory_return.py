"""A written batch's freed memory goes back to the operating system (clickhouse/memory.py)."""

from __future__ import annotations

import re
from pathlib import Path

from touchpulse.clickhouse.memory import MemoryReturn


def _engine_idle_mb(client) -> int:
    """Pages jemalloc holds resident that nothing has allocated (dirty, kept for reuse)."""
    stats = client.query("SELECT stats FROM system.jemalloc_stats").result_rows[0][0]
    m = re.search(r"Allocated: \d+, active: (\d+), metadata: (\d+).*?resident: (\d+)", stats, re.S)
    active, metadata, resident = (int(x) >> 20 for x in m.groups())
    return resident - active - metadata


def _python_anon_mb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) >> 10
    raise AssertionError("no RssAnon in /proc/self/status")


def test_the_embedded_engine_returns_what_a_query_freed(chdb_client):
    chdb_client.query("SELECT length(groupArray(toString(number))) FROM numbers(5000000)")  # ~400 MB, freed
    before = _engine_idle_mb(chdb_client)
    assert before > 100, f"the query left only {before} MB unused: nothing to measure"
    assert MemoryReturn(embedded=True).after_write(chdb_client)
    assert _engine_idle_mb(chdb_client) < 32


def test_python_heap_freed_by_a_batch_is_returned():
    blocks = [bytes(1000) + str(i).encode() for i in range(100_000)]  # glibc heap, not pymalloc
    last = blocks[-1]  # pins the heap's top: free() alone cannot shrink it
    held = _python_anon_mb()
    del blocks
    assert MemoryReturn(embedded=False).after_write(None)
    assert _python_anon_mb() < held - 50
    assert last


def test_at_most_one_release_per_interval(chdb_client):
    now = [100.0]
    memory = MemoryReturn(embedded=True, interval=0.5, clock=lambda: now[0])
    assert memory.after_write(chdb_client)
    now[0] += 0.3
    assert not memory.after_write(chdb_client)
    now[0] += 0.3
    assert memory.after_write(chdb_client)


def test_a_failing_release_never_fails_the_batch():
    """A server refusing the statement (no SYSTEM privilege) or an engine without jemalloc: the
    batch goes on, and the engine is not asked again."""
    class Refusing:
        calls = 0

        def command(self, sql):
            Refusing.calls += 1
            raise RuntimeError("Code: 497. DB::Exception: Not enough privileges. (ACCESS_DENIED)")

    now = [0.0]
    memory = MemoryReturn(embedded=True, interval=0.5, clock=lambda: now[0])
    assert memory.after_write(Refusing())
    now[0] += 1
    assert memory.after_write(Refusing())
    assert Refusing.calls == 1
