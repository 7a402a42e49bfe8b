"""transform_tracking_logs from rotated logs into the embedded ClickHouse, through the CLI."""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from backfill_app.sinks.clickhouse import ClickHouseSink
from tests.commands import (
    dead_letters,
    failing_with_summary,
    local_source,
    run_command,
    summary_json,
    summary_value,
    with_summary,
)
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_table_holds_exactly


@pytest.fixture
def corpus(tmp_path, db):
    return build_corpus(tmp_path)


def test_rotated_logs_give_exactly_erbs_statements_and_every_fault_is_set_aside(corpus, xapi_table, tmp_path):
    dead_letter_path = tmp_path / "dead.jsonl"
    output, summary = with_summary(
        run_command,
        "--batch_size",
        "17",
        "--dead_letter_path",
        str(dead_letter_path),
        source=local_source(corpus.folder),
    )

    expected = corpus.erb_statements()
    rows = xapi_table()
    assert_table_holds_exactly(rows, expected)
    assert len(rows) == len(expected) > 100
    for row in rows:  # stored as Ralph stores them
        assert row["emission_time"].isoformat()[:19] == row["event"]["timestamp"][:19]

    set_aside = {entry["line"]: entry["reason"] for entry in dead_letters(str(dead_letter_path))}
    assert set_aside == corpus.faults
    assert (summary["command"], summary["schema"], summary["outcome"], summary["exit_code"], summary["message"]) == (
        "transform_tracking_logs", 1, "completed", 0, None
    )  # fmt: skip
    assert summary["destination"].startswith("xapi.xapi_events_all in the embedded ClickHouse at ")
    assert (summary["files"]["total"], summary["files"]["read"], summary["files"]["failed"]) == (3, 3, 0)
    assert summary["lines"]["bad_by_reason"] == dict(Counter(corpus.faults.values()))
    assert summary["lines"]["bad"] == len(corpus.faults)
    assert summary["statements"]["written"] == summary["statements"]["made"] == len(expected)
    assert summary["dead_letter_path"] == str(dead_letter_path)
    # The human summary is printed from the same data.
    assert summary_value(output, "Files") == "3 of 3 read (0.1 MB)"
    assert summary_value(output, "Statements written") == str(summary["statements"]["written"])
    assert summary_value(output, "Dead-letter file") == str(dead_letter_path)


def test_the_oldest_rotated_file_is_read_first(corpus, xapi_table, caplog):
    with caplog.at_level(logging.INFO, logger="backfill_app.reporting.progress"):
        run_command(source=local_source(corpus.folder))
    read_order = [record.args[0] for record in caplog.records if record.msg.startswith("reading")]
    assert read_order == ["tracking.log.2.gz", "tracking.log.1", "tracking.log"]
    progress = [record.getMessage() for record in caplog.records if record.msg.startswith("progress")]
    assert progress[-1].startswith("progress: 100.0% of 0.1 MB read")


def test_a_second_run_writes_nothing_and_the_table_has_no_duplicates(corpus, xapi_table, clickhouse):
    _, first = with_summary(run_command, source=local_source(corpus.folder))
    written = first["statements"]["written"]
    assert written > 100 and first["files"]["already_done"] == 0

    _, second = with_summary(run_command, source=local_source(corpus.folder))  # resumes: every file is done
    assert second["files"]["already_done"] == 3
    assert second["statements"]["written"] == second["lines"]["read"] == 0

    _, third = with_summary(run_command, "--restart", source=local_source(corpus.folder))  # all again: ids known
    assert (third["files"]["already_done"], third["statements"]["written"]) == (0, 0)
    assert third["statements"]["already_present"] == written
    count, distinct = clickhouse.query("SELECT count(), uniqExact(event_id) FROM xapi.xapi_events_all").result_rows[0]
    assert count == distinct == written


