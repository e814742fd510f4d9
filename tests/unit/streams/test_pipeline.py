"""InOrder: batches finish concurrently but are acknowledged strictly in order, only after their
own work, never after an earlier failure; at most `depth` are unfinished."""

from __future__ import annotations

import asyncio

import pytest

from touchpulse.streams.pipeline import InOrder


def run(coro):
    return asyncio.run(coro)


def test_acknowledged_in_submission_order_even_when_later_work_finishes_first():
    async def main():
        acked = []
        gates = [asyncio.Event() for _ in range(3)]
        pipe = InOrder(depth=4)

        async def work(i):
            await gates[i].wait()

        for i in range(3):
            await pipe.submit(work(i), lambda i=i: acked.append(i))
        gates[2].set()
        gates[1].set()
        await asyncio.sleep(0.01)
        assert acked == []  # batch 0 is not finished: nothing after it may be acknowledged
        gates[0].set()
        await pipe.drain()
        return acked

    assert run(main()) == [0, 1, 2]


def test_submit_returns_only_when_fewer_than_depth_are_unfinished():
    async def main():
        gate = asyncio.Event()
        pipe = InOrder(depth=2)
        await pipe.submit(gate.wait(), lambda: None)
        assert pipe.unfinished == 1  # depth 2: the next batch may be prepared meanwhile
        second = asyncio.ensure_future(pipe.submit(asyncio.sleep(0), lambda: None))
        await asyncio.sleep(0.01)
        assert not second.done()  # backpressure: the first batch holds the second submit
        gate.set()
        await second
        await pipe.drain()
        assert pipe.unfinished == 0

    run(main())


def test_depth_one_is_sequential():
    async def main():
        log = []

        async def work(i):
            log.append(f"start {i}")
            await asyncio.sleep(0)
            log.append(f"end {i}")

        pipe = InOrder(depth=1)
        for i in range(2):
            await pipe.submit(work(i), lambda i=i: log.append(f"ack {i}"))
        return log

    assert run(main()) == ["start 0", "end 0", "ack 0", "start 1", "end 1", "ack 1"]


def test_a_failed_batch_is_not_acknowledged_nor_anything_after_it():
    async def main():
        acked = []
        pipe = InOrder(depth=3)

        async def fail():
            raise RuntimeError("producer gone")

        await pipe.submit(fail(), lambda: acked.append(0))
        with pytest.raises(RuntimeError, match="producer gone"):
            await pipe.submit(asyncio.sleep(0), lambda: acked.append(1))
            await pipe.submit(asyncio.sleep(0), lambda: acked.append(2))
            await pipe.drain()
        pipe.cancel()
        await asyncio.sleep(0)
        return acked

    assert run(main()) == []


def test_cancel_abandons_unfinished_batches_without_acknowledging():
    async def main():
        acked = []
        pipe = InOrder(depth=3)
        never = asyncio.Event()
        await pipe.submit(asyncio.sleep(0), lambda: acked.append(0))
        await pipe.drain()
        await pipe.submit(never.wait(), lambda: acked.append(1))
        await pipe.submit(asyncio.sleep(0), lambda: acked.append(2))
        pipe.cancel()
        await asyncio.sleep(0.01)
        return acked, pipe.unfinished

    assert run(main()) == ([0], 0)


def test_async_acknowledgement_is_awaited():
    async def main():
        done = []

        async def ack():
            await asyncio.sleep(0)
            done.append(True)

        pipe = InOrder(depth=2)
        await pipe.submit(asyncio.sleep(0), ack)
        await pipe.drain()
        return done

    assert run(main()) == [True]


def test_depth_must_be_positive():
    with pytest.raises(ValueError):
        InOrder(depth=0)
