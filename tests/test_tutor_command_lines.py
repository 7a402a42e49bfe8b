"""
The command lines that tutor-contrib-aspects' ``tutor local do transform-tracking-logs`` and
``do dump-data-to-clickhouse`` generate (tutoraspects/commands_v1.py) run our commands
unchanged. A line is split as the job's shell splits it; ``./manage.py lms`` is edx-platform's
manage.py with its service (here the one Django project plays both).
"""

from __future__ import annotations

import io
import json
import shlex
import shutil

import pytest
from django.core.management import call_command
from django.test import override_settings
from event_routing_backends.models import RouterConfiguration

from tests import services
from tests.commands import as_sent, summary_value
from tests.corpus_fixtures import build_corpus
from tests.platform_data import DEMO_COURSE, make_profiles
from tests.tables import assert_holds_exactly


def tutor_transform_line(key: str) -> str:
    """What `tutor local do transform-tracking-logs --source_provider LOCAL --source_config '...'
    --transformer_type xapi` runs in the lms job: every option given a value, defaults included."""
    source = json.dumps({"key": key, "prefix": "tracking.log", "container": "logs"})
    return (
        f"./manage.py lms transform_tracking_logs --source_provider LOCAL --source_config '{source}' "
        "--destination_provider LRS --transformer_type xapi --batch_size 10000 --sleep_between_batches_secs 10.0"
    )


def run_platform_line(line: str) -> str:
    words = shlex.split(line)
    assert words[:2] in (["./manage.py", "lms"], ["./manage.py", "cms"]), line
    out = io.StringIO()
    call_command(*words[2:], stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_tutors_transform_tracking_logs_line_sends_erbs_statements_to_the_lms_routes(tmp_path, ralph):
    corpus = build_corpus(tmp_path / "openedx-data", days=3, events_per_day=40)
    RouterConfiguration.objects.create(
        route_url=f"{ralph.url}/xAPI/",
        backend_name="xapi",
        auth_scheme=RouterConfiguration.AUTH_BASIC,
        username=services.RALPH_USER,
        password=services.RALPH_PASSWORD,
        enabled=True,
    )
    # Tutor's key ends with a slash: /openedx/data/ (here the test's own data folder).
    output = run_platform_line(tutor_transform_line(f"{corpus.folder.parent}/"))

    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], corpus.erb_statements())
    assert int(summary_value(output, "Bad lines")) == len(corpus.faults)
    assert summary_value(output, "Files").startswith("3 of 3 read")


@pytest.mark.django_db
def test_tutors_dump_data_to_clickhouse_lines_run_ours(tmp_path, clickhouse):
    for table in ("course_overviews", "course_blocks", "user_profile"):
        clickhouse.command(f"TRUNCATE TABLE event_sink.{table}")
    shutil.copytree(DEMO_COURSE, tmp_path / "courses" / "demo")
    make_profiles(2)
    with override_settings(BACKFILL_COURSES_DIR=str(tmp_path / "courses")):
        courses = run_platform_line("./manage.py cms dump_data_to_clickhouse --object course_overviews")
    profiles = run_platform_line("./manage.py lms dump_data_to_clickhouse --object user_profile --force")
    assert summary_value(courses, "Rows written") == "course_blocks 413, course_overviews 1"
    assert summary_value(profiles, "Rows written") == "user_profile 2"
