"""Customer notices: many to a message, each on the partition Kafka's own partitioner gives the
customer, and both the grouped and the older one-notice form read back."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from touchpulse.core.touchpoints import load_registry
from touchpulse.streams import notices
from touchpulse.streams.batch import Message, process_batch

NOW = datetime(2026, 11, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize("partitions", [1, 4, 7, 12])
def test_a_customer_goes_where_kafkas_default_partitioner_sends_its_id(partitions):
    ids = [f"cust-{i}" for i in range(300)] + ["", "Ünïcode-客户", "x" * 500]
    parts = list(range(partitions))
    for c in ids:
        want = DefaultPartitioner()(c.encode(), parts, parts)
        assert notices.customer_partition(c, partitions) == want
        assert (kafka_python_murmur2(c.encode()) & 0x7FFFFFFF) % partitions == want


def test_grouped_messages_carry_every_notice_once_on_its_customers_partition():
    items = [(f"c{i % 500}", "order" if i % 3 else "call", f"e{i}") for i in range(5000)]
    messages = notices.grouped(items, 4)
    assert len({p for p, _ in messages}) == 4
    assert len(messages) >= 4 and len(messages) <= 4 + 5000 // notices.PER_MESSAGE + 4
    back = []
    for partition, value in messages:
        got = notices.parse(value)
        assert isinstance(got, list) and len(got) <= notices.PER_MESSAGE
        assert all(notices.customer_partition(c, 4) == partition for c, _, _ in got)
        back.extend(got)
    assert sorted(back) == sorted(items)


def test_the_one_notice_form_is_still_read():
    assert notices.parse(notices.single("ann", "call", "call-1")) == [("ann", "call", "call-1")]


@pytest.mark.parametrize("value,reason", [
    (b"{oops", "expected"),
    (b"[1, 2]", "expected"),
    (orjson.dumps({"notices": [["ann", "order"]]}), "expected"),
    (orjson.dumps({"notices": [["ann", "refund", "o1"]]}), "kind must be one of order, call"),
    (orjson.dumps({"notices": [["ann", "order", "o1"], ["", "order", "o2"]]}), "non-empty strings"),
    (orjson.dumps({"customer_id": "ann", "kind": "order", "id": 7}), "non-empty strings"),
    (None, "expected"),
])
def test_a_stranger_on_the_internal_topic_is_a_dead_letter_not_a_crash(value, reason):
    msg = Message("t.customers", 0, 5, None, value, NOW)
    out = process_batch([msg], {}, load_registry(), 8, now=NOW, notices_topic="t.customers")
    assert out.notices == [] and out.notice_messages == 1
    (dead,) = out.dead_letters
    assert dead.type == "customer" and reason in dead.reason


def test_a_batch_counts_notice_messages_apart_from_notices():
    value = orjson.dumps({"notices": [["ann", "order", "o1"], ["bob", "call", "k1"]]})
    msgs = [Message("t.customers", 0, i, None, value, NOW) for i in range(3)]
    out = process_batch(msgs, {}, load_registry(), 8, now=NOW, notices_topic="t.customers")
    assert (len(out.notices), out.notice_messages) == (6, 3)
    assert [n.message.offset for n in out.notices] == [0, 0, 1, 1, 2, 2]


def _message(topic: str, value: bytes, offset: int) -> Message:
    return Message(topic, 0, offset, None, value, datetime(2026, 1, 1, tzinfo=timezone.utc))


def test_a_batch_of_n_messages_never_applies_far_more_than_n_notices():
    """A backlog of grouped notices (2,000 a message) must not make one batch of millions."""
    from streams.consumer import batch_cut

    ids = [(f"customer-{i:06d}", "order", f"order-{i:08d}") for i in range(20_000)]
    heavy = [_message("notices", v, o) for o, (_, v) in enumerate(notices.grouped(ids, 1))]
    events = [_message("calls", b'{"event_type": "call"}', o) for o in range(100)]
    cut, full = batch_cut(heavy + events, 5_000, "notices")
    carried = sum(len(notices.parse(m.value)) for m in heavy[:cut])
    assert full and 1 <= cut < len(heavy) and carried <= 5_000 + notices.PER_MESSAGE
    # Without the weight the same cut would take every message, all 20,000 notices.
    assert batch_cut(heavy + events, 5_000, None) == (len(heavy + events), False)
    # Events alone: `size` messages, as before.
    assert batch_cut(events, 40, "notices") == (40, True)
    assert batch_cut(events, 400, "notices") == (100, False)


def test_the_running_weight_is_the_weight_of_what_is_pending():
    """The consumer keeps `weigh(pending)` as messages come and batches go; the cut it makes once the
    weight reaches the size is the cut of the whole list."""
    from streams.consumer import batch_cut, weigh

    ids = [(f"customer-{i:06d}", "order", f"order-{i:08d}") for i in range(20_000)]
    heavy = [_message("notices", v, o) for o, (_, v) in enumerate(notices.grouped(ids, 1))]
    events = [_message("calls", b'{"event_type": "call"}', o) for o in range(3_000)]
    pending, weight, batches = [], 0, []
    for chunk in (events[:1_000], heavy, events[1_000:]):
        pending += chunk
        weight += weigh(chunk, "notices")
        while weight >= 5_000:
            cut, full = batch_cut(pending, 5_000, "notices")
            assert full
            batches.append(pending[:cut])
            del pending[:cut]
            weight -= weigh(batches[-1], "notices")
            assert weight == weigh(pending, "notices")
    assert weigh(heavy, "notices") >= 20_000 and len(batches) >= 4
    assert sum(map(len, batches)) + len(pending) == len(events) + len(heavy)
