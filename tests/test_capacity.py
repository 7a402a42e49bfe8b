"""The default --workers fits the container: its CPUs, its cgroup's CPU quota and memory limit."""

from __future__ import annotations

from pathlib import Path

from backfill_app.tracking.run.capacity import CgroupLimits, read_cgroup_limits, worker_budget

GIB = 1 << 30


def cgroup_v2(root: Path, own_path: str, files: dict[str, str]) -> tuple[Path, Path]:
    """A cgroup v2 tree (``/sys/fs/cgroup``) and a ``/proc/self/cgroup`` naming ``own_path``."""
    (root / "cgroup.controllers").parent.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    proc = root.parent / "proc-self-cgroup"
    proc.write_text(f"0::{own_path}\n")
    return root, proc


def test_a_2_cpu_1_gb_pod_on_a_64_core_node_gets_at_most_2_workers(tmp_path):
    root, proc = cgroup_v2(tmp_path / "cgroup", "/", {"cpu.max": "200000 100000", "memory.max": str(GIB)})
    limits = read_cgroup_limits(root, proc)
    assert limits == CgroupLimits(cpus=2.0, memory_bytes=GIB)

    # A small process (the standalone project): the CPU quota decides.
    standalone = worker_budget(limits, host_cpus=64, usable_cpus=64, own_mb=90)
    assert standalone.workers == 2 and "CPU quota of 2 cores (the host has 64)" in standalone.reason
    # A whole LMS process per worker: fewer fit in 1 GB beside the command's own.
    lms = worker_budget(limits, host_cpus=64, usable_cpus=64, own_mb=420)
    assert lms.workers == 1 and "1.0 GB, which leaves no room for a worker of about 484 MB" in lms.reason


def test_limits_of_a_parent_cgroup_apply_and_the_tightest_wins(tmp_path):
    root, proc = cgroup_v2(
        tmp_path / "cgroup",
        "/kubepods/pod7/container3",
        {
            "kubepods/pod7/cpu.max": "300000 100000",
            "kubepods/pod7/memory.max": str(8 * GIB),
            "kubepods/pod7/container3/cpu.max": "max 100000",
            "kubepods/pod7/container3/memory.max": str(2 * GIB),
        },
    )
    assert read_cgroup_limits(root, proc) == CgroupLimits(cpus=3.0, memory_bytes=2 * GIB)


def test_cgroup_v1_quota_and_an_unlimited_memory(tmp_path):
    root = tmp_path / "cgroup"
    for name, text in {
        "cpu/cpu.cfs_quota_us": "150000",
        "cpu/cpu.cfs_period_us": "100000",
        "memory/memory.limit_in_bytes": "9223372036854771712",  # v1's "no limit"
    }.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    proc = tmp_path / "proc-self-cgroup"
    # Inside a container the host's path is named, but the container's own cgroup is mounted as the root.
    proc.write_text("5:memory:/docker/4f2a\n4:cpu,cpuacct:/docker/4f2a\n0::/\n")
    limits = read_cgroup_limits(root, proc)
    assert limits == CgroupLimits(cpus=1.5, memory_bytes=None)
    budget = worker_budget(limits, host_cpus=64, usable_cpus=64, own_mb=90)
    assert budget.workers == 1 and "CPU quota of 1.5 cores" in budget.reason


def test_without_cgroup_limits_the_cpus_this_process_may_use_decide(tmp_path):
    assert read_cgroup_limits(tmp_path / "no-cgroup", tmp_path / "no-proc") == CgroupLimits()
    pinned = worker_budget(CgroupLimits(), host_cpus=64, usable_cpus=3, own_mb=90)
    assert pinned.workers == 3 and pinned.reason == "3 CPUs this process may use of the host's 64"
