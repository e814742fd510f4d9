"""Memory a written batch freed, handed back to the operating system.

Both allocators in a worker keep what a batch frees for reuse. chDB's jemalloc keeps dirty pages
for seconds (its build sets `dirty_decay_ms:5000`); glibc, which Python's larger objects come
from, keeps freed heap. So a batch's transient memory (decoded events, columns, the engine's
joins and inserts) stays in the worker's RSS long after the batch is written: at the peak of a
300,000-event drain, jemalloc held 140-210 MB resident that nothing had allocated (measured with
`system.jemalloc_stats` on chDB 26.9, benchmarks/README.md). Returning it after a write, at most
once per `interval` seconds, lowered the drain's peak by 50-90 MB for about 7 ms (6 for jemalloc,
1 for glibc) per release. Freeing at once instead (`dirty_decay_ms:0`) cost 25 % more CPU: every
free became a system call, and every allocation a page fault.

Only the embedded engine is this process's memory; a ClickHouse server manages its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from time import monotonic
from typing import Callable

log = logging.getLogger(__name__)

PURGE = "SYSTEM JEMALLOC PURGE"


class MemoryReturn:
    def __init__(self, embedded: bool, interval: float = 0.5, clock: Callable[[], float] = monotonic):
        self.embedded = embedded
        self.interval = interval
        self.clock = clock
        self._last: float | None = None
        self._trim = _malloc_trim()

    def after_write(self, client) -> bool:
        """Release what the allocators keep, unless that was done less than `interval` ago.
        Returns whether it released. Never raises: memory is not worth a failed batch."""
        now = self.clock()
        if self._last is not None and now - self._last < self.interval:
            return False
        self._last = now
        if self.embedded:
            try:
                client.command(PURGE)
            except Exception as exc:  # e.g. an engine built without jemalloc
                log.info("not releasing the embedded engine's freed memory: %s", str(exc).splitlines()[0][:200])
                self.embedded = False
        if self._trim is not None:
            self._trim(0)
        return True


def _malloc_trim():
    """glibc's malloc_trim, or None on a C library without it (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
