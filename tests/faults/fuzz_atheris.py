"""Coverage-guided fuzzing of the validation path with atheris (libFuzzer for Python).

    .venv/bin/python tests/faults/fuzz_atheris.py [-runs=N] [other libFuzzer flags] [corpus_dir]

Without -runs it stops after 100,000 inputs. An empty or missing corpus gets one valid event of
each type as seeds, and a dictionary of the contract's field names and values is supplied, so
libFuzzer mutates real events instead of guessing JSON from nothing. A crash (any exception
besides `Rejected`, or a broken invariant, such as `parse_event` (its compiled path) disagreeing
with the reference validator `parse_event_detailed`) stops the run with a non-zero exit and the
input saved.
Not collected by pytest (no test_ prefix); tests/faults/test_fuzz_validation.py runs it briefly.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from touchpulse.core.events import Event, Rejected, parse_event, parse_event_detailed
    from touchpulse.core.touchpoints import load_registry
    from touchpulse.streams.batch import Message, process_batch

TYPES = ("call", "purchase", "review", "survey", "followup_update")
TOPICS = {f"touchpulse.{t}s": t for t in TYPES}
REGISTRY = load_registry()
NOW = datetime(2024, 5, 1, tzinfo=timezone.utc)
ENVELOPE = b'"event_id":"e1","version":1,"occurred_at":"2024-05-01T10:00:00+03:00","touchpoint":"call_centre"'
SEEDS = [
    b'{"type":"call",' + ENVELOPE + b',"call_id":"c1","queued_at":"2024-05-01T06:58:00Z",'
    b'"answered_at":"2024-05-01T06:58:15.5Z","ended_at":"2024-05-01T07:00:00Z","hold_seconds":3.5,'
    b'"direction":"outbound","attributes":{"region":"north"},"customer_id":"u1","source":"cdr"}',
    b'{"type":"purchase",' + ENVELOPE + b',"order_id":"o1","amount":"19.99","currency":"EUR","item_count":2,'
    b'"status":"refunded"}',
    b'{"type":"review",' + ENVELOPE + b',"review_id":"r1","platform":"google_maps","rating":4,'
    b'"posted_at":"2024-05-01T06:00:00Z","replied_at":"2024-05-01T08:00:00-01:00","text":"ok"}',
    b'{"type":"survey",' + ENVELOPE + b',"response_id":"s1","score":3,"kind":"relationship","brand":"rival",'
    b'"interaction_id":"c1","comment":"slow"}',
    b'{"type":"followup_update",' + ENVELOPE + b',"followup_id":"f1","status":"closed","resolution":"unreachable",'
    b'"owner":"anna","note":"no answer"}',
    # Edges of the timestamp range, for the mutator to push over.
    b'{"type":"survey","event_id":"e2","version":1,"occurred_at":"2299-12-31T23:59:59.999999-00:00",'
    b'"touchpoint":"web","response_id":"s2","score":0}',
    b'{"type":"survey","event_id":"e3","version":1,"occurred_at":"0001-01-01T00:00:00-00:01",'
    b'"touchpoint":"web","response_id":"s3","score":0}',
]
TOKENS = [
    *TYPES, "event_id", "type", "version", "occurred_at", "touchpoint", "customer_id", "attributes", "source",
    "call_id", "direction", "inbound", "outbound", "queued_at", "answered_at", "ended_at", "hold_seconds",
    "wrap_seconds", "agent_id", "order_id", "amount", "currency", "item_count", "status", "completed", "refunded",
    "review_id", "platform", "rating", "posted_at", "replied_at", "text", "response_id", "score", "kind",
    "transactional", "relationship", "brand", "interaction_id", "comment", "null", "true", "false",
    "followup_id", "assigned", "contacted", "closed", "resolution", "resolved", "unreachable", "owner", "note",
    "Z", "+14:00", "-23:59", "0001-01-01T00:00:00", "9999-12-31T23:59:59", ".123456789", "1e999", "\\u0000",
]


def test_one_input(data: bytes) -> None:
    try:
        event = parse_event(data)
    except Rejected as exc:
        assert exc.reason.strip(), "empty reason"
        exc.reason.encode("utf-8")
        assert exc.field is None or exc.reason.startswith(f"field '{exc.field}': "), exc.reason
        event, reason = None, exc.reason
    assert event is None or isinstance(event, Event)
    try:
        reference = parse_event_detailed(data)
    except Rejected as exc:
        assert event is None and exc.reason == reason, (event, exc.reason)
    else:
        assert event is not None and event.type == reference.type, (reason, reference)
        for name, value in reference.values.items():
            got = event.values[name]
            assert type(got) is type(value) and got == value and str(got) == str(value), (name, got, value)
    # The same bytes on every event topic and on a topic of no fixed type.
    msgs = [Message(topic, 0, i, None, data, NOW) for i, topic in enumerate([*TOPICS, "elsewhere"])]
    out = process_batch(msgs, TOPICS, REGISTRY, 11, NOW)
    assert out.accepted_count + len(out.dead_letters) == len(msgs)
    assert out.accepted_count == (0 if event is None else 2), (event, out.dead_letters)
    assert not any(d.reason.startswith("unexpected") for d in out.dead_letters), out.dead_letters


def main(argv: list[str]) -> None:
    args = list(argv)
    work = Path(tempfile.gettempdir()) / "touchpulse-fuzz"  # libFuzzer exits without cleanup: reuse one place
    work.mkdir(exist_ok=True)
    if not any(a.startswith("-runs=") for a in args[1:]):
        args.append("-runs=100000")
    if not any(a.startswith("-dict=") for a in args[1:]):
        quoted = (t.replace("\\", "\\\\").replace('"', '\\"') for t in TOKENS + ['"', "{", "}", "[", "]", ":", ","])
        lines = [f'"{t}"' for t in quoted]  # libFuzzer dictionary syntax: only \\ \" \xAB escapes
        (work / "json.dict").write_text("\n".join(lines) + "\n")
        args.append(f"-dict={work / 'json.dict'}")
    corpora = [a for a in args[1:] if not a.startswith("-")]
    if not corpora:
        corpora = [str(work / "corpus")]
        args.append(corpora[0])
    seeds = Path(corpora[0])
    seeds.mkdir(parents=True, exist_ok=True)
    if not any(seeds.iterdir()):
        for i, seed in enumerate(SEEDS):
            (seeds / f"seed-{i}.json").write_bytes(seed)
    atheris.Setup(args, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
