"""
Memory of transform_tracking_logs on a large plain log shaped like production's (default
1 GB: deleted users and courses, anonymous visitors, events outside the allow-list, lines cut
short), default workers, in a child process: the largest process's anonymous memory at its
peak, apart from the file pages of chdb's mapped library, and whether it grows after the
first 10 % of the run. Two runs: into the embedded ClickHouse, and --dry_run (no engine).

    .venv/bin/python -m bench.memory --gigabytes 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import run_measured, standalone_project

ROOT = Path(__file__).resolve().parent.parent
EVENTS_PER_DAY = 5000
START = datetime(2026, 6, 1, tzinfo=UTC)  # within Aspects' TTL of a year, for a while


def build_large_log(path: Path, target_bytes: int, users: list[tuple[int, str]]) -> int:
    from demo.corpus import production_lines

    sample = [line for _, line in production_lines(users, START, 1, 2000)]
    bytes_per_day = EVENTS_PER_DAY * sum(len(line) + 1 for line in sample) / len(sample)
    days = max(1, round(target_bytes / bytes_per_day))
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    with open(path, "w", encoding="utf-8") as log:
        for _, line in production_lines(users, START, days, EVENTS_PER_DAY):
            log.write(line + "\n")
            lines += 1
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "memory"))
    args = parser.parse_args()
    work = Path(args.work).resolve()
    env = standalone_project(work)
    from demo.corpus import ProductionShape
    from demo.seed import seed_courses, seed_users

    users = seed_users(1000)
    seed_courses()
    log = work / "logs" / "tracking.log"
    marker = work / "logs.shape"  # beside the logs folder: a file in it would be read as a log
    shape = ProductionShape().describe()
    # A log of another size or shape is built again (a 10 GB log must not stand in for 1 GB).
    wrong_size = not log.exists() or abs(log.stat().st_size - args.gigabytes * 1e9) > 0.05 * args.gigabytes * 1e9
    if wrong_size or not marker.exists() or marker.read_text() != shape:
        lines = build_large_log(log, int(args.gigabytes * 1e9), users)
        marker.write_text(shape)
        print(f"built {log}: {log.stat().st_size / 1e9:.2f} GB, {lines} lines")
    print(f"log: {log.stat().st_size / 1e9:.2f} GB, production-shaped: {shape}")
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "transform_tracking_logs",
        "--source_provider=LOCAL",
        f"--source_config={json.dumps({'key': str(work), 'container': 'logs', 'prefix': ''})}",
        "--transformer_type=xapi",
        "--sleep_between_batches_secs=0",
        "--destination_provider=CLICKHOUSE",
        "--restart",  # a backfill that reads and inserts everything, whatever ran before
    ]
    print(
        f"{'run':<30}{'seconds':>8}{'events/s':>10}{'anon peak':>11}{'2nd tenth':>11}{'last tenth':>12}"
        f"{'file pages':>12}{'bad lines':>11}"
    )
    for name, extra in (("into embedded ClickHouse", []), ("--dry_run (no engine)", ["--dry_run"])):
        # A fresh table each time: the run measured is a backfill that inserts everything.
        shutil.rmtree(work / "var" / "clickhouse", ignore_errors=True)
        shutil.rmtree(work / "var" / "dead-letter", ignore_errors=True)
        label = "dry" if extra else "ch"
        measured = run_measured([*command, *extra], env, work / f"output-{label}.txt")
        (work / f"memory-{label}.csv").write_text(
            "seconds,anon_mb,file_mb\n"
            + "".join(f"{s.seconds:.1f},{s.largest_anon_mb:.0f},{s.largest_file_mb:.0f}\n" for s in measured.samples)
        )
        if measured.returncode:
            raise SystemExit(f"{name} failed:\n{measured.output[-3000:]}")
        summary = dict(
            line.split(": ", 1) for line in measured.output.splitlines() if ": " in line and not line.startswith(" ")
        )
        early, late = measured.anon_level(0.1, 0.2), measured.anon_level(0.9, 1.0)
        events = int(summary.get("Events transformed", "0"))
        print(
            f"{name:<30}{measured.seconds:>8.0f}{events / measured.seconds:>10.0f}{measured.peak_heap_mb:>10.0f}M"
            f"{early:>10.0f}M{late:>11.0f}M{measured.peak_file_mb:>11.0f}M{summary.get('Bad lines', '?'):>11}"
        )
    print(
        "anon: RssAnon of the process of the run that has the most (the writer, or a worker), at its peak, and its "
        "median over the second and the last tenth of the run (start-up excluded): equal when memory does not "
        "follow the log. File pages: RssFile of that process (chdb's library mapped from disk, shared, not "
        "allocated). Samples every 0.2 s in memory-*.csv."
    )
    print(measured.output[-1500:])


if __name__ == "__main__":
    main()
