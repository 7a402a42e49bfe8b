"""
Where a run's CPU goes, by process and role: what tells whether more workers would help
(their work grows with them) or not (one process, the writer or the coordinator, is the
limit). Measured with each thread's own CPU clock around blocks of lines and batches, never
per line, so that it costs nothing a run would notice.

Roles:
  start-up             the interpreter, Django and ERB before the first line (per process)
  reading and parsing  storage, gzip, lines -> events, and the pipeline's own bookkeeping
  transforming         events -> statements (fast path or ERB), the users' look-ups
  handing off          statements or positions through the queue between processes (both ends)
  writing              a sink's Python work (a thread of its own when it is threaded)
  coordinating         the command's process with workers: handing out work, committing positions
  other threads        threads the roles above do not run in: the embedded ClickHouse's own, and
                       in a worker the queue's feeder thread, which pickles what is handed off
"""

from __future__ import annotations

import os
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROLES = (
    "start-up",
    "reading and parsing",
    "transforming",
    "handing off",
    "writing",
    "coordinating",
    "other threads",
)
COMMAND, WORKERS = "command", "workers"


class CpuAccount:
    """CPU seconds of one process, by role. Roles of one thread nest: the inner one is charged."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._open: list[list] = []  # [role, since] of the main thread's open roles, innermost last
        self._owner = threading.get_ident()
        self._process_start: float | None = None
        self._threads_counted = 0.0

    @contextmanager
    def role(self, name: str):
        if threading.get_ident() != self._owner:  # another thread: its own clock, no nesting
            started = time.thread_time()
            try:
                yield
            finally:
                self.add(name, time.thread_time() - started)
            return
        now = time.thread_time()
        if self._open:
            outer = self._open[-1]
            self.add(outer[0], now - outer[1])
        self._open.append([name, now])
        try:
            yield
        finally:
            now = time.thread_time()
            inner_name, since = self._open.pop()
            self.add(inner_name, now - since)
            if self._open:
                self._open[-1][1] = now

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] += seconds
        self._threads_counted += seconds

    def start(self, startup_secs: float | None = None) -> None:
        """The run begins; ``startup_secs``: this process's CPU until now, when start-up is this run's."""
        self._process_start = time.process_time()
        self._threads_counted = 0.0
        if startup_secs is not None:
            self.seconds["start-up"] += startup_secs

    def finish(self) -> None:
        """What the process spent beyond what its threads were charged: threads we did not start."""
        if self._process_start is None:
            return
        unaccounted = time.process_time() - self._process_start - self._threads_counted
        if unaccounted > 0.005:
            self.seconds["other threads"] += unaccounted
        self._process_start = None


def cpu_seconds_of(pid: int) -> float | None:
    """Another process's own CPU seconds (utime + stime of /proc/PID/stat), or None: gone, or not Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14 and 15 of proc(5)


def add_seconds(into: dict[str, float], seconds: dict[str, float]) -> None:
    for role, spent in seconds.items():
        into[role] = into.get(role, 0.0) + spent


def cpu_sentence(by_process: dict[str, dict[str, float]]) -> str:
    """One line: the total, then each kind of process by role (largest roles first)."""
    parts = []
    for kind in (COMMAND, WORKERS):
        roles = by_process.get(kind)
        if not roles or sum(roles.values()) < 0.005:
            continue
        largest_first = sorted(roles.items(), key=lambda item: -item[1])
        listed = ", ".join(f"{name} {seconds:.2f}" for name, seconds in largest_first if seconds >= 0.005)
        label = "this process" if kind == COMMAND else "workers"
        parts.append(f"{label} {sum(roles.values()):.2f} ({listed})")
    total = sum(sum(roles.values()) for roles in by_process.values())
    return f"CPU seconds: {total:.2f}; " + "; ".join(parts)
