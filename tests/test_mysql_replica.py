"""
Standalone against the LMS's own MySQL: a real MariaDB holding the platform's tables, read by
an account allowed only to SELECT, as a read replica is; this app's state in a database of its
own. Every command runs as an operator runs it, in a child process of the standalone project.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from backfill_app.sources.tracking_log import parse_tracking_line
from backfill_app.standalone.models import ExternalId, ExternalIdType
from backfill_app.transform.statements import StatementTransformer
from demo.corpus import sample_records, tutor_line, write_rotated_logs
from demo.seed import seed_courses
from tests import services
from tests.commands import as_sent, local_source, summary_value
from tests.commands import transform_words as transform
from tests.corpus_fixtures import Corpus
from tests.lms_database import READER, WRITER, checksums, database_url, load_lms, xapi_ids_in
from tests.platform_data import DEMO_COURSE
from tests.standalone_project import StandaloneProject, kill_and_rerun
from tests.tables import assert_holds_exactly

DAYS = 3


class LmsLogs:
    """Tracking logs of the LMS's learners: those with an xAPI external id, and those without one yet."""

    def __init__(self, folder: Path, data, events_per_day: int):
        self.folder = folder
        self.user_of: dict = {}
        for user_id, username in data.users:
            self.user_of[user_id] = self.user_of[str(user_id)] = self.user_of[username] = user_id
        transformer = StatementTransformer("xapi")
        by_day: dict[int, list[str]] = {day: [] for day in range(DAYS)}
        self.with_id: list[str] = []
        self.without_id: list[str] = []
        records = sample_records(data.users, datetime(2026, 5, 4, tzinfo=UTC), DAYS, events_per_day, seed=5)
        for index, record in enumerate(records):
            line = tutor_line(record)
            by_day[index // events_per_day].append(line)
            event = parse_tracking_line(line)
            if not transformer.is_supported(event):  # skipped by the backfill as by the live pipeline
                continue
            user_id = self.user_of[transformer.user_key(event)]
            (self.without_id if user_id in data.without_xapi_id else self.with_id).append(line)
        write_rotated_logs(by_day.items(), folder, DAYS)

    def users_without_id(self) -> set[int]:
        transformer = StatementTransformer("xapi")
        return {self.user_of[transformer.user_key(parse_tracking_line(line))] for line in self.without_id}

    def erb_statements(self, lines: list[str], xapi_ids: dict) -> dict:
        """What ERB's own processor makes of ``lines``, its users holding these external ids (a copy here)."""
        User = get_user_model()
        xapi = ExternalIdType.objects.get(name="xapi")
        ExternalId.objects.filter(external_id_type=xapi).delete()
        users = {
            user_id: User.objects.get_or_create(id=user_id, username=f"learner{user_id}")[0] for user_id in xapi_ids
        }
        ExternalId.objects.bulk_create(
            [
                ExternalId(user=users[user_id], external_id_type=xapi, external_user_id=uid)
                for user_id, uid in xapi_ids.items()
            ]
        )
        seed_courses()
        return Corpus(self.folder, valid_lines=lines).erb_statements()


def find_gaps(logs: Path) -> list[str]:
    return ["find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}"]


def statements_in(project, clickhouse: str) -> list[dict]:
    rows = project.rows(clickhouse)["rows"]
    assert all(event_id == json.loads(event)["id"] for event_id, event in rows)
    return [json.loads(event) for _, event in rows]


@pytest.mark.django_db
def test_through_a_select_only_account_statements_equal_erbs_and_learners_without_ids_are_finished_later(
    lms, replica, tmp_path
):
    server, data = lms
    before = checksums(server)
    logs = LmsLogs(tmp_path / "logs", data, events_per_day=400)
    assert len(logs.without_id) > 10 and len(logs.with_id) > 1000

    first = replica.manage(
        *transform("--destination_provider=CLICKHOUSE", "--workers=2", logs=logs.folder), clickhouse="ch"
    )
    output = first.stdout
    assert "The platform database is read-only here" in output
    assert_holds_exactly(statements_in(replica, "ch"), logs.erb_statements(logs.with_id, data.xapi_ids))
    assert summary_value(output, "Bad lines") == str(len(logs.without_id))
    assert summary_value(output, "no_external_id") == str(len(logs.without_id))
    dead_letter_file = summary_value(output, "Dead-letter file")
    set_aside = [json.loads(entry) for entry in Path(dead_letter_file).read_text().splitlines()]
    assert sorted(entry["line"] for entry in set_aside) == sorted(logs.without_id)
    assert f"create_external_ids --type xapi --from_dead_letters {dead_letter_file}" in output
    assert checksums(server) == before, "the backfill wrote to the platform's database"
    # Nothing the logs can give is missing: those events cannot become statements yet.
    assert "No gaps" in replica.manage(*find_gaps(logs.folder), clickhouse="ch").stdout

    refused = replica.manage("create_external_ids", "--type=xapi", "--all_users", clickhouse="unused", check=False)
    assert refused.returncode == 1 and "read-only here" in refused.stderr and "Traceback" not in refused.stderr
    primary = StandaloneProject(tmp_path / "var", BACKFILL_DATABASE=database_url(server.port, WRITER))
    created = primary.manage(
        "create_external_ids", "--type=xapi", f"--from_dead_letters={dead_letter_file}", clickhouse="unused"
    ).stdout
    assert summary_value(created, "External ids of type xapi created") == str(len(logs.users_without_id()))
    ids_now = xapi_ids_in(server.root_connect())
    assert set(ids_now) - set(data.xapi_ids) == logs.users_without_id()

    gaps = replica.manage(*find_gaps(logs.folder), clickhouse="ch").stdout
    assert "Hours where ClickHouse has fewer statements: 0" not in gaps
    replica.manage(*transform("--destination_provider=CLICKHOUSE", "--gaps_only", logs=logs.folder), clickhouse="ch")
    statements = statements_in(replica, "ch")
    assert_holds_exactly(statements, logs.erb_statements(logs.with_id + logs.without_id, ids_now))
    # The actors are the ids the LMS itself will use from now on: the rows made in its database.
    actors = {statement["actor"]["account"]["name"] for statement in statements}
    assert {str(ids_now[user_id]) for user_id in logs.users_without_id()} <= actors
    assert "No gaps" in replica.manage(*find_gaps(logs.folder), clickhouse="ch").stdout
    after_create = checksums(server)
    assert {table: value for table, value in after_create.items() if "externalid" not in table} == {
        table: value for table, value in before.items() if "externalid" not in table
    }


@pytest.mark.django_db
def test_to_an_lrs_through_the_replica(lms, replica, ralph, tmp_path):
    server, data = lms
    before = checksums(server)
    logs = LmsLogs(tmp_path / "logs", data, events_per_day=60)
    config = {"url": f"{ralph.url}/xAPI/", "username": services.RALPH_USER, "password": services.RALPH_PASSWORD}
    replica.manage(
        *transform("--destination_provider=LRS", f"--destination_config={json.dumps(config)}", logs=logs.folder),
        clickhouse="unused",
    )
    received = [as_sent(statement) for statement in ralph.read_statements()]
    assert_holds_exactly(received, logs.erb_statements(logs.with_id, data.xapi_ids))
    assert checksums(server) == before


def test_killed_and_rerun_resumes_from_its_own_state_database(lms, replica, tmp_path):
    server, data = lms
    before = checksums(server)
    logs = LmsLogs(tmp_path / "logs", data, events_per_day=1500)
    # Pauses between batches spread the run (the fast path is quicker than the start-up).
    args = transform(
        "--destination_provider=CLICKHOUSE",
        "--batch_size=300",
        "--workers=1",
        "--sleep_between_batches_secs=0.2",
        logs=logs.folder,
    )
    replica.manage(*args, clickhouse="clean")
    clean = replica.rows("clean")
    finished = kill_and_rerun(replica, args, "killed")
    assert "1 resumed where an earlier run stopped" in summary_value(finished, "Files")
    after = replica.rows("killed")
    assert after["rows"] == clean["rows"] and after["count"] == after["distinct"] == clean["count"]
    assert checksums(server) == before


def test_every_dump_object_is_read_from_the_replica_and_nothing_is_written_twice(lms, replica, tmp_path):
    server, data = lms
    before = checksums(server)
    shutil.copytree(DEMO_COURSE, tmp_path / "courses" / "demo")
    replica.env["BACKFILL_COURSES_DIR"] = str(tmp_path / "courses")
    expected = {
        "course_overviews": "course_blocks 413, course_overviews 1",
        "user_profile": f"user_profile {len(data.users)}",
        # The ids in the database now: an earlier test of this module may have created some.
        "external_id": f"external_id {len(xapi_ids_in(server.root_connect()))}",
        "course_enrollment": f"course_enrollment {data.enrollments}",
        "taxonomy": "taxonomy 1",
        "tag": "tag 2",
        "object_tag": "object_tag 2",
    }
    for name, rows in expected.items():
        first = replica.manage("dump_data_to_clickhouse", f"--object={name}", "--sleep_time=0", clickhouse="ch").stdout
        assert summary_value(first, "Rows written") == rows, name
        again = replica.manage("dump_data_to_clickhouse", f"--object={name}", "--sleep_time=0", clickhouse="ch").stdout
        assert set(re.findall(r"\d+", summary_value(again, "Rows written"))) == {"0"}, name
    # Counted in ClickHouse, not in the command's words: each object's row once.
    in_tables = event_sink_counts(replica, "ch")
    for rows in expected.values():
        for table, count in re.findall(r"(\w+) (\d+)", rows):
            assert in_tables[table] == (int(count), int(count)), table
    # Names in utf8mb4, as the LMS stores them, arrive whole.
    script = (
        "from backfill_app.clickhouse.connection import connect, target_from_settings; "
        'print(connect(target_from_settings()).command("SELECT name FROM event_sink.user_profile WHERE user_id = 7"))'
    )
    assert replica.manage("shell", "-c", script, clickhouse="ch").stdout.strip().splitlines()[-1] == "Léa Learner 7 😀"
    assert checksums(server) == before


def event_sink_counts(project, clickhouse: str) -> dict[str, tuple[int, int]]:
    """Rows and distinct keys of each event_sink table (a row dumped twice makes them differ)."""
    keys = {"course_overviews": "course_key", "course_blocks": "location", "external_id": "external_user_id"}
    tables = ("course_overviews", "course_blocks", "user_profile", "external_id", "course_enrollment", "taxonomy",
              "tag", "object_tag")  # fmt: skip
    query = " UNION ALL ".join(
        f"SELECT '{table}', count(), uniqExact({keys.get(table, 'id')}) FROM event_sink.{table}" for table in tables
    )
    script = (
        "import json; from backfill_app.clickhouse.connection import connect, target_from_settings; "
        f'print(json.dumps(connect(target_from_settings()).query("{query}").result_rows))'
    )
    rows = json.loads(project.manage("shell", "-c", script, clickhouse=clickhouse).stdout.strip().splitlines()[-1])
    return {table: (count, distinct) for table, count, distinct in rows}


def test_a_platform_database_that_does_not_answer_is_one_sentence_without_its_password(tmp_path):
    port = services.free_port()  # nothing listens there
    project = StandaloneProject(
        tmp_path / "var", BACKFILL_DATABASE=f"mysql://backfill:s3cret-pw@127.0.0.1:{port}/edxapp"
    )
    project.manage("migrate", "-v0", clickhouse="unused")  # the state database only
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "tracking.log").write_text("{}\n")
    for command in (
        transform("--destination_provider=CLICKHOUSE", logs=tmp_path / "logs"),
        find_gaps(tmp_path / "logs"),
        ["dump_data_to_clickhouse", "--object=user_profile"],
        ["create_external_ids", "--all_users"],
    ):
        failed = project.manage(*command, clickhouse="ch", check=False)
        assert failed.returncode == 1, command
        assert f"Cannot reach the 'platform' database (mysql at 127.0.0.1:{port}/edxapp)" in failed.stderr
        assert "s3cret-pw" not in failed.stderr + failed.stdout and "Traceback" not in failed.stderr