def test_a_range_holding_many_statements_is_searched_by_id_lists_and_nothing_is_written_twice(
    corpus, xapi_table, clickhouse, monkeypatch
):
    # Above IDS_READ_WHOLE rows in a batch's time range (a busy hour of the live pipeline) the
    # ids are looked for in lists; the corpus is small, so the threshold is lowered to reach it.
    written = with_summary(run_command, source=local_source(corpus.folder))[1]["statements"]["written"]
    monkeypatch.setattr("backfill_app.clickhouse.xapi_queries.IDS_READ_WHOLE", 1)
    _, again = with_summary(run_command, "--restart", source=local_source(corpus.folder))
    assert again["statements"]["written"] == 0
    assert again["statements"]["already_present"] == written
    count, distinct = clickhouse.query("SELECT count(), uniqExact(event_id) FROM xapi.xapi_events_all").result_rows[0]
    assert count == distinct == written


def test_duplicated_lines_in_the_logs_give_one_row(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path, days=1, events_per_day=10, with_faults=False)
    log = corpus.folder / "tracking.log"
    log.write_text(log.read_text() * 3)
    _, summary = with_summary(run_command, "--batch_size", "4", source=local_source(corpus.folder))
    assert len(xapi_table()) == summary["statements"]["written"] == len(corpus.erb_statements())
    assert summary["statements"]["already_present"] == 2 * len(corpus.erb_statements())


def test_dry_run_transforms_and_counts_but_writes_nothing(corpus, xapi_table):
    output, summary = with_summary(run_command, "--dry_run", source=local_source(corpus.folder))
    assert xapi_table() == []
    assert summary["dry_run"] is True and summary["statements"]["written"] == len(corpus.erb_statements())
    assert summary["lines"]["bad"] == len(corpus.faults)
    # The count is of statements that would be written: the wording says so.
    assert summary_value(output, "Statements would be written (dry run)") == str(len(corpus.erb_statements()))


def test_crlf_endings_and_a_bare_json_line_are_read(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path, days=1, events_per_day=6, with_faults=False)
    bare = [line.split(" - ", 1)[1] for line in corpus.valid_lines]
    (corpus.folder / "tracking.log").write_bytes(("\r\n".join(bare) + "\r\n").encode())
    _, summary = with_summary(run_command, source=local_source(corpus.folder))
    assert summary["lines"]["bad"] == 0 and summary["lines"]["read"] == len(bare)
    assert len(xapi_table()) == len(corpus.erb_statements())


def test_an_invalid_utf8_byte_is_replaced_counted_and_the_event_still_transformed(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path, days=1, events_per_day=5, with_faults=False)
    lines = [line.encode() for line in corpus.valid_lines]
    lines[2] = lines[2].replace(b' - {"', b' - {"note": "caf\xe9", "', 1)  # a Latin-1 byte
    assert b"caf\xe9" in lines[2]
    (corpus.folder / "tracking.log").write_bytes(gzip.compress(b"\n".join(lines)))
    (corpus.folder / "tracking.log").rename(corpus.folder / "tracking.log-20240301.gz")
    _, summary = with_summary(run_command, source=local_source(corpus.folder))
    assert summary["lines"]["invalid_utf8"] == 1
    assert summary["lines"]["bad"] == 0
    assert len(xapi_table()) == len(corpus.erb_statements())


def test_logs_hold_no_raw_line_username_or_secret(corpus, xapi_table, caplog):
    source = local_source(corpus.folder)
    with caplog.at_level(logging.DEBUG):
        run_command(source=source)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "reading tracking.log" in logged
    assert "learner" not in logged  # usernames
    assert "987654" not in logged and "course-v1-broken" not in logged  # content of bad lines
    assert "[tracking]" not in logged


def test_no_statement_is_logged_even_where_the_lms_logs_every_live_one(corpus, xapi_table, caplog):
    from django.test import override_settings

    with override_settings(XAPI_EVENT_LOGGING_ENABLED=True), caplog.at_level(logging.DEBUG):
        _, summary = with_summary(run_command, source=local_source(corpus.folder))
    assert summary["statements"]["written"] > 100
    assert [record for record in caplog.records if record.name == "xapi_tracking"] == []
    assert not any('"verb"' in record.getMessage() for record in caplog.records)


