"""
--workers into a destination that takes parallel writers (statement files, an LRS): each
worker writes its own batches, the command's process commits the positions they report
and writes the one manifest. The result is exactly that of one process.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError

from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIX, statement_file_rows
from tests.commands import (
    as_sent,
    dead_letters,
    load_files,
    local_source,
    ralph_config,
    summary_value,
    to_lrs,
    transform_to_files,
)
from tests.corpus_fixtures import build_corpus, write_corpus
from tests.tables import assert_holds_exactly, assert_table_holds_exactly

# The workers are other processes: they see only committed rows (hence a transactional test).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_two_workers_write_their_own_statement_files_into_one_run_with_one_manifest(tmp_path, s3_server, xapi_table):
    from libcloud.storage.providers import get_driver
    from libcloud.storage.types import Provider

    corpus = build_corpus(tmp_path, days=3, events_per_day=120)
    driver = get_driver(Provider.S3)(**s3_server)
    driver.create_container("statements-of-two-workers")
    destination = dict(s3_server, container="statements-of-two-workers", prefix="xapi")
    dead = tmp_path / "dead.jsonl"
    output = transform_to_files(corpus, "S3", destination, 20, "--workers=2", f"--dead_letter_path={dead}")

    assert "Transforming in 2 processes" in output and "each writes its own batches" in output
    expected = corpus.erb_statements()
    assert int(summary_value(output, "Statements written")) == len(expected)
    assert {entry["line"]: entry["reason"] for entry in dead_letters(str(dead))} == corpus.faults

    names = sorted(obj.name for obj in driver.list_container_objects(driver.get_container("statements-of-two-workers")))
    manifests = [name for name in names if name.endswith("manifest.json")]
    assert len(manifests) == 1, names  # one run, one folder
    run_folder = manifests[0].rsplit("/", 1)[0]
    manifest_object = driver.get_object("statements-of-two-workers", manifests[0])
    manifest = json.loads(b"".join(driver.download_object_as_stream(manifest_object)))
    statement_files = [name for name in names if name.endswith(STATEMENT_FILE_SUFFIX)]
    assert sorted(entry["name"] for entry in manifest["objects"]) == statement_files
    assert all(name.startswith(f"{run_folder}/xapi-") for name in statement_files)
    # Each of the 3 log files had its own writer: objects named after the part they come from.
    assert len({name.rsplit("-", 1)[0] for name in statement_files}) == 3
    assert manifest["statements"] == len(expected)

    loaded = load_files("S3", destination)
    assert summary_value(loaded, "Rows inserted") == str(len(expected))
    assert_table_holds_exactly(xapi_table(), expected)


def test_two_workers_post_to_the_lrs_themselves_each_statement_once_and_a_rerun_adds_none(tmp_path, ralph):
    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    first = to_lrs(corpus, "--batch_size=25", "--workers=2", config=ralph_config(ralph))
    assert "each writes its own batches" in first
    expected = corpus.erb_statements()
    assert int(summary_value(first, "Statements written")) == len(expected)
    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], expected)

    again = to_lrs(corpus, "--batch_size=25", "--workers=2", config=ralph_config(ralph))
    assert "3 already done by an earlier run" in summary_value(again, "Files")
    assert len(ralph.read_statements()) == len(expected)


def test_an_lrs_that_stops_answering_a_worker_stops_the_run_and_the_rerun_completes(tmp_path, ralph):
    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    config = dict(ralph_config(ralph), url="http://127.0.0.1:1/xAPI/")  # nothing listens there
    with pytest.raises(CommandError) as stopped:
        to_lrs(corpus, "--batch_size=25", "--workers=2", config=config)
    assert "rerun the same command to continue" in str(stopped.value)
    assert "Traceback" not in str(stopped.value), str(stopped.value)
    assert ralph.read_statements() == []

    finished = to_lrs(corpus, "--batch_size=25", "--workers=2", config=ralph_config(ralph))
    expected = corpus.erb_statements()
    assert int(summary_value(finished, "Statements written")) == len(expected)
    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], expected)


def statements_in_files(folder) -> list[dict]:
    return [
        json.loads(row)
        for path in sorted(folder.rglob(f"*{STATEMENT_FILE_SUFFIX}"))
        for row in statement_file_rows(path.name, path.read_bytes())
    ]


def test_two_workers_writing_statement_files_killed_at_several_points_load_exactly_a_clean_runs_statements(
    seeded_project, tmp_path
):
    project = seeded_project
    from tests.standalone_project import kill_and_rerun

    logs = tmp_path / "logs"
    write_corpus(logs, days=3, events_per_day=1500)

    def to_files(folder: str) -> list[str]:
        (tmp_path / folder).mkdir()
        destination = {"key": str(tmp_path), "container": folder, "prefix": ""}
        return [
            "transform_tracking_logs", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}",
            "--destination_provider=LOCAL", f"--destination_config={json.dumps(destination)}",
            "--transformer_type=xapi", "--sleep_between_batches_secs=0.2", "--batch_size=300", "--workers=2",
        ]  # fmt: skip

    def load(folder: str, clickhouse: str) -> dict:
        source = {"key": str(tmp_path), "container": folder, "prefix": ""}
        project.manage(
            "load_xapi_files", "--source_provider=LOCAL", f"--source_config={json.dumps(source)}", clickhouse=clickhouse
        )
        return project.rows(clickhouse)

    project.manage(*to_files("clean"), clickhouse="unused")
    clean = load("clean", "clean")
    assert clean["count"] == clean["distinct"] > 3000

    def statements_held() -> tuple[int, int]:
        # A batch written a moment before a kill, its position not yet committed, is written
        # again by the rerun: the loader keeps one of each id. Counted here: distinct ids.
        ids = {row["event_id"] for row in statements_in_files(tmp_path / "killed")}
        return len(ids), len(ids)

    finished = kill_and_rerun(project, to_files("killed"), "unused", held=statements_held)
    assert "resumed where an earlier run stopped" in summary_value(finished, "Files")
    written_again = len(statements_in_files(tmp_path / "killed")) - clean["count"]
    # At most two batches per worker per kill (one reported but not yet committed, one in flight;
    # a batch keeps an event's statements together, so it may pass 300 by a few).
    assert 0 <= written_again <= 3 * 2 * 2 * 310
    after = load("killed", "killed")
    assert after["rows"] == clean["rows"]
    assert after["count"] == after["distinct"] == clean["count"]


def test_two_workers_posting_to_an_lrs_killed_at_several_points_leave_each_statement_once(
    seeded_project, tmp_path, ralph
):
    from tests import services
    from tests.standalone_project import kill_and_rerun

    project = seeded_project
    project.env["BACKFILL_TEST_RALPH_PASSWORD"] = services.RALPH_PASSWORD
    logs = tmp_path / "logs"
    write_corpus(logs, days=3, events_per_day=1000)
    destination = {
        "url": f"{ralph.url}/xAPI/",
        "username": services.RALPH_USER,
        "password": {"env": "BACKFILL_TEST_RALPH_PASSWORD"},
    }
    args = [
        "transform_tracking_logs", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}",
        "--destination_provider=LRS", f"--destination_config={json.dumps(destination)}",
        "--transformer_type=xapi", "--sleep_between_batches_secs=0.2", "--batch_size=200", "--workers=2",
    ]  # fmt: skip

    def statements_held() -> tuple[int, int]:
        stored = ralph.read_statements()
        return len(stored), len({statement["id"] for statement in stored})

    finished = kill_and_rerun(project, args, "unused", held=statements_held)
    assert "resumed where an earlier run stopped" in summary_value(finished, "Files")
    stored = ralph.read_statements()
    assert len(stored) == len({statement["id"] for statement in stored})
    # The clean run's statements: the same logs, with one process, into a second Ralph.
    (tmp_path / "clean-ralph").mkdir()
    with services.ralph_lrs(tmp_path / "clean-ralph") as clean_lrs:
        clean_args = [arg.replace(ralph.url, clean_lrs.url) for arg in args[:-1]] + ["--workers=1"]
        project.manage(*clean_args, "--sleep_between_batches_secs=0", clickhouse="unused")
        clean = clean_lrs.read_statements()
    assert len(clean) > 3000
    expected = {statement["id"]: as_sent(statement) for statement in clean}
    assert_holds_exactly([as_sent(statement) for statement in stored], expected)


def test_the_summary_says_where_the_cpu_went_and_the_command_itself_neither_transforms_nor_writes(tmp_path):
    corpus = build_corpus(tmp_path, days=3, events_per_day=120, with_faults=False)
    (tmp_path / "out" / "statements").mkdir(parents=True)
    destination = {"key": str(tmp_path / "out"), "container": "statements", "prefix": ""}
    output = transform_to_files(corpus, "LOCAL", destination, 50, "--workers=2")

    cpu = summary_value(output, "CPU seconds")
    command, workers = cpu.split("; this process ")[1].split("; workers ")
    assert "start-up" in command
    assert "transforming" not in command and "writing" not in command
    assert "transforming" in workers and "start-up" in workers
    total = float(cpu.split(";")[0])
    assert total == pytest.approx(float(command.split()[0]) + float(workers.split()[0]), abs=0.15)
