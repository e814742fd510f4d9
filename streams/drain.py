"""`worker --drain`: process everything that was on the topics when the worker started, then stop."""

from __future__ import annotations

from typing import Iterable

from touchpulse.streams.batch import Message


class DrainTracker:
    def __init__(self, end_offsets: dict[tuple[str, int], int]):
        self.remaining = {tp: end for tp, end in end_offsets.items() if end > 0}
        self.stopping = False

    def processed(self, messages: Iterable[Message]) -> None:
        for m in messages:
            tp = (m.topic, m.partition)
            end = self.remaining.get(tp)
            if end is not None and m.offset + 1 >= end:
                del self.remaining[tp]

    def done(self) -> bool:
        return not self.remaining
