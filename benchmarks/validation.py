"""Microseconds per message of `parse_event`, per event type, on simulated messages.

    .venv/bin/python benchmarks/validation.py [N]

N simulated messages (default 100,000; the simulator's mix: mostly calls, ~0.3 % invalid),
each type timed on its own topic, best of five passes; then the same for the invalid messages
only (they take the detailed validator). Used for the numbers in commit messages.
"""

from __future__ import annotations

import sys
import time
from datetime import date

from touchpulse.core.events import Rejected, parse_event
from touchpulse.core.touchpoints import load_registry
from touchpulse.simulate import simulate


def per_message_us(messages: list[bytes], etype: str, passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        for raw in messages:
            try:
                parse_event(raw, etype)
            except Rejected:
                pass
        best = min(best, time.perf_counter() - started)
    return 1e6 * best / max(len(messages), 1)


def main(n: int) -> None:
    valid: dict[str, list[bytes]] = {}
    invalid: dict[str, list[bytes]] = {}
    for etype, raw in simulate(n // 3000 + 2, 1, date(2024, 5, 31), load_registry(), "UTC", errors=True):
        try:
            parse_event(raw, etype)
            valid.setdefault(etype, []).append(raw)
        except Rejected:
            invalid.setdefault(etype, []).append(raw)
        if sum(map(len, valid.values())) + sum(map(len, invalid.values())) >= n:
            break
    total, count = 0.0, 0
    for etype in sorted(valid):
        us = per_message_us(valid[etype], etype)
        total += us * len(valid[etype])
        count += len(valid[etype])
        print(f"{etype:10s} {len(valid[etype]):7d} valid    {us:6.2f} us")
    print(f"{'all':10s} {count:7d} valid    {total / count:6.2f} us")
    for etype in sorted(invalid):
        print(f"{etype:10s} {len(invalid[etype]):7d} invalid  {per_message_us(invalid[etype], etype):6.2f} us")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
