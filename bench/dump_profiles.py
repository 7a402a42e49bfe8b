"""
dump_data_to_clickhouse --object user_profile over 100,000 profiles, into the embedded
ClickHouse, in a child process: rows/s and peak memory (heap sampled apart from chdb's
mapped library), then a second run that must write nothing.

    .venv/bin/python -m bench.dump_profiles --profiles 100000
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench.measure import run_measured, standalone_project

ROOT = Path(__file__).resolve().parent.parent


def seed_profiles(count: int) -> None:
    from django.contrib.auth import get_user_model

    from backfill_app.standalone.models import UserProfile

    User = get_user_model()
    if UserProfile.objects.count() >= count:
        return
    for start in range(1, count + 1, 10_000):
        ids = range(start, min(start + 10_000, count + 1))
        User.objects.bulk_create(
            [User(id=i, username=f"learner{i}", email=f"learner{i}@example.com") for i in ids], ignore_conflicts=True
        )
        UserProfile.objects.bulk_create(
            [UserProfile(user_id=i, name=f"Learner {i}", country="FR", year_of_birth=1980 + i % 30) for i in ids],
            ignore_conflicts=True,
        )


def measured_run(env: dict, output: Path) -> tuple[float, float, str]:
    args = [
        sys.executable,
        str(ROOT / "manage.py"),
        "dump_data_to_clickhouse",
        "--object=user_profile",
        "--sleep_time=0",
    ]
    measured = run_measured(args, env, output)
    return measured.seconds, measured.peak_heap_mb, measured.output


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "dump"))
    args = parser.parse_args()
    work = Path(args.work).resolve()
    shutil.rmtree(work / "var", ignore_errors=True)  # a database left by an earlier run measured slower
    env = standalone_project(work)
    seed_profiles(args.profiles)
    shutil.rmtree(work / "var" / "clickhouse", ignore_errors=True)
    for label in ("first run", "second run"):
        elapsed, heap, output = measured_run(env, work / f"{label.replace(' ', '-')}.txt")
        rows = next((line for line in output.splitlines() if line.startswith("Rows written")), output[-500:])
        print(f"{label}: {elapsed:.1f} s; {rows}; peak heap {heap:.0f} MB")
        print("\n".join(line for line in output.splitlines() if line.startswith(("Objects", "Elapsed"))))


if __name__ == "__main__":
    main()
