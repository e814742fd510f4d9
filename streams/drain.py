"""`worker --drain`: process everything that was on the topics when the worker started, then stop.

The customer notices a drain's own batches publish (touchpulse/derived/maintenance.py) come
after the event topics' ends were read, so once those are reached the drain reads the customers
topic's ends again and goes on until nothing more has arrived there (`extend`, `settled`).
"""

from __future__ import annotations

from typing import Iterable

from touchpulse.streams.batch import Message


class DrainTracker:
    def __init__(self, end_offsets: dict[tuple[str, int], int]):
        self.remaining = {tp: end for tp, end in end_offsets.items() if end > 0}
        self.seen: dict[tuple[str, int], int] = {}  # the next offset after the last one processed
        self.stopping = False
        self.settled = False

    def processed(self, messages: Iterable[Message]) -> None:
        for m in messages:
            tp = (m.topic, m.partition)
            if m.offset + 1 > self.seen.get(tp, 0):
                self.seen[tp] = m.offset + 1
            end = self.remaining.get(tp)
            if end is not None and m.offset + 1 >= end:
                del self.remaining[tp]

    def extend(self, end_offsets: dict[tuple[str, int], int]) -> bool:
        """More ends to reach (read later); returns whether any is still ahead of what was processed."""
        ahead = {tp: end for tp, end in end_offsets.items() if end > self.seen.get(tp, 0) and end > 0}
        self.remaining.update(ahead)
        return bool(ahead)

    def done(self) -> bool:
        return not self.remaining
