"""Dead-letter grouping, de-duplication, terminal-safe display and replay planning (no broker)."""

from __future__ import annotations

import json
import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from touchpulse.core.events import Rejected, parse_event
from touchpulse.kafka.dead_letters import (DeadLetter, deduplicate, from_record, group_by_reason, matches,
                                           plan_replay, reason_group, replay_headers, show_bytes,
                                           terminal_safe)

TOPICS = {"p.surveys": "survey", "p.calls": "call", "p.reviews": "review", "p.purchases": "purchase"}


def survey(**extra) -> bytes:
    doc = {"event_id": "e1", "type": "survey", "version": 1, "occurred_at": "2026-03-10T10:00:00Z",
           "touchpoint": "call_centre", "response_id": "r1", "score": 7, **extra}
    return json.dumps(doc).encode()


def letter(value: bytes, reason: str = "r", topic: str = "p.surveys", partition: int = 0, offset: int = 0,
           dlq_offset: int = 0, key: bytes | None = None) -> DeadLetter:
    headers = [("touchpulse.reason", reason.encode()), ("touchpulse.field", b""),
               ("touchpulse.source_topic", topic.encode()), ("touchpulse.source_partition", str(partition).encode()),
               ("touchpulse.source_offset", str(offset).encode()),
               ("touchpulse.source_timestamp", b"2026-03-10T10:00:00+00:00")]
    return from_record("p.dlq", 0, dlq_offset, key, value, headers)


def reason_of(raw: bytes, expected: str | None = None) -> str:
    with pytest.raises(Rejected) as info:
        parse_event(raw, expected)
    return info.value.reason


@pytest.mark.parametrize("a, b, group", [
    (survey(score=11), survey(score=12), "field 'score': must be 0..10, got …"),
    (survey(score="x"), survey(score=1.5), "field 'score': must be an integer, got …"),
    (b'{"a": 1, not json', b'{"bb": 22, "ccc": 3, not json', None),
    (survey(occurred_at="2026-03-10T10:00:00"), survey(occurred_at="2027-01-01T00:00:00"),
     "field 'occurred_at': timestamp … has no UTC offset"),
    (survey(touchpoint="x' OR 1=1 --"), survey(touchpoint="Robert'); DROP TABLE surveys;--"),
     "field 'touchpoint': must be a slug matching ^[a-z][a-z0-9_]{0,63}$, got …"),
    (survey(attributes={"a": 1}), survey(attributes={"b'\x1b": True}), "field 'attributes.*': must be a string, got …"),
    (survey(comment="x" * 70_000), survey(comment="y" * 80_000), "message is N bytes, over the 65536-byte limit"),
    (survey(attributes={str(i): "v" for i in range(40)}), survey(attributes={str(i): "v" for i in range(33)}),
     "field 'attributes': has N keys, at most 32 allowed"),
])
def test_reasons_that_differ_only_in_the_offending_value_fall_in_one_group(a, b, group):
    ra, rb = reason_of(a), reason_of(b)
    assert ra != rb
    assert reason_group(ra) == reason_group(rb)
    if group is not None:
        assert reason_group(ra) == group


def test_different_problems_stay_in_different_groups():
    reasons = [reason_of(survey(score=11)), reason_of(survey(comment=5)), reason_of(survey(version=2)),
               reason_of(survey(), "call"), reason_of(b"[1]"), reason_of(b"{")]
    assert len({reason_group(r) for r in reasons}) == len(reasons)


def test_from_record_reads_provenance_and_copies_of_one_source_position_count_once():
    a = letter(b"x", offset=5, dlq_offset=0, key=b"k")
    copy = letter(b"x", offset=5, dlq_offset=9, key=b"k")
    other = letter(b"x", offset=6, dlq_offset=1)
    assert (a.source_topic, a.source_partition, a.source_offset, a.key) == ("p.surveys", 0, 5, b"k")
    assert a.identity == ("p.surveys", 0, 5) and a.source == "p.surveys/0/5"
    kept, copies = deduplicate([a, other, copy])
    assert kept == [a, other] and copies == 1


def test_a_record_without_headers_is_kept_and_known_by_its_dlq_position():
    bare = from_record("p.dlq", 3, 41, None, None, None)
    assert bare.value == b"" and bare.reason == "(no reason header)" and bare.identity == ("p.dlq", 3, 41)
    broken = from_record("p.dlq", 0, 7, None, b"v", [("touchpulse.source_topic", b"p.calls"),
                                                      ("touchpulse.source_offset", b"not a number")])
    assert broken.identity == ("p.dlq", 0, 7)
    assert deduplicate([bare, broken, from_record("p.dlq", 0, 8, None, b"v", [])])[1] == 0


def test_groups_are_largest_first_with_counts_topics_and_samples():
    letters = [letter(survey(score=s), reason_of(survey(score=s)), offset=i) for i, s in enumerate((11, 12, 13))]
    letters.append(letter(b"{", reason_of(b"{"), topic="p.calls", offset=50))
    groups = group_by_reason(letters, samples=2)
    assert [(g.count, dict(g.source_topics)) for g in groups] == [(3, {"p.surveys": 3}), (1, {"p.calls": 1})]
    assert groups[0].samples == letters[:2]
    assert group_by_reason(letters, samples=0)[0].samples == []


