"""
Resuming: a killed run, a dropped storage connection, an object that changed. Each ends
with exactly the rows of a clean run, without FINAL.
"""

from __future__ import annotations

import gzip
import json
import logging
import re

import pytest
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from backfill_app.core.errors import DestinationUnavailable
from backfill_app.sinks.clickhouse import ClickHouseSink
from tests.commands import failing_with_summary, local_source, run_command, summary_json, with_summary
from tests.corpus_fixtures import build_corpus, write_corpus
from tests.services.tcp_cutter import ConnectionCutter
from tests.standalone_project import kill_and_rerun
from tests.tables import assert_table_holds_exactly


@pytest.fixture
def third_write_fails(monkeypatch):
    """The third batch write fails as if ClickHouse went away; returns a function that heals it."""
    real_write, writes = ClickHouseSink.write, []

    def fail_third_write(sink, statements):
        writes.append(len(statements))
        if len(writes) == 3:
            raise DestinationUnavailable("injected: the destination went away")
        return real_write(sink, statements)

    monkeypatch.setattr(ClickHouseSink, "write", fail_third_write)
    return lambda: monkeypatch.setattr(ClickHouseSink, "write", real_write)


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_at_several_points_and_rerun_the_table_equals_a_clean_run(seeded_project, tmp_path, workers):
    project = seeded_project
    logs = tmp_path / "logs"
    write_corpus(logs, days=3, events_per_day=1500)
    summary_path = tmp_path / "summary.json"
    args = [
        "transform_tracking_logs",
        "--source_provider=LOCAL",
        f"--source_config={json.dumps(local_source(logs))}",
        "--destination_provider=CLICKHOUSE",
        "--transformer_type=xapi",
        # The fast path transforms this corpus in less than the command's start-up: pauses
        # between batches spread the run, so that kills land mid-run and not before it began.
        "--sleep_between_batches_secs=0.2",
        "--batch_size=300",
        f"--workers={workers}",
        f"--summary_json={summary_path}",
    ]
    project.manage(*args, clickhouse="clean")
    clean = project.rows("clean")
    assert clean["count"] == clean["distinct"] > 3000
    assert summary_json(summary_path)["statements"]["written"] == clean["count"]

    def held_and_no_document() -> tuple[int, int]:
        # A killed run leaves no document: the clean run's went when the killed one started.
        assert not summary_path.exists()
        rows = project.rows("killed")
        return rows["count"], rows["distinct"]

    kill_and_rerun(project, args, "killed", held=held_and_no_document)
    finished = summary_json(summary_path)
    assert finished["outcome"] == "completed" and finished["files"]["resumed"] >= 1
    after = project.rows("killed")
    assert after["rows"] == clean["rows"]
    assert after["count"] == after["distinct"] == clean["count"]


def test_a_dropped_s3_connection_is_resumed_from_the_last_byte(s3_server, tmp_path, db, xapi_table, caplog):
    corpus = build_corpus(tmp_path, days=1, events_per_day=300, with_faults=False)
    log = corpus.folder / "tracking.log"
    log.write_bytes(log.read_bytes() * 40)  # 12 MB: more than one answer chunk of the S3 server
    driver = get_driver(Provider.S3)(**s3_server)
    container = driver.create_container("logs-cut-connection")
    driver.upload_object(str(log), container, "tracking.log")
    size = log.stat().st_size

    cutter = ConnectionCutter(s3_server["port"], cut_after_bytes=size // 2, cuts=2)
    try:
        source = dict(s3_server, port=cutter.port, container=container.name, prefix="")
        with caplog.at_level(logging.WARNING, logger="backfill_app.sources.lines"):
            _, summary = with_summary(run_command, source=source, provider="S3")
    finally:
        cutter.close()
    assert cutter.cuts_done == 2
    # Each read after a cut asks for the byte where the reader stopped, not for the object again.
    stopped_at = [int(re.search(r"from byte (\d+)", record.getMessage())[1]) for record in caplog.records]
    starts = [start for path, start in cutter.reads if path.split("?")[0].endswith("/tracking.log")]
    assert starts == [0, *stopped_at] and 0 < stopped_at[0] < stopped_at[1] < size
    assert summary["files"]["storage_reconnects"] == 2
    assert summary["lines"]["bad"] == 0
    assert summary["lines"]["read"] == 40 * len(corpus.valid_lines)  # no line read twice or lost
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())


def test_a_plain_file_resumes_at_its_checkpoint_offset_and_a_changed_file_is_read_again(
    tmp_path, db, xapi_table, third_write_fails
):
    corpus = build_corpus(tmp_path, days=1, events_per_day=120, with_faults=False)
    message, stopped = failing_with_summary(run_command, "--batch_size=40", source=local_source(corpus.folder))
    assert (stopped["outcome"], stopped["exit_code"], stopped["message"]) == ("stopped", 1, message)
    assert stopped["statements"]["written"] == len(xapi_table()) == 80  # two batches of 40
    third_write_fails()  # healed

    resumed = with_summary(run_command, "--batch_size=40", source=local_source(corpus.folder))[1]
    total_lines = len(corpus.valid_lines)
    assert resumed["files"]["resumed"] == 1
    assert 0 < resumed["lines"]["read"] < total_lines  # the range read skipped the done part
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())

    log = corpus.folder / "tracking.log"
    log.write_text(log.read_text() + log.read_text().splitlines()[0] + "\n")  # the file changed
    again = with_summary(run_command, source=local_source(corpus.folder))[1]
    assert (again["files"]["resumed"], again["lines"]["read"]) == (0, total_lines + 1)  # read again from its start
    assert again["statements"]["written"] == 0


def test_a_gz_file_resumes_by_skipping_the_lines_already_written(tmp_path, db, xapi_table, third_write_fails):
    corpus = build_corpus(tmp_path, days=1, events_per_day=120, with_faults=False)
    plain = corpus.folder / "tracking.log"
    (corpus.folder / "tracking.log-20240301.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    _, stopped = failing_with_summary(run_command, "--batch_size=40", source=local_source(corpus.folder))
    third_write_fails()  # healed
    written_before = len(xapi_table())
    assert stopped["outcome"] == "stopped" and stopped["statements"]["written"] == written_before

    resumed = with_summary(run_command, "--batch_size=40", source=local_source(corpus.folder))[1]
    assert resumed["files"]["resumed"] == 1
    assert 0 < resumed["lines"]["read"] < len(corpus.valid_lines)
    assert resumed["statements"]["already_present"] == 0
    assert resumed["statements"]["written"] == len(corpus.erb_statements()) - written_before
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
