"""
`make demo`: tracking logs built from ERB's real event shapes over 300 learners and four
days, rotated into .gz files, backfilled into the embedded ClickHouse; then a look at what
arrived. Run it twice: the second run writes nothing new.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import UTC, datetime

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backfill_project.settings")
# The demo's LMS, whose root URL is in every actor: set, as every run that writes must.
os.environ.setdefault("BACKFILL_LMS_ROOT_URL", "http://localhost:18000")
# Personal data is off by default; the demo's learners are made up, their profiles shown.
os.environ.setdefault("BACKFILL_ENABLE_PII", "true")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from backfill_app.clickhouse.connection import connect, target_from_settings  # noqa: E402
from demo.corpus import sample_records, tutor_line, write_rotated_logs  # noqa: E402
from demo.seed import seed_courses, seed_users  # noqa: E402

DAYS = 4
EVENTS_PER_DAY = 750
START = datetime(2026, 11, 20, tzinfo=UTC)


def build_logs(folder, users) -> None:
    by_day = defaultdict(list)
    for index, record in enumerate(sample_records(users, START, DAYS, EVENTS_PER_DAY)):
        by_day[index // EVENTS_PER_DAY].append(tutor_line(record))
    # What real logs also hold: a line cut short by a full disk, and a learner deleted since.
    by_day[1].append(by_day[1][0][:-25])
    by_day[2].append(by_day[2][0].replace('"user_id": ', '"user_id": 999999, "was": ', 1))
    write_rotated_logs(sorted(by_day.items()), folder, DAYS)


def show_statements_per_verb_and_day() -> None:
    client = connect(target_from_settings())
    rows = client.query(
        "SELECT replaceRegexpAll(JSONExtractString(event, 'verb', 'id'), '.*/', '') AS verb, "
        "toDate(emission_time) AS day, count() FROM xapi.xapi_events_all "
        f"WHERE emission_time >= '{START:%Y-%m-%d}' GROUP BY verb, day ORDER BY verb, day"
    ).result_rows
    days = sorted({day for _, day, _ in rows})
    counts = {(verb, day): count for verb, day, count in rows}
    verbs = sorted({verb for verb, _, _ in rows})
    print("\nStatements in xapi.xapi_events_all, per verb and day:")
    print(f"{'verb':<22}" + "".join(f"{day:%m-%d}".rjust(8) for day in days) + "   total")
    for verb in verbs:
        per_day = [counts.get((verb, day), 0) for day in days]
        print(f"{verb:<22}" + "".join(str(n).rjust(8) for n in per_day) + f"{sum(per_day):>8}")
    print(
        f"{'all':<22}"
        + "".join(str(sum(counts.get((v, d), 0) for v in verbs)).rjust(8) for d in days)
        + f"{sum(counts.values()):>8}"
    )


def dump_course_and_users(var: str) -> None:
    import shutil
    from pathlib import Path

    courses = Path(var) / "demo" / "courses"
    if not (courses / "demo-course").exists():
        shutil.copytree(
            Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "demo-course", courses / "demo-course"
        )
    settings.BACKFILL_COURSES_DIR = str(courses)
    for name in ("course_overviews", "user_profile"):
        print(f"\n$ ./manage.py dump_data_to_clickhouse --object {name}\n")
        call_command("dump_data_to_clickhouse", object=name, sleep_time=0)
    client = connect(target_from_settings())
    rows = client.query(
        "SELECT JSONExtractInt(xblock_data_json, 'section') AS section, count(), "
        "countIf(JSONExtractInt(xblock_data_json, 'graded') = 1) FROM event_sink.course_blocks "
        "WHERE JSONExtractInt(xblock_data_json, 'detached') = 0 GROUP BY section ORDER BY section"
    ).result_rows
    print("\nThe demo course in event_sink.course_blocks, per section:")
    print(f"{'section':>7}  {'blocks':>6}  {'graded':>6}")
    for section, blocks, graded in rows:
        print(f"{section or 'course':>7}  {blocks:>6}  {graded:>6}")
    profiles = client.query(
        "SELECT country, count() FROM (SELECT id, argMax(country, time_last_dumped) AS country "
        "FROM event_sink.user_profile GROUP BY id) GROUP BY country ORDER BY country"
    ).result_rows
    print("Learner profiles in event_sink.user_profile, per country: " + ", ".join(f"{c} {n}" for c, n in profiles))


def main() -> None:
    var = settings.BACKFILL_VAR_DIR
    logs = os.path.join(var, "demo", "logs")
    print(f"Preparing the standalone database and a sample of tracking logs in {logs} ...")
    call_command("migrate", verbosity=0)
    users = seed_users(300)
    seed_courses()
    from pathlib import Path

    build_logs(Path(logs), users)
    for name in sorted(os.listdir(logs)):
        print(f"  {name:<22} {os.path.getsize(os.path.join(logs, name)):>9} bytes")
    print(
        "\n$ ./manage.py transform_tracking_logs --source_provider LOCAL "
        f'--source_config \'{{"key": "{os.path.dirname(logs)}", "container": "logs", "prefix": ""}}\' '
        "--destination_provider CLICKHOUSE --transformer_type xapi --sleep_between_batches_secs 0\n"
    )
    call_command(
        "transform_tracking_logs",
        source_provider="LOCAL",
        source_config=json.dumps({"key": os.path.dirname(logs), "container": "logs", "prefix": ""}),
        destination_provider="CLICKHOUSE",
        transformer_type="xapi",
        sleep_between_batches_secs=0,
        batch_size=1000,
    )
    show_statements_per_verb_and_day()
    dump_course_and_users(var)


if __name__ == "__main__":
    main()
