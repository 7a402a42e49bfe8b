"""
Any line, any value: nothing in the data stops a backfill (property-based, Hypothesis).

Real event shapes with any JSON value at any position, keys given twice, two events of one
learner at one instant, and lines of any bytes. For every log: the command ends normally;
each line becomes exactly the statements ERB's transformer makes of it, or is skipped as
unsupported, or is one dead-letter record with a reason; the summary's counts add up to the
lines read; and the table holds each statement once, the first of each id in log order.

``make fuzz`` runs the same properties with many more examples (BACKFILL_FUZZ_FACTOR).
"""

from __future__ import annotations

import functools
import io
import json
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from hypothesis import event, given
from hypothesis import strategies as st

from backfill_app.standalone.models import ExternalId, ExternalIdType
from demo.seed import seed_courses, seed_users
from tests.commands import as_sent, dead_letters, local_source, ralph_config, run_command, summary_value
from tests.commands import transform_words as transform
from tests.fuzzing import (
    DELIBERATE_REFUSALS,
    LEARNERS,
    ExpectedRun,
    examples,
    expected_run,
    other_records,
    templates_for_learners,
    tracking_logs,
)
from tests.tables import assert_holds_exactly


@functools.cache
def shapes() -> tuple[list[dict], list[dict]]:
    return templates_for_learners(), other_records()


def logs(max_lines: int = 6):
    templates, others = shapes()
    return tracking_logs(templates, others, max_lines=max_lines)


@pytest.fixture
def learners(db):
    seed_users(LEARNERS)
    seed_courses()


@pytest.fixture
def committed_learners(django_db_serialized_rollback, transactional_db):
    """Seen by worker processes, which read only committed rows; the migrations' rows put back after."""
    seed_users(LEARNERS)
    seed_courses()


def write_log(lines: list[bytes]) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="odd-", dir=django_settings.BACKFILL_VAR_DIR)) / "logs"
    folder.mkdir()
    (folder / "tracking.log").write_bytes(b"\n".join(lines) + b"\n")
    return folder


def backfill(folder: Path, *options: str, destination=("--destination_provider", "CLICKHOUSE")):
    """The command's output and the lines it set aside."""
    dead = folder.parent / "dead.jsonl"
    source = local_source(folder)
    output = run_command("--dead_letter_path", str(dead), *options, source=source, destination=destination)
    return output, dead_letters(str(dead)) if dead.exists() else []


def assert_each_line_accounted_for(expected: ExpectedRun, output: str, set_aside: list[dict]) -> None:
    for entry in set_aside:
        event(f"set aside as {entry['reason']}")  # --hypothesis-show-statistics: what the examples reached
    for fate in expected.fate.values():
        event(f"ERB: {fate}")
    by_line = Counter(entry["line_number"] for entry in set_aside)
    assert all(count == 1 for count in by_line.values()), f"a line set aside twice: {by_line}"
    assert set(by_line) <= set(expected.fate), "a line number that is no line of the log"
    reasons = {entry["line_number"]: entry["reason"] for entry in set_aside}
    for number, fate in expected.fate.items():
        if fate in ("written", "unsupported"):
            assert number not in reasons, f"line {number}: ERB says {fate}, set aside as {reasons.get(number)}"
        else:
            assert number in reasons, f"line {number}: ERB makes nothing of it ({fate}), and it was not set aside"
            if fate in DELIBERATE_REFUSALS:
                why = DELIBERATE_REFUSALS[fate]
                assert reasons[number] == fate, f"line {number}: {why}, set aside as {reasons[number]}"
    assert all(entry["reason"] and entry["detail"] for entry in set_aside)
    assert int(summary_value(output, "Lines")) == len(expected.fate)
    assert int(summary_value(output, "Bad lines")) == len(set_aside)
    assert int(summary_value(output, "Skipped as unsupported")) == expected.count("unsupported")
    assert int(summary_value(output, "Events transformed")) == expected.count("written")


def find_gaps(folder: Path) -> str:
    out = io.StringIO()
    call_command(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(folder))}", stdout=out
    )
    return out.getvalue()


