"""
Speed, side by side on one corpus (rotated .gz files, 1,000 users), each in its own process:

  ceiling       ERB's transformer alone, every lookup answered from memory (as shipped, and with
                the filter classes reused as our pipeline runs it)
  ERB command   ERB's own transform_tracking_logs to a Ralph LRS (Celery tasks run eagerly)
  ours -> LRS   our transform_tracking_logs to a Ralph LRS, same batch size, one process
  ours -> CH    our transform_tracking_logs into the embedded ClickHouse, 1 then 2 workers

    .venv/bin/python -m bench.speed --events 50000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import run_measured

ROOT = Path(__file__).resolve().parent.parent


def measured(args: list[str], env: dict, log: Path) -> dict:
    result = run_measured(args, env, log, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.output[-3000:]}")
    reported = next((json.loads(line[7:]) for line in result.output.splitlines() if line.startswith("RESULT ")), {})
    return {
        "wall": result.seconds,
        "peak_mb": result.peak_rss_mb,
        "heap_mb": result.peak_heap_mb,
        **reported,
        "output": result.output,
    }


def plain_copy(logs: Path) -> Path:
    """ERB's command cannot read .gz (it crashes): it gets the same lines decompressed."""
    plain = logs.parent / f"{logs.name}-plain"
    if not plain.exists():
        plain.mkdir()
        for path in logs.iterdir():
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            (plain / path.name.removesuffix(".gz")).write_bytes(data)
    return plain


def build(work: Path, events: int, users: int) -> Path:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from backfill_app.transform.lookups import bulk_anonymous_user_ids
    from demo.corpus import sample_records, tutor_line, write_rotated_logs
    from demo.seed import seed_courses, seed_users

    call_command("migrate", verbosity=0)
    people = seed_users(users)
    seed_courses()
    bulk_anonymous_user_ids([user_id for user_id, _ in people], "XAPI")  # every run finds them made
    logs = work / f"logs-{events}-events-{users}-users"
    if not logs.exists():
        days = 4
        by_day: dict[int, list[str]] = {day: [] for day in range(days)}
        for index, record in enumerate(sample_records(people, datetime(2026, 6, 1, tzinfo=UTC), days, events // days)):
            by_day[index * days // events].append(tutor_line(record))
        write_rotated_logs(by_day.items(), logs, days)
    return logs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "speed"))
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BACKFILL_VAR_DIR=str(work / "var"), DJANGO_SETTINGS_MODULE="bench.settings")
    os.environ.update(env)
    logs = build(work, args.events, args.users)
    sys.path.insert(0, str(ROOT))
    from tests.services import RALPH_PASSWORD, RALPH_USER, ralph_lrs

    python, manage = sys.executable, str(ROOT / "manage.py")
    ours = [python, manage, "transform_tracking_logs", "--source_provider=LOCAL", "--transformer_type=xapi",
            f"--source_config={json.dumps({'key': str(logs.parent), 'container': logs.name, 'prefix': ''})}",
            "--sleep_between_batches_secs=0", "--restart"]  # fmt: skip
    results = {}
    results["ceiling"] = measured([python, "-m", "bench.child", "ceiling", str(logs)], env, work / "ceiling.txt")
    results["ceiling, filter classes reused"] = measured(
        [python, "-m", "bench.child", "ceiling", str(logs), "reused"], env, work / "ceiling-reused.txt"
    )
    for name in ("ERB command -> LRS", "ours -> LRS, 1 worker"):
        lrs_dir = work / name.split()[0].lower()
        shutil.rmtree(lrs_dir, ignore_errors=True)
        lrs_dir.mkdir()
        with ralph_lrs(lrs_dir) as lrs:
            if name.startswith("ERB"):
                args_ = [
                    python,
                    "-m",
                    "bench.child",
                    "erb_command",
                    str(plain_copy(logs)),
                    f"{lrs.url}/xAPI/",
                    RALPH_USER,
                    RALPH_PASSWORD,
                ]
            else:
                config = {"url": f"{lrs.url}/xAPI/", "username": RALPH_USER, "password": RALPH_PASSWORD}
                args_ = [
                    *ours,
                    "--destination_provider=LRS",
                    f"--destination_config={json.dumps(config)}",
                    "--batch_size=1000",
                    "--workers=1",
                ]
            results[name] = measured(args_, env, work / f"{lrs_dir.name}.txt")
            results[name]["stored"] = sum(1 for _ in open(lrs.statements_file)) if lrs.statements_file.exists() else 0
    for workers in (1, 2):
        shutil.rmtree(work / "var" / "clickhouse", ignore_errors=True)
        results[f"ours -> CH, {workers} worker{'s' if workers > 1 else ''}"] = measured(
            [*ours, "--destination_provider=CLICKHOUSE", f"--workers={workers}"], env, work / f"ours-ch-{workers}.txt"
        )

    events = results["ceiling"]["events"]
    ceiling_rate = events / results["ceiling"]["seconds"]
    reused_rate = events / results["ceiling, filter classes reused"]["seconds"]
    erb_rate = events / results["ERB command -> LRS"]["wall"]
    print(
        f"corpus: {events} supported events ({args.events} lines) over {args.users} users, 4 rotated files "
        "(ours reads the .gz files; ERB's command, which cannot, reads them decompressed)"
    )
    print(
        f"{'run':<32}{'seconds':>9}{'events/s':>10}{'statements':>12}{'peak RSS':>10}{'peak heap':>10}{'x ERB':>8}"
        f"{'of ceiling':>12}{'of ceiling w/ reuse':>21}"
    )
    for name, result in results.items():
        seconds = result["seconds"] if name.startswith("ceiling") else result["wall"]
        rate = events / seconds
        statements = result.get("statements") or result.get("stored") or _written(result["output"])
        print(
            f"{name:<32}{seconds:>9.1f}{rate:>10.0f}{statements:>12}{result['peak_mb']:>9.0f}M{result['heap_mb']:>9.0f}M"
            f"{rate / erb_rate:>8.2f}{100 * rate / ceiling_rate:>11.0f}%{100 * rate / reused_rate:>20.0f}%"
        )


def _written(output: str) -> int:
    for line in output.splitlines():
        if line.startswith("Statements written:"):
            return int(line.split(": ")[1])
    return 0


if __name__ == "__main__":
    main()