def test_logs_of_users_missing_from_the_database_get_a_hint(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path, days=1, events_per_day=30, with_faults=False)
    get_user_model().objects.all().delete()
    output, summary = with_summary(run_command, source=local_source(corpus.folder))
    assert summary["lines"]["bad_by_reason"]["unknown_user"] >= 25
    assert "HINT: most events name users missing from the database" in output


def test_the_pause_between_batches_is_taken_between_batches_only(tmp_path, db, xapi_table, monkeypatch):
    corpus = build_corpus(tmp_path, days=1, events_per_day=30, with_faults=False)
    pauses, batches = [], []
    monkeypatch.setattr("backfill_app.tracking.pipeline.time.sleep", pauses.append)
    real_write = ClickHouseSink.write
    monkeypatch.setattr(
        ClickHouseSink, "write", lambda sink, statements: batches.append(1) or real_write(sink, statements)
    )
    out = io.StringIO()
    source = json.dumps(local_source(corpus.folder))
    summary_path = tmp_path / "summary.json"
    call_command(
        "transform_tracking_logs",
        f"--source_config={source}",
        "--source_provider=LOCAL",
        "--destination_provider=CLICKHOUSE",
        "--transformer_type=xapi",
        "--batch_size=10",
        "--sleep_between_batches_secs=2.5",
        f"--summary_json={summary_path}",
        stdout=out,
    )
    assert summary_json(summary_path)["statements"]["written"] >= 30
    assert len(batches) >= 3
    assert pauses == [2.5] * (len(batches) - 1)


def test_users_are_looked_up_by_the_block_not_by_the_event(tmp_path, db, xapi_table):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    corpus = build_corpus(tmp_path, days=2, events_per_day=600, with_faults=False)
    with CaptureQueriesContext(connection) as queries:
        _, summary = with_summary(run_command, source=local_source(corpus.folder))
    events = summary["events"]["transformed"]
    user_queries = [q["sql"] for q in queries if "auth_user" in q["sql"] or "externalid" in q["sql"]]
    assert events > 1000
    # Per block of 1,000 lines: users by id, their external ids, the missing ones created and read back.
    assert len(user_queries) <= 6 * 2 + 5, user_queries[:8]
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())


def test_a_cut_gz_file_is_reported_and_the_rest_is_written(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    (cut,) = [path for path in corpus.folder.iterdir() if path.name == "tracking.log.2.gz"]
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # a copy interrupted halfway
    dead = tmp_path / "dead.jsonl"
    output, summary = with_summary(run_command, f"--dead_letter_path={dead}", source=local_source(corpus.folder))

    assert summary["files"]["failed_by_reason"] == {"truncated_gzip": 1}
    assert (summary["files"]["read"], summary["files"]["total"], summary["outcome"]) == (2, 3, "completed")
    assert summary_value(output, "Files not fully read (truncated_gzip)") == "1"
    (entry,) = dead_letters(str(dead))
    assert entry["source"] == "tracking.log.2.gz" and entry["reason"] == "truncated_gzip"
    assert "lines up to" in entry["detail"] and entry["line"] is None
    stored = {row["event_id"] for row in xapi_table()}
    assert stored < set(corpus.erb_statements())
    # The other files whole, and the lines of the cut file before the cut.
    assert len(stored) > len(corpus.erb_statements()) * 2 // 3


def test_every_event_verified_against_erb_finds_no_difference_and_the_summary_counts_the_paths(corpus, xapi_table):
    output, summary = with_summary(run_command, "--verify_sample", "1", source=local_source(corpus.folder))
    events = summary["events"]
    transformed = events["transformed"]
    assert transformed > 100
    assert (events["direct"], events["by_erb"], events["verified"], events["direct_off"]) == (
        transformed, 0, transformed, None
    )  # fmt: skip
    verified = f"{transformed} of the fast path's also by ERB, the same (--verify_sample)"
    assert summary_value(output, "by the fast path") == f"{transformed}, by ERB's transformer: 0; {verified}"
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())


