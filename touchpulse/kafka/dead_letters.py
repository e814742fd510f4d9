"""Reading, grouping and replaying the dead-letter topic (`touchpulse dlq`).

The worker publishes every rejected message to `<prefix>dlq` with its original bytes and
key, and headers saying why and where it came from. The topic is the permanent record:
nothing here deletes from it. A crash can publish the same dead letter twice, so a dead
letter's identity is its source position (topic, partition, offset), not its DLQ offset.

A replay re-validates each dead letter with the current rules and re-publishes the ones
now valid to their source topic. It is safe to repeat: a re-published event keeps its
event_id, and the views count each event_id once.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from touchpulse.core.events import Rejected, parse_event
from touchpulse.errors import UserError
from touchpulse.kafka.topics import Topics, bootstrap, client_config
from touchpulse.settings import Settings

log = logging.getLogger(__name__)

H_REASON = "touchpulse.reason"
H_FIELD = "touchpulse.field"
H_TOPIC = "touchpulse.source_topic"
H_PARTITION = "touchpulse.source_partition"
H_OFFSET = "touchpulse.source_offset"
H_TIMESTAMP = "touchpulse.source_timestamp"
H_REPLAYED_FROM = "touchpulse.replayed_from"
PROGRESS_FROM = 10_000  # messages; shorter reads need no progress bar


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One record of the DLQ topic, with its provenance headers decoded."""
    key: bytes | None
    value: bytes
    reason: str
    field: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_timestamp: str
    dlq_position: tuple[str, int, int]

    @property
    def identity(self) -> tuple[str, int, int]:
        """The source position; a record without provenance headers is known by its DLQ position."""
        if self.source_topic and self.source_partition >= 0 and self.source_offset >= 0:
            return (self.source_topic, self.source_partition, self.source_offset)
        return self.dlq_position

    @property
    def source(self) -> str:
        return "/".join(str(x) for x in self.identity)


def from_record(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None,
                headers: Iterable[tuple[str, bytes | None]] | None) -> DeadLetter:
    h = {name: (raw or b"").decode("utf-8", "replace") for name, raw in (headers or [])}
    return DeadLetter(
        key=key, value=value or b"",
        reason=h.get(H_REASON) or "(no reason header)", field=h.get(H_FIELD, ""),
        source_topic=h.get(H_TOPIC, ""), source_partition=_int(h.get(H_PARTITION)),
        source_offset=_int(h.get(H_OFFSET)), source_timestamp=h.get(H_TIMESTAMP, ""),
        dlq_position=(topic, partition, offset))


def _int(text: str | None) -> int:
    try:
        return int(text) if text is not None else -1
    except ValueError:
        return -1


def deduplicate(letters: Iterable[DeadLetter]) -> tuple[list[DeadLetter], int]:
    """First copy of each source position, and how many re-published copies were dropped."""
    seen: dict[tuple[str, int, int], DeadLetter] = {}
    copies = 0
    for d in letters:
        if d.identity in seen:
            copies += 1
        else:
            seen[d.identity] = d
    return list(seen.values()), copies


# --- grouping -----------------------------------------------------------------------------

_FIELD = re.compile(r"field '(?P<field>.*?)': (?P<problem>.*)", re.S)
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_RULES = (  # the variable parts of the validator's messages, in order
    (re.compile(r", got .*", re.S), ", got …"),
    (re.compile(r"line \d+ column \d+ \(char \d+\)"), "line N column N (char N)"),
    (re.compile(r"^message is \d+ bytes"), "message is N bytes"),
    (re.compile(r"^has \d+ keys"), "has N keys"),
)
_TRAILING_VALUE = re.compile(r": [^:]*\d[^:]*$", re.S)


