"""Run a command in a child process and measure it: wall time, peak heap, peak RSS."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def _status_mb(pid: int, field: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    if f"{field}:" not in status:  # the process has exited and not been reaped yet
        return 0.0
    return int(status.split(f"{field}:")[1].split()[0]) / 1024


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


@dataclass
class Measured:
    seconds: float
    peak_heap_mb: float  # anonymous memory: what a process allocated (the largest of the tree)
    peak_rss_mb: float  # with file pages mapped from disk (chdb's 555 MB library); largest process
    output: str
    returncode: int


def run_measured(args: list[str], env: dict, output_path: Path, cwd: Path | None = None) -> Measured:
    started = time.monotonic()
    with open(output_path, "w") as output:
        child = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=cwd)
        heap = rss = 0.0
        while child.poll() is None:
            for pid in _process_tree(child.pid):
                heap = max(heap, _status_mb(pid, "RssAnon"))
                rss = max(rss, _status_mb(pid, "VmHWM"))
            time.sleep(0.2)
    return Measured(time.monotonic() - started, heap, rss, output_path.read_text(), child.returncode)


def standalone_project(work: Path, settings_module: str = "backfill_project.settings") -> dict:
    """Set this process up as the standalone project with its files under ``work``, migrated; its env."""
    import os

    env = dict(os.environ, BACKFILL_VAR_DIR=str(work / "var"), DJANGO_SETTINGS_MODULE=settings_module)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env
