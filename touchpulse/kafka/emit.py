"""Producing events with kafka-python: the `emit` and `simulate` commands."""

from __future__ import annotations

import contextlib
import logging
import sys
from datetime import date
from typing import IO, Iterable, Iterator

import orjson

from touchpulse.core.events import EVENT_TYPES, Rejected, parse_event
from touchpulse.errors import UserError
from touchpulse.kafka.topics import Topics, bootstrap, client_config
from touchpulse.settings import Settings

log = logging.getLogger("touchpulse")


def producer(settings: Settings):
    from kafka import KafkaProducer
    return KafkaProducer(bootstrap_servers=bootstrap(settings), acks="all", linger_ms=20,
                         batch_size=256 * 1024, max_request_size=2 * 1024 * 1024, **client_config(settings))


@contextlib.contextmanager
def open_lines(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}") from None
    with f:
        yield f


def plan_lines(lines: Iterable[bytes], raw: bool, fallback_type: str | None) -> list[tuple[str, bytes, bytes | None]]:
    """(type, value, key) for every non-blank line; refuses the whole input on the first broken line."""
    planned = []
    for number, line in enumerate(lines, start=1):
        value = line.rstrip(b"\r\n")
        if not value.strip():
            continue
        etype = _type_of(value) or fallback_type
        if raw:
            if etype not in EVENT_TYPES:
                raise UserError(f"line {number}: cannot tell which topic it belongs to "
                                "(no readable \"type\"); pass --type")
            planned.append((etype, value, None))
            continue
        try:
            event = parse_event(value)
        except Rejected as exc:
            raise UserError(f"line {number}: {exc.reason} (nothing was sent; --raw sends lines as they are)") from None
        planned.append((event.type, value, event.entity_id.encode()))
    return planned


def emit_lines(settings: Settings, lines: Iterable[bytes], raw: bool = False, fallback_type: str | None = None) -> int:
    planned = plan_lines(lines, raw, fallback_type)
    topics = Topics(settings.topic_prefix)
    p = producer(settings)
    try:
        for etype, value, key in planned:
            p.send(topics.for_type(etype), value=value, key=key)
        p.flush()
    finally:
        p.close()
    return len(planned)


def produce_simulation(settings: Settings, days: int, seed: int, end_day: date, errors: bool = True) -> int:
    from tqdm import tqdm

    from touchpulse.services import registry
    from touchpulse.simulate import estimate_count, simulate

    topics = Topics(settings.topic_prefix)
    p = producer(settings)
    sent = 0
    try:
        with tqdm(total=estimate_count(days), unit="ev", desc="simulate", disable=None) as bar:
            for etype, value in simulate(days, seed, end_day, registry(settings), settings.timezone, errors=errors):
                p.send(topics.for_type(etype), value=value, key=_key_of(value))
                sent += 1
                if sent % 2000 == 0:
                    bar.update(2000)
            bar.update(sent % 2000)
        p.flush()
    finally:
        p.close()
    log.info("simulated %d days ending %s: %d messages produced", days, end_day, sent)
    return sent


_KEYS = ("call_id", "order_id", "review_id", "response_id")


def _key_of(value: bytes) -> bytes | None:
    """Key by entity id, as the contract asks producers to, so versions stay ordered."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for k in _KEYS:
            if isinstance(doc.get(k), str):
                return doc[k].encode()
    return None


def _type_of(value: bytes) -> str | None:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    t = doc.get("type") if isinstance(doc, dict) else None
    return t if t in EVENT_TYPES else None