def reason_group(reason: str) -> str:
    """The reason with its variable part (the offending value, sizes, positions) replaced by '…'/'N',
    so "field 'score': must be 0..10, got 11" and "..., got 12" fall in one group."""
    m = _FIELD.fullmatch(reason)
    field_name, problem = (m["field"], m["problem"]) if m else (None, reason)
    for pattern, replacement in _RULES:
        problem = pattern.sub(replacement, problem)
    problem = _QUOTED.sub("…", problem)
    problem = _TRAILING_VALUE.sub(": …", problem)
    if field_name is None:
        return problem
    if field_name.startswith("attributes."):  # attribute keys are the sender's data: one group for all
        field_name = "attributes.*"
    return f"field '{field_name}': {problem}"


@dataclass
class Group:
    reason: str
    count: int = 0
    source_topics: Counter = field(default_factory=Counter)
    samples: list[DeadLetter] = field(default_factory=list)


def group_by_reason(letters: Iterable[DeadLetter], samples: int = 1) -> list[Group]:
    """Groups, largest first; each keeps its first `samples` dead letters."""
    groups: dict[str, Group] = {}
    for d in letters:
        key = reason_group(d.reason)
        g = groups.get(key) or groups.setdefault(key, Group(key))
        g.count += 1
        g.source_topics[d.source_topic or "(unknown)"] += 1
        if len(g.samples) < samples:
            g.samples.append(d)
    return sorted(groups.values(), key=lambda g: (-g.count, g.reason))


# --- showing bytes safely -------------------------------------------------------------------

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\\":
        return "\\\\"
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if unicodedata.category(ch) in _UNSAFE_CATEGORIES:
        # \xNN only below 0x80, so that \xNN at or above it always means a byte that is not UTF-8
        return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
    return ch


def terminal_safe(text: str, limit: int | None = None) -> str:
    """Escape backslashes, control, format (bidi overrides, zero-width) and unassigned characters,
    so text taken from a message can never move the cursor, recolour or reorder a terminal;
    clipped to `limit` characters plus '…', never inside an escape."""
    return _escaped(text, limit)[0]


def _escaped(text: str, limit: int | None) -> tuple[str, bool]:
    out, length = [], 0
    for ch in text:
        piece = _escape(ch)
        if limit is not None and length + len(piece) > limit:
            return "".join(out) + "…", True
        out.append(piece)
        length += len(piece)
    return "".join(out), False


def show_bytes(raw: bytes | None, limit: int = 120) -> str:
    """Raw message bytes as one safe line: UTF-8 where valid, \\xNN where not, clipped to `limit`."""
    if raw is None:
        return "(none)"
    text, clipped = _escaped(raw[: limit * 4].decode("utf-8", "surrogateescape"), limit)
    if clipped or len(raw) > limit * 4:
        text = text.removesuffix("…") + f"… ({len(raw)} bytes)"
    return text


# --- reading the topic ----------------------------------------------------------------------

def read_dead_letters(settings: Settings, progress: bool = True, idle_timeout: float = 30.0) -> list[DeadLetter]:
    """Every record on the DLQ topic, from the beginning to the end offsets at the time of the call.
    Group-less: nothing is committed, nothing changes on the broker."""
    from kafka import KafkaConsumer, TopicPartition

    topic = Topics(settings.topic_prefix).dlq
    consumer = KafkaConsumer(bootstrap_servers=bootstrap(settings), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", allow_auto_create_topics=False,
                             client_id="touchpulse-dlq", **client_config(settings))
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise UserError(f"topic {topic} does not exist: run `touchpulse up` first")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        starts, ends = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        total = sum(ends[tp] - starts[tp] for tp in tps)
        consumer.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > starts[tp]}
        letters: list[DeadLetter] = []
        from tqdm import tqdm
        bar = tqdm(total=total, unit="msg", desc=f"reading {topic}", file=sys.stderr, leave=False,
                   disable=not progress or total < PROGRESS_FROM or None)
        with bar:
            last = time.monotonic()
            while pending:
                batch = consumer.poll(timeout_ms=500, max_records=5000)
                for tp, records in batch.items():
                    for r in records:
                        if r.offset < ends[tp]:
                            letters.append(from_record(r.topic, r.partition, r.offset, r.key, r.value, r.headers))
                    bar.update(len(records))
                if batch:
                    last = time.monotonic()
                pending = {tp for tp in pending if consumer.position(tp) < ends[tp]}
                if pending and time.monotonic() - last > idle_timeout:
                    raise UserError(f"reading {topic} stalled: no records for {idle_timeout:.0f} s with "
                                    f"{sum(ends[tp] - consumer.position(tp) for tp in pending)} still to read")
        letters.sort(key=lambda d: d.dlq_position)
        return letters
    finally:
        consumer.close()


