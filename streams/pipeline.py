"""Batches finishing in order while the next one is already being validated.

The worker's ClickHouse write runs on its own thread, and chDB releases the GIL while it inserts,
so validating batch N+1 on the event loop while batch N is written uses the second core. What
must not change is the order of acknowledgements: offsets are committed up to the highest
acknowledged contiguous offset, so batch N+1 is acknowledged only after batch N, and only after
its own writes and publishes are done. `InOrder` gives exactly that, with a bound on how many
batches are unfinished at once (backpressure: while ClickHouse refuses writes, the consumer
stops fetching after `depth` batches).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Awaitable, Callable


class InOrder:
    def __init__(self, depth: int = 2):
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self._unfinished: deque[asyncio.Future] = deque()

    async def submit(self, work: Awaitable, then: Callable[[], Awaitable[None] | None]) -> None:
        """Run `work` in the background; once it and every batch submitted before it have
        finished, call `then` (the acknowledgement). Returns when fewer than `depth` batches
        are unfinished. If an earlier batch failed, this one's `then` never runs and the
        failure is raised here, from `submit` or from `drain`."""
        previous = self._unfinished[-1] if self._unfinished else None
        work = asyncio.ensure_future(work)
        self._unfinished.append(asyncio.ensure_future(self._complete(work, previous, then)))
        while len(self._unfinished) >= self.depth:
            await self._unfinished[0]
            self._unfinished.popleft()

    async def drain(self) -> None:
        """Wait for every submitted batch to finish."""
        while self._unfinished:
            await self._unfinished[0]
            self._unfinished.popleft()

    def cancel(self) -> None:
        """Abandon the unfinished batches (shutdown): none of them is acknowledged."""
        while self._unfinished:
            self._unfinished.popleft().cancel()

    @property
    def unfinished(self) -> int:
        return len(self._unfinished)

    @staticmethod
    async def _complete(work: asyncio.Future, previous: asyncio.Future | None,
                        then: Callable[[], Awaitable[None] | None]) -> None:
        if previous is not None:
            await asyncio.wait({previous})  # finished, whether it succeeded or not
            if previous.cancelled() or previous.exception() is not None:
                work.cancel()
                previous.result()  # an earlier batch failed: raise its error, acknowledge nothing
        await work
        result = then()
        if asyncio.iscoroutine(result):
            await result
