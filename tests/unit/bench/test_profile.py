"""The py-spy summary: collapsed stacks become shares by part of the pipeline, thread and function."""

from __future__ import annotations

from touchpulse.bench.profile import WAITING, category, format_summary, function, parse, summarise

RAW = """\
process 7:"python -m touchpulse.cli worker --drain";thread (7): MainThread;run (streams/app.py:90);parse_event (touchpulse/core/events.py:70);parse_timestamp (touchpulse/core/timestamps.py:12) 30
process 7:"python -m touchpulse.cli worker --drain";thread (7);_run_once (asyncio/base_events.py:1884);EpollSelector.select (selectors.py:468) 50
thread (9): clickhouse_0;_worker (concurrent/futures/thread.py:83);write (touchpulse/clickhouse/writer.py:40);insert (clickhouse_connect/driver/client.py:700) 15
thread (7): MainThread;_find_and_load (<frozen importlib._bootstrap>:1176);<module> (faust/__init__.py:1) 5
not a stack line
"""


def stacks():
    return parse(RAW.splitlines())


def test_parse_drops_the_process_frame_and_bad_lines():
    s = stacks()
    assert [count for _, count in s] == [30, 50, 15, 5]
    assert s[0][0][0] == "thread (7): MainThread"
    assert s[1][0][0] == "thread (7)"


def test_function_merges_lines_of_one_function():
    assert function("parse_event (touchpulse/core/events.py:70)") == "parse_event (touchpulse/core/events.py)"
    assert function("odd frame") == "odd frame"


def test_category_is_the_innermost_known_part():
    s = stacks()
    assert category(s[0][0][1:]) == "validation (touchpulse.core)"  # not the streams glue around it
    assert category(s[1][0][1:]) == WAITING
    assert category(s[2][0][1:]) == "ClickHouse client + chDB (insert, query)"
    assert category(s[3][0][1:]) == "imports (process start)"  # even though the frame is in faust


def test_summary_shares():
    summary = summarise(stacks())
    assert summary["samples"] == 100
    cats = dict(summary["categories"])
    assert cats == {WAITING: 50.0, "validation (touchpulse.core)": 30.0,
                    "ClickHouse client + chDB (insert, query)": 15.0, "imports (process start)": 5.0}
    # an unnamed stack of thread 7 is counted under the name py-spy gave it elsewhere
    assert dict(summary["threads"]) == {"MainThread": 85.0, "clickhouse_0": 15.0}
    assert summary["self"][0] == ("EpollSelector.select (selectors.py)", 50.0)
    assert ("run (streams/app.py)", 30.0) in summary["inclusive"]
    text = format_summary(summary)
    assert "50.0 %  " + WAITING in text and "Thread MainThread" in text
