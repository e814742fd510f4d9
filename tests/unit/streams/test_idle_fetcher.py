"""IdleBackoffFetcher without a broker: aiokafka's fetch is replaced by a stub answering at once
(the embedded broker's way) or after a while (a broker that holds empty fetches). The waits
between empty answers grow 1 ms -> 0.1 s, vanish on data, end when the consumer wants more,
and a cancelled wait returns as aiokafka's own cancelled fetch does (its `close` awaits it)."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.consumer.fetcher import Fetcher

from touchpulse.streams.consumer import IdleBackoffFetcher


def fetcher(max_wait_ms: int = 1500) -> IdleBackoffFetcher:
    f = IdleBackoffFetcher.__new__(IdleBackoffFetcher)  # no client: only the fetch method runs
    f._fetch_max_wait_ms = max_wait_ms
    f._wait_consume_future = asyncio.get_running_loop().create_future()
    f.install()
    return f


@pytest.fixture
def answers(monkeypatch):
    """Queue of (has_data, seconds the broker takes) for the stubbed aiokafka fetch."""
    queue: list[tuple[bool, float]] = []

    async def fetch(self, assignment, node_id, request):
        has_data, seconds = queue.pop(0)
        if seconds:
            await asyncio.sleep(seconds)
        return has_data

    monkeypatch.setattr(Fetcher, "_proc_fetch_request", fetch)
    return queue


async def timed(f, node_id=1) -> tuple[bool, float]:
    started = time.monotonic()
    result = await f._proc_fetch_request(None, node_id, None)
    return result, time.monotonic() - started


def test_empty_answers_back_off_up_to_the_cap_and_data_resets(answers):
    async def main():
        f = fetcher()
        answers.extend([(False, 0)] * 9 + [(True, 0), (False, 0)])
        waits = []
        for _ in range(9):
            assert (await timed(f))[0] is False
            waits.append(f._idle_backoff[1])
        assert waits == [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.1, 0.1]
        has_data, _ = await timed(f)
        assert has_data and 1 not in f._idle_backoff  # data: fetch again at once
        await timed(f)
        assert f._idle_backoff[1] == 0.001

    asyncio.run(main())


def test_the_wait_is_really_slept_and_per_broker(answers):
    async def main():
        f = fetcher()
        answers.extend([(False, 0)] * 9)
        for _ in range(7):
            await timed(f, node_id=1)
        _, took = await timed(f, node_id=1)
        assert took >= 0.09  # only a lower bound: a busy machine may add any delay
        await timed(f, node_id=2)  # another broker has its own count
        assert f._idle_backoff == {1: 0.1, 2: 0.001}

    asyncio.run(main())


def test_a_broker_that_holds_empty_fetches_gets_no_extra_wait(answers):
    async def main():
        f = fetcher(max_wait_ms=40)
        answers.extend([(False, 0.03)] * 5)
        for _ in range(5):
            await timed(f)
            assert not f._idle_backoff  # no wait was chosen, whatever the wall clock says

    asyncio.run(main())


def test_the_wait_ends_when_the_consumer_has_used_up_its_records(answers):
    async def main():
        f = fetcher()
        f.first_idle_backoff = f.max_idle_backoff = 30.0  # a wait only the signal can end
        answers.append((False, 0))
        asyncio.get_running_loop().call_later(0.01, f._wait_consume_future.set_result, None)
        _, took = await timed(f)
        assert took < 10

    asyncio.run(main())


def test_a_cancelled_wait_returns_like_a_cancelled_fetch(answers):
    async def main():
        f = fetcher()
        answers.extend([(False, 0)] * 8)
        for _ in range(7):
            await timed(f)
        task = asyncio.ensure_future(f._proc_fetch_request(None, 1, None))
        await asyncio.sleep(0.01)
        task.cancel()
        assert await task is False  # what Fetcher.close awaits without catching anything

    asyncio.run(main())