UNSAFE = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def unescape(text: str) -> bytes:
    """Inverse of show_bytes for an unclipped line: \\xNN at or above 0x80 is a raw byte."""
    out = bytearray()
    for m in re.finditer(r"\\\\|\\x([0-9a-f]{2})|\\u([0-9a-f]{4})|\\U([0-9a-f]{8})|(.)", text, re.S):
        if m[0] == "\\\\":
            out += b"\\"
        elif m[1]:
            out.append(int(m[1], 16))
        else:
            out += chr(int(m[2] or m[3], 16) if (m[2] or m[3]) else ord(m[4])).encode()
    return bytes(out)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))))
def test_show_bytes_is_terminal_safe_and_loses_nothing_it_shows(raw):
    shown = show_bytes(raw, limit=10_000)
    assert not any(unicodedata.category(ch) in UNSAFE for ch in shown)
    assert unescape(shown) == raw


@given(st.binary(min_size=0, max_size=2000), st.integers(5, 200))
def test_show_bytes_clips_long_messages_and_says_how_long_they_were(raw, limit):
    shown = show_bytes(raw, limit)
    if len(shown) > limit:
        assert shown.endswith(f"… ({len(raw)} bytes)")
        assert len(shown) <= limit + len(f"… ({len(raw)} bytes)")
    else:
        assert unescape(shown) == raw


def test_terminal_safe_escapes_escape_sequences_bidi_and_line_breaks():
    text = "a\x1b[2Jb\u202ec\u200bd\ne\u2028f\x9bg"
    assert terminal_safe(text) == "a\\x1b[2Jb\\u202ec\\u200bd\\x0ae\\u2028f\\u009bg"
    assert terminal_safe("plain ünïcødé ✓") == "plain ünïcødé ✓"
    assert terminal_safe("\x1b" * 10, limit=9) == "\\x1b\\x1b…"


def test_replay_plan_revalidates_on_the_source_topic_type():
    valid = letter(survey(), "field 'comment': too long (old rule)", offset=1)
    wrong_topic = letter(survey(), "anything", topic="p.calls", offset=2)
    still_bad = letter(survey(score=11), reason_of(survey(score=11)), offset=3)
    stranger = letter(survey(), "x", topic="elsewhere", offset=4)
    report = plan_replay([valid, wrong_topic, still_bad, stranger], TOPICS)
    assert report.replayed == [valid] and report.considered == 4 and report.filtered_out == 0
    why = dict((d.source_topic + str(d.source_offset), r) for d, r in report.still_invalid)
    assert why["p.calls2"] == "field 'type': 'survey' event arrived on the call topic"
    assert why["p.surveys3"] == "field 'score': must be 0..10, got 11"
    assert "not an event topic" in why["elsewhere4"]


def test_replay_reason_filter_matches_recorded_reason_or_group_case_insensitively():
    a = letter(survey(), "field 'comment': must be 0..500 characters, got 800", offset=1)
    b = letter(survey(), "field 'agent_id': is required", offset=2)
    assert matches(a, "COMMENT") and not matches(b, "comment") and matches(b, None)
    assert matches(a, "got …") and matches(a, "got 800") and not matches(a, "got 801")
    report = plan_replay([a, b], TOPICS, reason="comment", dry_run=True)
    assert report.replayed == [a] and report.filtered_out == 1 and report.dry_run


def test_replayed_messages_name_their_dead_letter():
    d = letter(survey(), offset=77, partition=2)
    assert replay_headers(d) == [("touchpulse.replayed_from", b"p.surveys/2/77")]


def test_the_table_says_when_there_is_nothing_and_escapes_everything_it_prints():
    from collections import Counter

    from touchpulse.commands.dlq import render_replay, render_show
    from touchpulse.kafka.dead_letters import Inventory
    assert render_show(Inventory("p.dlq", 0, [], 0), []) == "p.dlq: no dead letters\n"
    hostile = letter(b'{"a": "\x1b[2J"}', "field 'attributes.\x1b[31m': must be a string, got number",
                     topic="p.surveys", key=b"\x9b\xe2\x80\xae")
    text = render_show(Inventory("p.dlq", 2, [hostile], 1), group_by_reason([hostile], samples=1))
    assert not any(unicodedata.category(ch) in UNSAFE for ch in text.replace("\n", ""))
    assert "1 dead letters in 1 groups (1 re-published copies" in text and "key=\\x9b\\u202e" in text
    report = plan_replay([hostile, letter(survey(), "old rule", offset=9)], TOPICS, dry_run=True)
    text = render_replay(report, Counter(d.source_topic for d in report.replayed),
                         group_by_reason([d for d, _ in report.still_invalid]), None)
    assert text.startswith("dry run: would re-publish 1 of 2 dead letters to their source topics: p.surveys (1)\n")
    assert "still invalid: 1" in text