def test_without_the_fast_path_erb_transforms_everything_and_the_statements_are_the_same(corpus, xapi_table, settings):
    settings.BACKFILL_DIRECT_STATEMENTS = False
    _, summary = with_summary(run_command, source=local_source(corpus.folder))
    events = summary["events"]
    assert events["direct"] == 0 and events["by_erb"] == events["transformed"] > 100
    assert events["direct_off"] == "BACKFILL_DIRECT_STATEMENTS is False"
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())


def test_a_fast_path_statement_unlike_erbs_stops_the_run_naming_the_event_type(
    corpus, xapi_table, tmp_path, monkeypatch
):
    # A fault no real component makes on demand: a builder that writes one value wrong.
    from backfill_app.transform.direct import builders

    def wrong_length(reader):
        parts = builders.video_interaction(reader)
        parts.extra_extensions = {"https://w3id.org/xapi/video/extensions/length": -1.0}
        return parts

    video_class = builders.video.VideoInteractionTransformers
    monkeypatch.setitem(builders.BUILDERS, video_class, wrong_length)
    dead_letter_path = tmp_path / "dead.jsonl"
    message, summary = failing_with_summary(
        run_command,
        "--verify_sample",
        "1",
        "--dead_letter_path",
        str(dead_letter_path),
        source=local_source(corpus.folder),
    )
    assert (summary["outcome"], summary["exit_code"], summary["message"]) == ("stopped", 1, message)
    assert summary["lines"]["bad_by_reason"]["fast_path_differs"] == 1
    assert summary["dead_letter_path"] == str(dead_letter_path)
    assert "the fast path made a statement for a" in message and "differs from ERB's" in message
    assert "BACKFILL_DIRECT_STATEMENTS = False" in message
    assert "context.extensions" in message and "-1.0" not in message  # where, never the values
    (kept,) = [entry for entry in dead_letters(dead_letter_path) if entry["reason"] == "fast_path_differs"]
    assert json.loads(kept["line"][kept["line"].index("{") :])["name"] in message


def test_a_run_refused_writes_why_and_nothing_else(corpus, xapi_table, tmp_path):
    message, summary = failing_with_summary(run_command, "--batch_size", "0", source=local_source(corpus.folder))
    assert message == "--batch_size must be at least 1."
    assert summary == {
        "command": "transform_tracking_logs", "schema": 1, "outcome": "refused", "exit_code": 1, "message": message,
    }  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    message, summary = failing_with_summary(run_command, source=local_source(empty))
    assert message.startswith("No files found at ")
    assert (summary["outcome"], summary["exit_code"], summary["message"]) == ("refused", 1, message)


def test_gaps_only_with_nothing_to_do_writes_a_summary_of_zeros(corpus, xapi_table):
    written = with_summary(run_command, source=local_source(corpus.folder))[1]["statements"]["written"]
    output, summary = with_summary(run_command, "--gaps_only", source=local_source(corpus.folder))
    assert "No gaps" in output
    assert (summary["outcome"], summary["exit_code"]) == ("nothing_to_do", 0)
    assert summary["destination"].startswith("xapi.xapi_events_all in the embedded ClickHouse at ")
    assert summary["files"]["read"] == summary["lines"]["read"] == summary["statements"]["written"] == 0
    assert len(xapi_table()) == written


def test_an_earlier_runs_document_is_removed_when_a_run_starts_and_a_crash_leaves_none(
    corpus, xapi_table, tmp_path, monkeypatch
):
    path = tmp_path / "summary.json"
    run_command(f"--summary_json={path}", source=local_source(corpus.folder))
    assert summary_json(path)["outcome"] == "completed"

    def crash(job):
        raise RuntimeError("a crash no message was written for")

    monkeypatch.setattr("backfill_app.tracking.job.TrackingLogJob.run", crash)
    with pytest.raises(RuntimeError):
        run_command(f"--summary_json={path}", source=local_source(corpus.folder))
    assert not path.exists()  # never the earlier run's document, read as this one's


def test_a_summary_path_that_cannot_be_written_is_refused_before_the_run(corpus, xapi_table, tmp_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    with pytest.raises(CommandError, match=f"--summary_json: cannot write {folder} "):
        run_command(f"--summary_json={folder}", source=local_source(corpus.folder))
    assert xapi_table() == []