def test_the_platform_database_stopping_mid_run_stops_the_run_in_one_sentence(tmp_path):
    # A server of its own, to stop it: no line may be set aside for it, the run stops and says why.
    with services.mariadb_server(tmp_path / "mariadb") as server:
        data = load_lms(server.root_connect())
        project = StandaloneProject(tmp_path / "var", BACKFILL_DATABASE=database_url(server.port, READER))
        project.manage("migrate", "-v0", clickhouse="unused")
        logs = LmsLogs(tmp_path / "logs", data, events_per_day=1500)
        args = transform(
            "--destination_provider=CLICKHOUSE", "--batch_size=100", "--workers=1",
            "--sleep_between_batches_secs=0.3", logs=logs.folder,
        )  # fmt: skip
        run = project.start(*args, clickhouse="ch", output=True)
        while project.checkpoints()[0] == 0 and run.poll() is None:  # past its start: a batch is written
            time.sleep(0.05)
        server.process.terminate()
        server.process.wait(timeout=30)
        stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 1, stdout[-2000:] + stderr[-2000:]
    assert "Traceback" not in stderr
    assert f"mysql at 127.0.0.1:{server.port}/edxapp) stopped answering" in stderr
    assert READER[1] not in stdout + stderr
    assert "STOPPED:" in stdout and "rerun the same command to continue" in stdout
    assert "refused_by_database" not in stdout and "transform_error" not in stdout
    assert int(summary_value(stdout, "Events transformed")) < len(logs.with_id)
