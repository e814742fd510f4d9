"""Where the worker's time goes: run it under py-spy (sampling, outside the process, so the
code runs unmodified) and summarise the collapsed stacks into shares of CPU samples by
function (self and inclusive), by thread, and by the part of the pipeline they belong to."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# A sample belongs to the innermost frame that falls in one of these, checked in this order.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ClickHouse client + chDB (insert, query)", ("clickhouse_connect/", "chdb/")),
    ("validation (touchpulse.core)", ("touchpulse/core/", "core/events.py", "core/timestamps.py",
                                      "core/followups.py")),
    ("fact columns (touchpulse.clickhouse.writer)", ("clickhouse/writer.py",)),
    ("batch glue (touchpulse.streams)", ("streams/",)),
    ("aiokafka (fetch, record decoding)", ("aiokafka/",)),
    ("kafka-python (drain offsets)", ("kafka/",)),
    ("Faust (streams, events, acks)", ("faust/",)),
    ("mode (Faust's service framework)", ("mode/",)),
    ("logging", ("logging/",)),
)
# Frames where the event loop dispatches callbacks: asyncio code below one of them (create_task,
# socket writes...) is charged to the library that called it, not to "asyncio".
_DISPATCH = ("Handle._run (asyncio/events.py", "BaseEventLoop._run_once (asyncio/base_events.py")
_THREAD = re.compile(r"^thread \((\w+)\)(?:: (.*))?$")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy next to this interpreter (the venv), else on PATH."""
    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def record(cmd: list[str], env: dict[str, str], cwd: Path, raw_out: Path, rate: int = 100,
           timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run `cmd` under `py-spy record` and write collapsed stacks (one per line, root first) to raw_out."""
    spy = py_spy()
    if spy is None:
        raise RuntimeError("py-spy is not installed: pip install py-spy")
    return subprocess.run([spy, "record", "--format", "raw", "--threads", "--subprocesses", "--rate", str(rate),
                           "--output", str(raw_out), "--", *cmd], env=env, cwd=cwd, capture_output=True,
                          timeout=timeout)


def parse(lines) -> list[tuple[list[str], int]]:
    """Collapsed stacks: 'frame;frame;... count', the first frame naming the thread."""
    out = []
    for line in lines:
        line = line.rstrip("\n")
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frames = stack.split(";")
            if frames[0].startswith("process ") and len(frames) > 1:  # --subprocesses adds the process
                frames = frames[1:]
            out.append((frames, int(count)))
    return out


def function(frame: str) -> str:
    """'func (file:line)' -> 'func (file)', so all lines of a function add up."""
    m = _FRAME.match(frame)
    return f"{m.group('func')} ({m.group('file')})" if m else frame


WAITING = "waiting in select() (I/O, or a CPU on a busy machine)"


def category(frames: list[str]) -> str:
    return classify(frames)[0]


def classify(frames: list[str]) -> tuple[str, str]:
    """(part of the pipeline, the frame that decided it)."""
    if any(f.startswith("_find_and_load ") for f in frames):
        return "imports (process start)", ""
    if frames and re.match(r"\w*Selector\.select ", frames[-1]):
        return WAITING, frames[-1]
    for frame in reversed(frames):
        if frame.startswith(_DISPATCH):  # asyncio's own work, not done on behalf of a caller below it
            return "asyncio event loop (scheduling, callbacks)", frames[-1]
        for label, needles in CATEGORIES:
            if any(n in frame for n in needles):
                return label, frame
    return "other (stdlib, interpreter)", frames[-1] if frames else ""


def summarise(stacks: list[tuple[list[str], int]], top: int = 25) -> dict:
    total = sum(c for _, c in stacks) or 1
    threads, selfs, inclusive, categories = Counter(), Counter(), Counter(), Counter()
    per_thread: dict[str, Counter] = {}
    entry: dict[str, Counter] = {}  # category -> the functions through which samples entered it
    names = {}  # py-spy names a thread on some stacks only
    for frames, _ in stacks:
        m = _THREAD.match(frames[0])
        if m and m.group(2):
            names[m.group(1)] = m.group(2)
    for frames, count in stacks:
        thread, frames = frames[0], frames[1:]
        m = _THREAD.match(thread)
        name = (m.group(2) or names.get(m.group(1)) or f"thread {m.group(1)}") if m else thread
        threads[name] += count
        cat, frame = classify(frames)
        categories[cat] += count
        entry.setdefault(cat, Counter())[function(frame)] += count
        per_thread.setdefault(name, Counter())[cat] += count
        if frames:
            selfs[function(frames[-1])] += count
        for f in {function(f) for f in frames}:
            inclusive[f] += count

    def pct(counter: Counter, n: int | None = None) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)]

    entries = {cat: pct(entry[cat], 4) for cat, _ in categories.most_common()}
    by_thread = {name: pct(per_thread[name]) for name, n in threads.most_common() if n / total >= 0.03}
    return {"samples": total, "threads": pct(threads), "categories": pct(categories), "by_thread": by_thread,
            "entries": entries,
            "self": pct(selfs, top), "inclusive": pct(inclusive, top)}


def format_summary(s: dict) -> str:
    lines = [f"{s['samples']} samples (CPU only; idle time not sampled)", "",
             "By part of the pipeline (the innermost frame in a known package; asyncio work charged to its "
             "caller), with the functions that account for most of each part:"]
    for k, p in s["categories"]:
        lines.append(f"  {p:5.1f} %  {k}")
        lines += [f"             {q:5.1f} %  {f}" for f, q in s.get("entries", {}).get(k, []) if f and q >= 0.3]
    lines += ["", "By thread:"] + [f"  {p:5.1f} %  {k}" for k, p in s["threads"]]
    for name, cats in s.get("by_thread", {}).items():
        lines += ["", f"Thread {name}, by part (% of all samples):"] + [f"  {p:5.1f} %  {k}" for k, p in cats]
    lines += ["", "Top functions, self time:"] + [f"  {p:5.1f} %  {k}" for k, p in s["self"]]
    lines += ["", "Top functions, inclusive time:"] + [f"  {p:5.1f} %  {k}" for k, p in s["inclusive"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m touchpulse.bench.profile RAW [TOP]`: print the summary of a py-spy raw file."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m touchpulse.bench.profile PROFILE.raw [TOP]", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        summary = summarise(parse(f), int(args[1]) if len(args) > 1 else 25)
    sys.stdout.write(format_summary(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