@examples(60)
@given(data=st.data())
def test_any_log_into_clickhouse_gives_erbs_statements_or_sets_the_line_aside(learners, clickhouse, data):
    lines = data.draw(logs())
    clickhouse.command("TRUNCATE TABLE xapi.xapi_events_all")
    folder = write_log(lines)
    output, set_aside = backfill(folder, "--batch_size", str(data.draw(st.integers(1, 5))))
    expected = expected_run(lines)
    assert_each_line_accounted_for(expected, output, set_aside)
    stored = [json.loads(event) for (event,) in clickhouse.query("SELECT event FROM xapi.xapi_events_all").result_rows]
    assert_holds_exactly(stored, expected.rows)

    # The gap finder reads the same lines: it ends normally and finds nothing left to fill.
    assert "No gaps" in find_gaps(folder)
    again, _ = backfill(folder, "--gaps_only")
    assert "nothing to do" in again


@examples(20)
@given(data=st.data())
def test_any_log_to_an_lrs_gives_erbs_statements_or_sets_the_line_aside(learners, ralph, data):
    lines = data.draw(logs())
    ralph.statements_file.unlink(missing_ok=True)
    destination = ("--destination_provider", "LRS", "--destination_config", json.dumps(ralph_config(ralph)))
    output, set_aside = backfill(write_log(lines), "--batch_size", "3", destination=destination)
    expected = expected_run(lines)
    assert_each_line_accounted_for(expected, output, set_aside)
    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], expected.rows)


@examples(8)
@given(data=st.data())
def test_any_log_with_two_workers_gives_the_same_table(committed_learners, clickhouse, data):
    lines = data.draw(logs(max_lines=12))
    clickhouse.command("TRUNCATE TABLE xapi.xapi_events_all")
    folder = write_log(lines)
    (folder / "tracking.log.1").write_bytes((folder / "tracking.log").read_bytes())  # a second file for worker 2
    output, set_aside = backfill(folder, "--workers", "2")
    assert "Transforming in 2 processes" in output
    expected = expected_run(lines)
    stored = [json.loads(event) for (event,) in clickhouse.query("SELECT event FROM xapi.xapi_events_all").result_rows]
    assert_holds_exactly(stored, expected.rows)
    assert int(summary_value(output, "Lines")) == 2 * len(expected.fate)
    assert len(set_aside) == 2 * (len(expected.fate) - expected.count("written", "unsupported"))


@pytest.fixture
def replica_learners(lms, db):
    """
    The oracle's database holds the replica's learners that have an xAPI id, with that id, and
    its courses; a learner without one is absent (the replica sets such events aside, ERB here
    would find no user: both make no statement).
    """
    _, lms_data = lms
    User = get_user_model()
    User.objects.bulk_create(
        User(id=user_id, username=username) for user_id, username in lms_data.users if user_id in lms_data.xapi_ids
    )
    seed_courses()
    xapi = ExternalIdType.objects.get(name="xapi")
    ExternalId.objects.bulk_create(
        ExternalId(user_id=user_id, external_id_type=xapi, external_user_id=xapi_id)
        for user_id, xapi_id in lms_data.xapi_ids.items()
    )


@examples(10)
@given(data=st.data())
def test_any_log_read_through_a_mariadb_replica_gives_erbs_statements_or_sets_the_line_aside(
    replica_learners, replica, ralph, data
):
    # MySQLdb refuses other values than sqlite's driver: the run is the standalone project's, against
    # MariaDB with a SELECT-only account (an oracle on sqlite: the logs' users are spelled as stored).
    lines = data.draw(logs())
    ralph.statements_file.unlink(missing_ok=True)
    folder = write_log(lines)
    dead = folder.parent / "dead.jsonl"
    config = f"--destination_config={json.dumps(ralph_config(ralph))}"
    run = replica.manage(
        *transform("--destination_provider=LRS", config, "--batch_size=2", f"--dead_letter_path={dead}", logs=folder),
        clickhouse="unused",
        check=False,
    )
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    expected = expected_run(lines)
    assert_each_line_accounted_for(expected, run.stdout, dead_letters(str(dead)) if dead.exists() else [])
    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], expected.rows)
