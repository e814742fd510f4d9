"""DrainTracker: `worker --drain` stops exactly when every partition reached its start-time end offset."""

from __future__ import annotations

from datetime import datetime, timezone

from touchpulse.streams.batch import Message
from touchpulse.streams.drain import DrainTracker


def m(topic: str, partition: int, offset: int) -> Message:
    return Message(topic, partition, offset, None, b"{}", datetime(2024, 1, 1, tzinfo=timezone.utc))


def test_nothing_to_drain_is_done_at_once():
    assert DrainTracker({}).done()
    assert DrainTracker({("t", 0): 0, ("t", 1): 0}).done()


def test_done_only_after_the_last_offset_of_every_partition():
    d = DrainTracker({("a", 0): 3, ("a", 1): 1, ("b", 0): 0})
    assert not d.done() and set(d.remaining) == {("a", 0), ("a", 1)}
    d.processed([m("a", 0, 0), m("a", 0, 1)])
    assert not d.done()
    d.processed([m("a", 1, 0)])
    assert not d.done() and set(d.remaining) == {("a", 0)}
    d.processed([m("a", 0, 2)])
    assert d.done()


def test_messages_past_the_end_and_unknown_partitions():
    d = DrainTracker({("a", 0): 5})
    d.processed([m("other", 0, 100), m("a", 1, 100)])
    assert not d.done()
    d.processed([m("a", 0, 9)])  # written after start: still means everything before it was seen
    assert d.done()
    d.processed([m("a", 0, 10)])  # already finished partitions are ignored
    assert d.done()


def test_out_of_order_batches_and_a_generator():
    d = DrainTracker({("a", 0): 2, ("a", 1): 2})
    d.processed(x for x in [m("a", 1, 1), m("a", 0, 0)])
    assert set(d.remaining) == {("a", 0)}
    d.processed(iter([m("a", 0, 1)]))
    assert d.done()
    assert d.stopping is False


def test_ends_read_later_count_only_past_what_was_processed():
    d = DrainTracker({("events", 0): 2})
    d.processed([m("events", 0, 0), m("events", 0, 1), m("customers", 0, 0)])
    assert d.done()
    assert not d.extend({("customers", 0): 1}), "offset 0 of customers was processed already"
    assert d.done()
    assert d.extend({("customers", 0): 3, ("customers", 1): 0})
    assert not d.done() and set(d.remaining) == {("customers", 0)}
    d.processed([m("customers", 0, 1), m("customers", 0, 2)])
    assert d.done()
