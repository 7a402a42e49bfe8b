"""
Speed, side by side on one production-shaped corpus (rotated .gz and plain files, 1,000
users; deleted users and courses, anonymous visitors, events outside the allow-list, lines cut
short), each run in its own process:

  ERB command   ERB's own transform_tracking_logs to an LRS with no route: its reading,
                parsing and transformer, no network (an LRS that is itself slow measures the LRS)
  ceiling       ERB's transformer alone, events pre-parsed, every lookup answered from memory
                (as shipped, and accelerated as our ERB path runs it: transform/accelerations.py),
                and our transformer alone (the fast path of transform/direct, ERB for the rest)
  ours          our transform_tracking_logs into the embedded ClickHouse, 1 then 2 workers, and
                1 worker with --verify_sample 1 (every event of the fast path also through ERB)

Reported: seconds, events/s, the ratio to ERB's command, the share of events each path took
(the fast path of transform/direct, or ERB's transformer), each process's peak anonymous
memory (RssAnon) and the largest one's file-backed pages, and whether each run's statements
equal the ones ERB's transformer makes (a digest of every id and statement).

    .venv/bin/python -m bench.speed --events 100000
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
DAYS = 4


def measured(args: list[str], env: dict, log: Path) -> dict:
    result = run_measured(args, env, log, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.output[-3000:]}")
    reported = next((json.loads(line[7:]) for line in result.output.splitlines() if line.startswith("RESULT ")), {})
    return {
        "wall": result.seconds,
        "anon_mb": result.peak_heap_mb,
        "file_mb": result.peak_file_mb,
        "process_peaks_mb": [peak for peak in result.process_peaks_mb if peak >= 5],  # not the resource tracker
        "cpu": result.cpu_seconds,
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


def build(work: Path, lines: int, users: int) -> Path:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from backfill_app.transform.lookups import bulk_anonymous_user_ids
    from demo.corpus import ProductionShape, production_lines, write_rotated_logs
    from demo.seed import seed_courses, seed_users

    call_command("migrate", verbosity=0)
    people = seed_users(users)
    seed_courses()
    bulk_anonymous_user_ids([user_id for user_id, _ in people], "XAPI")  # every run finds them made
    logs = work / f"logs-{lines}-lines-{users}-users-production"
    if not logs.exists():
        by_day: dict[int, list[str]] = {day: [] for day in range(DAYS)}
        start = datetime(2026, 6, 1, tzinfo=UTC)
        for day, line in production_lines(people, start, DAYS, lines // DAYS, ProductionShape()):
            by_day[day].append(line)
        write_rotated_logs(by_day.items(), logs, DAYS)
    return logs


def summary_number(output: str, label: str) -> int:
    for line in output.splitlines():
        if line.startswith(f"{label}:"):
            return int(line.split(": ")[1].split()[0])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000, help="lines of the corpus")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "speed"))
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, BACKFILL_VAR_DIR=str(work / "var"), DJANGO_SETTINGS_MODULE="bench.settings")
    os.environ.update(env)
    logs = build(work, args.events, args.users)

    python, manage = sys.executable, str(ROOT / "manage.py")
    ours = [python, manage, "transform_tracking_logs", "--source_provider=LOCAL", "--transformer_type=xapi",
            f"--source_config={json.dumps({'key': str(logs.parent), 'container': logs.name, 'prefix': ''})}",
            "--sleep_between_batches_secs=0", "--restart", "--destination_provider=CLICKHOUSE"]  # fmt: skip
    child = [python, "-m", "bench.child"]
    results = {
        "ERB's command, LRS with no route": measured(
            [*child, "erb_command", str(plain_copy(logs))], env, work / "erb-command.txt"
        ),
        "ERB's transformer alone": measured([*child, "ceiling", str(logs)], env, work / "ceiling.txt"),
        "ERB's transformer, accelerated (our ERB path)": measured(
            [*child, "ceiling", str(logs), "accelerated"], env, work / "ceiling-accelerated.txt"
        ),
        "our transformer alone (fast path + ERB path)": measured(
            [*child, "ceiling", str(logs), "direct"], env, work / "ceiling-direct.txt"
        ),
    }
    runs = {
        "ours -> embedded ClickHouse, 1 worker": ["--workers=1"],
        "ours -> embedded ClickHouse, 2 workers": ["--workers=2"],
        "ours, 1 worker, --verify_sample 1": ["--workers=1", "--verify_sample=1"],
    }
    for name, extra in runs.items():
        chdb = work / "var" / "clickhouse"
        shutil.rmtree(chdb, ignore_errors=True)
        results[name] = measured([*ours, *extra], env, work / f"ours-{len(results)}.txt")
        table = measured([*child, "table_digest", f"chdb://{chdb}"], env, work / "digest.txt")
        results[name].update(statements=table["statements"], digest=table["digest"])

    reference = results["ERB's transformer alone"]
    events = reference["events"]
    erb_rate = events / results["ERB's command, LRS with no route"]["wall"]
    first_ours = results["ours -> embedded ClickHouse, 1 worker"]
    print(
        f"corpus: {summary_number(first_ours['output'], 'Lines')} lines, {events} supported events, "
        f"{reference['statements']} statements, {args.users} users, {DAYS} rotated files "
        "(ours reads the .gz files; ERB's command, which cannot, reads them decompressed)"
    )
    print(
        f"{'run':<44}{'seconds':>9}{'CPU s':>7}{'events/s':>10}{'x ERB':>8}{'fast path':>11}"
        f"{'anon peak per process':>26}"
        f"{'file pages':>12}{'statements':>12}{'= ERB':>7}"
    )
    for name, result in results.items():
        seconds = result["seconds"] if "seconds" in result and "transformer" in name else result["wall"]
        rate = events / seconds
        statements = result.get("statements", "")
        same = "" if "digest" not in result else ("yes" if result["digest"] == reference["digest"] else "NO")
        peaks = " / ".join(f"{peak:.0f}" for peak in result["process_peaks_mb"]) + " MB"
        print(
            f"{name:<44}{seconds:>9.1f}{cpu_text(result, name):>7}{rate:>10.0f}{rate / erb_rate:>8.2f}"
            f"{fast_path_share(result['output']):>11}"
            f"{peaks:>26}{result['file_mb']:>11.0f}M{statements!s:>12}{same:>7}"
        )
    two, one = results["ours -> embedded ClickHouse, 2 workers"], first_ours
    verified = results["ours, 1 worker, --verify_sample 1"]["output"]
    print(
        f"2 workers / 1 worker: {one['wall'] / two['wall']:.2f}x on {os.cpu_count()} cores; CPU seconds "
        f"{one['cpu']:.1f} (1 worker: {one['cpu'] / one['wall']:.2f} cores busy) and {two['cpu']:.1f} (2 workers), "
        f"so 2 workers cannot beat {one['wall'] / (two['cpu'] / (os.cpu_count() or 1)):.2f}x here"
    )
    print(f"--verify_sample 1: {summary_paths(verified)}")
    print(
        "CPU s: user + system seconds of the run's processes. x ERB: events/s over ERB's command's. "
        "The transformer rows time the transformation only (no reading, "
        "no writing). fast path: share of the transformed events whose statements the fast path wrote (the rest, "
        "ERB's transformer). anon peak per process: RssAnon, the command's process first (the writer), then its "
        "workers; file pages: the largest one's RssFile (chdb's library mapped from disk). = ERB: the run's "
        "statements (ids and JSON) equal those of ERB's transformer."
    )


def cpu_text(result: dict, name: str) -> str:
    # The transformer rows time a part of their process; its CPU time would not compare.
    return "" if "transformer" in name else f"{result['cpu']:.1f}"


def summary_paths(output: str) -> str:
    return next((line.strip() for line in output.splitlines() if line.strip().startswith("by the fast path")), "")


def fast_path_share(output: str) -> str:
    """From the summary's "by the fast path: N, by ERB's transformer: M" line."""
    line = summary_paths(output)
    if not line:
        return ""
    direct = int(line.split(": ")[1].split(",")[0])
    by_erb = int(line.split(": ")[2].split()[0].rstrip(";"))
    return f"{direct / max(direct + by_erb, 1):.1%}"


if __name__ == "__main__":
    main()
