"""A `touchpulse worker` subprocess, watched from outside: every line it logs is time-stamped
on arrival (the worker's own log has 1 s resolution), its "batch of N ... in X ms" lines at
DEBUG give the processing window, its peak RSS is polled from /proc (VmHWM), its CPU time
comes from wait4."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BATCH = re.compile(rb"batch of (\d+): .*?(?:customer notices in (\d+) messages )?in (\d+) ms")


@dataclass
class Batch:
    logged: float  # time.monotonic() when the line arrived
    size: int
    ms: float

    @property
    def started(self) -> float:
        return self.logged - self.ms / 1000


@dataclass
class WorkerRun:
    returncode: int | None
    spawned: float
    exited: float
    batches: list[Batch] = field(default_factory=list)
    peak_rss_kb: int = 0
    log: Path | None = None
    cpu_seconds: float = 0.0  # user + system, from wait4
    # The largest RssFile seen: pages mapped from files, nearly all of them chDB's 550 MB library
    # (its code, clean and reclaimable), counted in the RSS beside the process's own memory.
    peak_file_kb: int = 0

    @property
    def peak_rss_mb(self) -> float:
        return round(self.peak_rss_kb / 1024, 1)

    @property
    def peak_file_mb(self) -> float:
        return round(self.peak_file_kb / 1024, 1)

    @property
    def events(self) -> int:
        return sum(b.size for b in self.batches)

    @property
    def window(self) -> float:
        """Seconds from the start of the first batch to the end of the last."""
        if not self.batches:
            return 0.0
        return self.batches[-1].logged - self.batches[0].started

    @property
    def wall(self) -> float:
        return self.exited - self.spawned


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, e.g. the broker's."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Worker:
    def __init__(self, cmd: list[str], env: dict[str, str], cwd: Path, log: Path):
        self.log = log
        self._logf = open(log, "wb")
        self.batches: list[Batch] = []
        self.peak_rss_kb = 0
        self.peak_file_kb = 0
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._poller = threading.Thread(target=self._poll_rss, daemon=True)
        self._reader.start()
        self._poller.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            now = time.monotonic()
            self._logf.write(f"{now:.3f} ".encode() + line)
            m = BATCH.search(line)
            if m:
                # Events only: customer notices are the worker's own messages to itself.
                self.batches.append(Batch(now, int(m.group(1)) - int(m.group(2) or 0), float(m.group(3))))
        self._logf.close()

    def _poll_rss(self) -> None:
        status = Path(f"/proc/{self.proc.pid}/status")
        while not self._done.is_set() and status.exists():
            self.sample_rss()
            self._done.wait(0.2)

    def sample_rss(self) -> None:
        """Read VmHWM now (the poller's last read can be up to 0.2 s old)."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
                elif line.startswith("RssFile:"):
                    self.peak_file_kb = max(self.peak_file_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass

    @property
    def processed(self) -> int:
        return sum(b.size for b in self.batches)

    def wait_processed(self, count: int, timeout: float) -> bool:
        """Wait until the worker has logged batches totalling `count` events (or it exits)."""
        deadline = time.monotonic() + timeout
        while self.processed < count:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self, timeout: float = 60) -> WorkerRun:
        """SIGTERM (Faust's graceful stop: commit and close), then wait."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def wait(self, timeout: float) -> WorkerRun:
        deadline = time.monotonic() + timeout
        cpu = 0.0
        while self.proc.returncode is None:
            self.sample_rss()
            try:
                pid, status, usage = os.wait4(self.proc.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere
                self.proc.poll()
                break
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                # Not usage.ru_maxrss: Linux carries the forking parent's peak over the exec.
                cpu = usage.ru_utime + usage.ru_stime
                break
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                break
            time.sleep(0.05)
        exited = time.monotonic()
        self._done.set()
        self._reader.join(10)
        return WorkerRun(self.proc.returncode, self.spawned, exited, list(self.batches), self.peak_rss_kb,
                         self.log, cpu, self.peak_file_kb)