@dataclass
class Inventory:
    topic: str
    records: int  # on the topic, copies included
    letters: list[DeadLetter]  # de-duplicated by source position
    copies: int


def inventory(settings: Settings, progress: bool = True) -> Inventory:
    records = read_dead_letters(settings, progress=progress)
    letters, copies = deduplicate(records)
    return Inventory(Topics(settings.topic_prefix).dlq, len(records), letters, copies)


# --- replay ---------------------------------------------------------------------------------

@dataclass
class ReplayReport:
    considered: int = 0  # de-duplicated dead letters matching the filter
    filtered_out: int = 0
    replayed: list[DeadLetter] = field(default_factory=list)
    still_invalid: list[tuple[DeadLetter, str]] = field(default_factory=list)  # with today's reason
    dry_run: bool = False


def revalidate(letter: DeadLetter, topic_types: dict[str, str]) -> str | None:
    """None if the current rules accept the dead letter on its source topic, else today's reason."""
    expected = topic_types.get(letter.source_topic)
    if expected is None:
        return f"source topic {letter.source_topic or '(unknown)'!r} is not an event topic of this installation"
    try:
        parse_event(letter.value, expected)
    except Rejected as exc:
        return exc.reason
    except Exception as exc:  # the worker dead-letters these too; never stop a replay on one message
        return f"unexpected validation error: {exc!r}"
    return None


def matches(letter: DeadLetter, text: str | None) -> bool:
    """--reason: a case-insensitive substring of the recorded reason or of its group."""
    if not text:
        return True
    needle = text.casefold()
    return needle in letter.reason.casefold() or needle in reason_group(letter.reason).casefold()


def plan_replay(letters: Iterable[DeadLetter], topic_types: dict[str, str], reason: str | None = None,
                dry_run: bool = False) -> ReplayReport:
    report = ReplayReport(dry_run=dry_run)
    for d in letters:
        if not matches(d, reason):
            report.filtered_out += 1
            continue
        report.considered += 1
        problem = revalidate(d, topic_types)
        if problem is None:
            report.replayed.append(d)
        else:
            report.still_invalid.append((d, problem))
    return report


def replay_headers(letter: DeadLetter) -> list[tuple[str, bytes]]:
    return [(H_REPLAYED_FROM, letter.source.encode())]


def replay(settings: Settings, reason: str | None = None, dry_run: bool = False,
           progress: bool = True) -> ReplayReport:
    """Re-validate every dead letter (matching `reason`) and re-publish the valid ones to their source
    topic with their original key; waits for every ack before returning."""
    inv = inventory(settings, progress=progress)
    report = plan_replay(inv.letters, Topics(settings.topic_prefix).events, reason, dry_run)
    if dry_run or not report.replayed:
        return report
    from kafka import KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap(settings), acks="all", linger_ms=20,
                             max_request_size=2 * 1024 * 1024, client_id="touchpulse-dlq-replay",
                             **client_config(settings))
    try:
        futures = [producer.send(d.source_topic, value=d.value, key=d.key, headers=replay_headers(d))
                   for d in report.replayed]
        producer.flush()
        for f in futures:
            f.get(timeout=60)  # raises if the broker refused one
    finally:
        producer.close()
    log.info("re-published %d dead letters to their source topics", len(report.replayed))
    return report
