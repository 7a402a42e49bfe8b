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
                1 worker with --verify_sample 1 (every event of the fast path also through ERB);
                into statement files (a local folder), 1 then 2 workers

Reported: seconds, events/s, the ratio to ERB's command, the share of events each path took
(the fast path of transform/direct, or ERB's transformer), each process's peak anonymous
memory (RssAnon) and the largest one's file-backed pages, and whether each run's statements
equal the ones ERB's transformer makes (a digest of every id and statement). Then the CPU
seconds of each of our runs by process and role (the summary's "CPU seconds" line), the
criteria of issue #22, and a model of the speed-up on 4, 8 and 16 cores from those costs,
checked against the runs made here.

    .venv/bin/python -m bench.speed --events 100000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.measure import run_measured

ROOT = Path(__file__).resolve().parent.parent
DAYS = 4
WORKER_MB = 20  # smaller processes are multiprocessing's resource tracker, not a worker
ONE_CLICKHOUSE = "ours -> embedded ClickHouse, 1 worker"
TWO_CLICKHOUSE = "ours -> embedded ClickHouse, 2 workers"
# The same run again into the table the first filled: every batch compared with what it holds (#32).
HOLDING_CLICKHOUSE = "ours -> ClickHouse holding them, 1 worker"
# Into that table once a share of it was made as an older ERB made it: --replace_drifted (#32).
REPLACING_CLICKHOUSE = "ours --replace_drifted -> ClickHouse holding 2% an older ERB's, 1 worker"
AGED_EVERY = 50  # one statement in this many made an older ERB's
ONE_FILES = "ours -> statement files, 1 worker"
TWO_FILES = "ours -> statement files, 2 workers"


def measured(args: list[str], env: dict, log: Path) -> dict:
    result = run_measured(args, env, log, cwd=ROOT)
    if result.returncode:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.output[-3000:]}")
    reported = next((json.loads(line[7:]) for line in result.output.splitlines() if line.startswith("RESULT ")), {})
    return {
        "wall": result.seconds,
        "anon_mb": result.peak_heap_mb,
        "file_mb": result.peak_file_mb,
        "process_peaks_mb": [peak for peak in result.process_peaks_mb if peak >= WORKER_MB],
        "process_cpu": [
            cpu for cpu, peak in zip(result.process_cpu, result.process_peaks_mb, strict=True) if peak >= WORKER_MB
        ],
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


def replaced_count(output: str) -> int:
    found = re.search(r"(\d+) replaced by today's", output)
    return int(found.group(1)) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000, help="lines of the corpus")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work" / "speed"))
    parser.add_argument("--report_only", action="store_true", help="print the last run's results (results.json) again")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    saved = work / "results.json"
    if not args.report_only:
        saved.write_text(json.dumps(measure_all(work, args.events, args.users)))
    report(json.loads(saved.read_text()), args.users)


def measure_all(work: Path, lines: int, users: int) -> dict[str, dict]:
    env = dict(os.environ, BACKFILL_VAR_DIR=str(work / "var"), DJANGO_SETTINGS_MODULE="bench.settings")
    os.environ.update(env)
    logs = build(work, lines, users)

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
        ONE_CLICKHOUSE: ["--workers=1"],
        HOLDING_CLICKHOUSE: ["--workers=1"],
        REPLACING_CLICKHOUSE: ["--workers=1", "--replace_drifted"],
        TWO_CLICKHOUSE: ["--workers=2"],
        "ours, 1 worker, --verify_sample 1": ["--workers=1", "--verify_sample=1"],
    }
    for name, extra in runs.items():
        chdb = work / "var" / "clickhouse"
        if name not in (HOLDING_CLICKHOUSE, REPLACING_CLICKHOUSE):
            shutil.rmtree(chdb, ignore_errors=True)
        aged = {}
        if name == REPLACING_CLICKHOUSE:
            aged = measured([*child, "age_statements", f"chdb://{chdb}", str(AGED_EVERY)], env, work / "aged.txt")
        results[name] = measured([*ours, *extra], env, work / f"ours-{len(results)}.txt")
        results[name]["aged"] = {kind: aged[kind] for kind in ("stale", "other_id")} if aged else {}
        table = measured([*child, "table_digest", f"chdb://{chdb}"], env, work / "digest.txt")
        results[name].update(statements=table["statements"], digest=table["digest"])
    files = work / "statement-files"
    to_files = [
        arg if not arg.startswith("--destination_provider") else "--destination_provider=LOCAL" for arg in ours
    ] + [f"--destination_config={json.dumps({'key': str(work), 'container': files.name, 'prefix': ''})}"]
    for name, workers in ((ONE_FILES, 1), (TWO_FILES, 2)):
        shutil.rmtree(files, ignore_errors=True)
        files.mkdir()
        results[name] = measured([*to_files, f"--workers={workers}"], env, work / f"ours-{len(results)}.txt")
        written = measured([*child, "files_digest", str(files)], env, work / "digest.txt")
        results[name].update(statements=written["statements"], digest=written["digest"])
    return results


