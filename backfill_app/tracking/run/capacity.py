"""
How many --workers this process may really run, when the operator does not say.

``os.cpu_count()`` is the host's count: in a Kubernetes pod or a Docker container limited to 2
CPUs on a 64-core node it says 64, and 64 workers, each a whole LMS process, get the pod
killed for memory. So the default is the smallest of: the CPUs this process may run on
(its affinity), the CPU quota of its cgroup (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), and how
many workers of the measured size fit in its cgroup's memory limit (v2 ``memory.max``, v1
``memory.limit_in_bytes``) beside this process.

Reads only files; nothing here needs Django.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

# What one worker adds beyond the interpreter and settings it shares with this process:
# the transformation's working set (bench.memory: a worker peaks about 40 MB above its start).
WORKER_WORKING_SET_MB = 64
# Kept free in a memory-limited cgroup for this process's own growth (the writer, the engine).
PARENT_HEADROOM_SHARE = 0.25
UNLIMITED_BYTES = 1 << 60  # cgroup v1 says "no limit" with a number near 2**63


@dataclass(frozen=True)
class WorkerBudget:
    workers: int
    reason: str


@dataclass(frozen=True)
class CgroupLimits:
    cpus: float | None = None  # CPU quota in cores
    memory_bytes: int | None = None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _own_cgroups(proc_cgroup: Path) -> dict[str, str]:
    """Controller (``""`` for cgroup v2) -> this process's cgroup path."""
    found = {}
    for line in (_read(proc_cgroup) or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for controller in parts[1].split(",") or [""]:
                found[controller] = parts[2]
    return found


def _candidate_folders(mount: Path, cgroup_path: str) -> list[Path]:
    """The cgroup's folder and its parents (limits nest); a container sees its own cgroup as the root."""
    folders = []
    relative = Path(cgroup_path.lstrip("/")) if cgroup_path else Path()
    while True:
        folders.append(mount / relative)
        if relative == relative.parent:
            break
        relative = relative.parent
    return folders


def read_cgroup_limits(
    root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
) -> CgroupLimits:
    """The tightest CPU quota and memory limit over this process's cgroup and its parents (v2 or v1)."""
    cgroups = _own_cgroups(proc_cgroup)
    cpus: list[float] = []
    memory: list[int] = []
    if "" in cgroups and (root / "cgroup.controllers").exists():  # v2: one unified tree
        for folder in _candidate_folders(root, cgroups[""]):
            quota = (_read(folder / "cpu.max") or "max").split()
            if quota[0] != "max" and len(quota) == 2 and int(quota[1]) > 0:
                cpus.append(int(quota[0]) / int(quota[1]))
            limit = _read(folder / "memory.max")
            if limit and limit != "max":
                memory.append(int(limit))
    else:  # v1: a tree per controller, mounted at <root>/cpu and <root>/memory
        for folder in _candidate_folders(root / "cpu", cgroups.get("cpu", "")):
            if (cores := _v1_cpus(folder)) is not None:
                cpus.append(cores)
        for folder in _candidate_folders(root / "memory", cgroups.get("memory", "")):
            if (limit_bytes := _v1_memory(folder)) is not None:
                memory.append(limit_bytes)
    return CgroupLimits(min(cpus) if cpus else None, min(memory) if memory else None)


def _v1_cpus(folder: Path) -> float | None:
    quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
    if not quota or not period or int(quota) <= 0 or int(period) <= 0:
        return None
    return int(quota) / int(period)


def _v1_memory(folder: Path) -> int | None:
    limit = _read(folder / "memory.limit_in_bytes")
    return int(limit) if limit and int(limit) < UNLIMITED_BYTES else None


def own_memory_mb() -> float:
    """This process's resident memory: a spawned worker starts as big (the same interpreter and settings)."""
    status = _read(Path("/proc/self/status")) or ""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 256.0


def affinity_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worker_budget(limits: CgroupLimits, host_cpus: int, usable_cpus: int, own_mb: float) -> WorkerBudget:
    """The default number of workers and, for the operator, why."""
    candidates = [
        (
            usable_cpus,
            f"{usable_cpus} CPUs this process may use"
            + (f" of the host's {host_cpus}" if usable_cpus != host_cpus else ""),
        )
    ]
    if limits.cpus is not None:
        quota = max(1, math.floor(limits.cpus))
        candidates.append((quota, f"the cgroup CPU quota of {limits.cpus:g} cores (the host has {host_cpus})"))
    if limits.memory_bytes is not None:
        worker_mb = own_mb + WORKER_WORKING_SET_MB
        spare_mb = limits.memory_bytes / 2**20 * (1 - PARENT_HEADROOM_SHARE) - own_mb
        fitting = int(spare_mb // worker_mb)
        room = f"fits {fitting} worker{'s' if fitting > 1 else ''}" if fitting else "leaves no room for a worker"
        candidates.append(
            (
                max(1, fitting),
                f"the cgroup memory limit of {limits.memory_bytes / 2**30:.1f} GB, which {room} "
                f"of about {worker_mb:.0f} MB beside this process",
            )
        )
    workers, reason = min(candidates, key=lambda candidate: candidate[0])
    return WorkerBudget(workers, reason)


def default_worker_budget() -> WorkerBudget:
    return worker_budget(read_cgroup_limits(), os.cpu_count() or 1, affinity_cpus(), own_memory_mb())
