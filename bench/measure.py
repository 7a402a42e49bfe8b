"""
Run a command in a child process and measure it: wall time, and the memory of every process
of its tree over time. Anonymous memory (``RssAnon``: what the processes allocated) is kept
apart from file-backed pages (``RssFile``: chdb's 555 MB engine library mapped from disk,
shared and reclaimable), so that a library's size is never read as a leak.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from backfill_app.reporting.cpu import cpu_seconds_of

SAMPLE_EVERY_SECS = 0.2


def _status_mb(status: str, field_name: str) -> float:
    if f"{field_name}:" not in status:  # the process has exited and not been reaped yet
        return 0.0
    return int(status.split(f"{field_name}:")[1].split()[0]) / 1024


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _process_tree(pid: int) -> list[int]:
    """The process and its descendants (--workers spawns processes)."""
    tree, index = [pid], 0
    while index < len(tree):
        try:
            children = Path(f"/proc/{tree[index]}/task/{tree[index]}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            children = []
        tree.extend(int(child) for child in children)
        index += 1
    return tree


@dataclass(frozen=True)
class Sample:
    seconds: float
    largest_anon_mb: float  # the process of the tree with the most anonymous memory
    largest_file_mb: float  # file-backed pages of that same process


@dataclass
class Measured:
    seconds: float
    output: str
    returncode: int
    samples: list[Sample] = field(default_factory=list)
    peak_rss_mb: float = 0.0  # VmHWM of the largest process: anonymous + file pages
    # Each process's own peak anonymous memory, the command's process first, then its children.
    process_peaks_mb: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0  # user + system time of the whole tree (workers are reaped by the command)
    # Each process's CPU seconds as last sampled (up to SAMPLE_EVERY_SECS short), in process_peaks_mb's order.
    process_cpu: list[float] = field(default_factory=list)

    @property
    def peak_heap_mb(self) -> float:
        """The largest process's anonymous memory at its peak (RssAnon)."""
        return max((sample.largest_anon_mb for sample in self.samples), default=0.0)

    @property
    def peak_file_mb(self) -> float:
        return max((sample.largest_file_mb for sample in self.samples), default=0.0)

    def anon_level(self, start: float, end: float) -> float:
        """
        The typical (median) anonymous memory of the largest process between two shares of the
        run (0.1, 0.2: its second tenth): a level, which a few seconds' peak does not move. A
        run whose memory follows its input has a last tenth well above its first.
        """
        levels = sorted(
            sample.largest_anon_mb
            for sample in self.samples
            if start * self.seconds <= sample.seconds <= end * self.seconds and sample.largest_anon_mb
        )
        return levels[len(levels) // 2] if levels else 0.0


def run_measured(args: list[str], env: dict, output_path: Path, cwd: Path | None = None) -> Measured:
    started = time.monotonic()
    samples: list[Sample] = []
    peak_rss = 0.0
    peaks: dict[int, float] = {}
    cpu_seen: dict[int, float] = {}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(output_path, "w") as output:
        child = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=cwd)
        # The exit is timed by a thread waiting for it, not noticed at the next sample (up to
        # SAMPLE_EVERY_SECS late: a tenth of a second on average, 2 % of a 5-second run).
        ended: list[float] = []
        exited = threading.Event()

        def wait_for_exit() -> None:
            child.wait()
            ended.append(time.monotonic())
            exited.set()

        threading.Thread(target=wait_for_exit, daemon=True).start()
        while not exited.is_set():
            largest = (0.0, 0.0)
            for pid in _process_tree(child.pid):
                status = _status(pid)
                anon = _status_mb(status, "RssAnon")
                peaks[pid] = max(peaks.get(pid, 0.0), anon)
                if (seconds_used := cpu_seconds_of(pid)) is not None:
                    cpu_seen[pid] = seconds_used
                if anon > largest[0]:
                    largest = (anon, _status_mb(status, "RssFile"))
                peak_rss = max(peak_rss, _status_mb(status, "VmHWM"))
            samples.append(Sample(time.monotonic() - started, *largest))
            exited.wait(SAMPLE_EVERY_SECS)
    # Children in the order they started (pids grow); the command's process first.
    order = [child.pid, *sorted(pid for pid in peaks if pid != child.pid)]
    by_process = [peaks.get(pid, 0.0) for pid in order]
    seconds = ended[0] - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    measured = Measured(seconds, output_path.read_text(), child.returncode, samples, peak_rss, by_process, cpu)
    measured.process_cpu = [cpu_seen.get(pid, 0.0) for pid in order]
    return measured


def standalone_project(work: Path, settings_module: str = "backfill_project.settings") -> dict:
    """Set this process up as the standalone project with its files under ``work``, migrated; its env."""

    # Made-up learners and the corpora's root URL: personal data on, root URL set (both have no default).
    env = dict(
        os.environ,
        BACKFILL_VAR_DIR=str(work / "var"),
        DJANGO_SETTINGS_MODULE=settings_module,
        BACKFILL_ENABLE_PII="true",
        BACKFILL_LMS_ROOT_URL="http://localhost:18000",
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env