def report(results: dict[str, dict], users: int) -> None:
    reference = results["ERB's transformer alone"]
    events = reference["events"]
    erb_rate = events / results["ERB's command, LRS with no route"]["wall"]
    first_ours = results[ONE_CLICKHOUSE]
    print(
        f"corpus: {summary_number(first_ours['output'], 'Lines')} lines, {events} supported events, "
        f"{reference['statements']} statements, {users} users, {DAYS} rotated files "
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
    two, one = results[TWO_CLICKHOUSE], first_ours
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
    print()
    print_cpu_roles({name: result for name, result in results.items() if name.startswith("ours")})
    print()
    print_criteria(results, events, erb_rate)


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


# -- CPU by process and role, the criteria of issue #22, and the model of more cores ---------


def cpu_roles(output: str) -> dict[str, dict[str, float]]:
    """The summary's "CPU seconds: T; this process C (role s, ...); workers W (role s, ...)" line."""
    line = next((line for line in output.splitlines() if line.startswith("CPU seconds:")), "")
    kinds: dict[str, dict[str, float]] = {}
    for part in line.split("; ")[1:]:
        label, _, rest = part.partition(" (")
        kind = "command" if label.startswith("this process") else "workers"
        roles = {}
        for item in rest.rstrip(")").split(", "):
            role, _, seconds = item.rpartition(" ")
            roles[role] = float(seconds)
        kinds[kind] = roles
    return kinds


ROLE_COLUMNS = ("start-up", "reading and parsing", "transforming", "handing off", "writing", "coordinating")


def print_cpu_roles(runs: dict[str, dict]) -> None:
    print("CPU seconds by process and role (the summary's own accounting; per process: /proc, sampled)")
    header = "".join(f"{role:>12}" for role in ("start-up", "read+parse", "transform", "hand-off", "writing", "coord."))
    print(f"{'run':<44}{'process':<10}{header}{'other thr.':>12}{'total':>8}   each process (command first)")
    for name, result in runs.items():
        kinds = cpu_roles(result["output"])
        for kind, roles in kinds.items():
            other = roles.get("other threads", 0.0)
            cells = "".join(f"{roles.get(role, 0.0):>12.2f}" for role in ROLE_COLUMNS)
            each = " / ".join(f"{cpu:.1f}" for cpu in result["process_cpu"]) if kind == "command" else ""
            label = name if kind == "command" else ""
            print(f"{label:<44}{kind:<10}{cells}{other:>12.2f}{sum(roles.values()):>8.2f}   {each}")
    print(
        "other thr.: threads the roles do not run in (the embedded ClickHouse's own; in a worker, the hand-off "
        "queue's feeder thread, which pickles what is handed off)."
    )


def steady(roles: dict[str, float]) -> float:
    return sum(seconds for role, seconds in roles.items() if role != "start-up")


def print_criteria(results: dict[str, dict], events: int, erb_rate: float) -> None:
    cores = os.cpu_count() or 1
    one_ch = results[ONE_CLICKHOUSE]
    ours_x = events / one_ch["wall"] / erb_rate
    print(f"Issue #22 criteria, from this run ({cores} cores):")
    print(f"  ours(1) into the embedded ClickHouse: {ours_x:.1f}x ERB's command (wanted >= 20x)")

    one, two = results[ONE_FILES], results[TWO_FILES]
    speedup = one["wall"] / two["wall"]
    busy = one["cpu"] / one["wall"]
    cpu_ratio = two["cpu"] / one["cpu"]
    print(
        f"  statement files, 2 workers against 1: {speedup:.2f}x faster (wanted >= 1.6x); CPU of all processes "
        f"{two['cpu']:.1f} s against {one['cpu']:.1f} s, {cpu_ratio - 1:+.0%} per event (wanted <= +10 %); "
        f"ours(1) keeps {busy:.2f} cores busy" + (" (> 1.2: the CPU criterion decides)" if busy > 1.2 else "")
    )
    kinds = cpu_roles(two["output"])
    command, workers = kinds.get("command", {}), kinds.get("workers", {})
    share = steady(command) / max(steady(workers), 1e-9)
    print(
        f"  the command's own process with 2 workers: {steady(command):.2f} CPU s beyond its start-up, against "
        f"{steady(workers):.2f} s in its workers: {share:.3f} of a worker's CPU per event (wanted <= 1/8 = 0.125)"
    )
    print_model(one, two, events)
    print_single_writer_bound(results[TWO_CLICKHOUSE])
    holding = results[HOLDING_CLICKHOUSE]
    reference_digest = results["ERB's transformer alone"]["digest"]
    print(
        f"Issue #32: the same run into a table that holds the whole corpus (every batch compared by event): "
        f"{holding['wall']:.1f} s against {one_ch['wall']:.1f} s into an empty one, "
        f"{holding['wall'] / one_ch['wall']:.2f}x (wanted <= 1.5x); written: "
        f"{summary_number(holding['output'], 'Statements written')}, the table equal to ERB's: "
        f"{'yes' if holding.get('digest') == reference_digest else 'NO'}"
    )
    replacing, aged = results[REPLACING_CLICKHOUSE], results[REPLACING_CLICKHOUSE]["aged"]
    print(
        f"  --replace_drifted into that table after {aged['stale']} statements were made stale and "
        f"{aged['other_id']} moved to another id (1 in {AGED_EVERY}): {replacing['wall']:.1f} s, "
        f"{replacing['wall'] / one_ch['wall']:.2f}x the run into an empty table; "
        f"replaced: {replaced_count(replacing['output'])}, the table equal to ERB's after: "
        f"{'yes' if replacing.get('digest') == reference_digest else 'NO'}"
    )


def print_model(one: dict, two: dict, events: int) -> None:
    """
    wall(N cores, N workers) = the command's start-up + a worker's start-up + E x max((w + c) / N, c),
    w and c the workers' and the command's CPU per event beyond start-up, measured with 2 workers.
    """
    kinds = cpu_roles(two["output"])
    command, workers = kinds.get("command", {}), kinds.get("workers", {})
    worker_startup = workers.get("start-up", 0.0) / 2
    command_startup = command.get("start-up", 0.0)
    w, c = steady(workers) / events, steady(command) / events
    one_kinds = cpu_roles(one["output"]).get("command", {})
    one_startup, one_per_event = one_kinds.get("start-up", 0.0), steady(one_kinds) / events

    def wall(cores: int) -> float:
        return command_startup + worker_startup + events * max((w + c) / cores, c)

    one_wall = one_startup + events * one_per_event  # one process, one core's worth of CPU
    print(
        f"  model (statement files): wall(N) = start-up of the command ({command_startup:.2f} s) and of a worker "
        f"({worker_startup:.2f} s) + E x max((w + c) / N, c), w = {w * 1e6:.1f} us and c = {c * 1e6:.1f} us "
        "of CPU per event (workers, command), measured with 2 workers"
    )
    print(
        f"    checked: 2 workers predicted {wall(2):.2f} s, measured {two['wall']:.2f} s "
        f"({two['wall'] / wall(2) - 1:+.0%}: the model shares the cores perfectly); 1 worker from its own costs "
        f"{one_wall:.2f} s, measured {one['wall']:.2f} s"
    )
    projected = ", ".join(f"{cores} cores {one_wall / wall(cores):.1f}x" for cores in (4, 8, 16))
    long_log = ", ".join(f"{cores} cores {min(cores, (w + c) / c if c else cores) * one_per_event / (w + c):.1f}x"
                         for cores in (4, 8, 16))  # fmt: skip
    print(
        f"    projected speed-up over 1 worker: {projected} on this corpus; on a log long enough that start-up "
        f"does not count: {long_log}. Assumes each worker's CPU per event stays as "
        "measured (the storage and the destination keep up with N writers, no shared cache misses), at least N "
        "files or 256 MiB ranges to share out, and the command's per-event CPU as the only serial part."
    )


def print_single_writer_bound(two: dict) -> None:
    kinds = cpu_roles(two["output"])
    command, workers = kinds.get("command", {}), kinds.get("workers", {})
    if steady(command) <= 0:
        return
    print(
        f"  embedded ClickHouse (one writer process): the writer spends {steady(command):.2f} CPU s and the workers "
        f"{steady(workers):.2f} s beyond start-up, so N workers cannot beat {1 + steady(workers) / steady(command):.1f}"
        "x one worker's throughput however many cores"
    )


if __name__ == "__main__":
    main()
