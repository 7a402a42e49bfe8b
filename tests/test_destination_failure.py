"""ClickHouse failing mid-run: the run stops cleanly, says where, and a rerun completes."""

from __future__ import annotations

import io
import json

import pytest
from clickhouse_connect.driver.exceptions import OperationalError
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.commands import local_source, summary_json
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_table_holds_exactly


def run(corpus, out, summary_path):
    call_command(
        "transform_tracking_logs",
        "--source_provider=LOCAL",
        f"--source_config={json.dumps(local_source(corpus.folder))}",
        "--destination_provider=CLICKHOUSE",
        "--transformer_type=xapi",
        "--sleep_between_batches_secs=0",
        "--batch_size=40",
        f"--summary_json={summary_path}",
        stdout=out,
    )


@override_settings(BACKFILL_RETRY_BASE_DELAY_SECS=0)
def test_insert_failing_mid_run_stops_cleanly_and_a_rerun_completes_without_duplicates(
    tmp_path, db, clickhouse, xapi_table, monkeypatch
):
    corpus = build_corpus(tmp_path, with_faults=False)
    real_insert = clickhouse.raw_insert
    calls = {"count": 0}

    def insert_failing_from_the_third_batch(*args, **kwargs):
        # The embedded engine cannot be made to fail on demand: the fault is injected here.
        calls["count"] += 1
        if calls["count"] >= 3:
            raise OperationalError("Connection refused (injected)")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(clickhouse, "raw_insert", insert_failing_from_the_third_batch)
    out, summary_path = io.StringIO(), tmp_path / "summary.json"
    with pytest.raises(CommandError) as error:
        run(corpus, out, summary_path)
    assert "insert failed" in str(error.value) and "rerun the same command to continue" in str(error.value)
    assert "Everything before tracking.log" in str(error.value)
    stopped = summary_json(summary_path)
    assert (stopped["outcome"], stopped["exit_code"], stopped["message"]) == ("stopped", 1, str(error.value))
    assert stopped["stopped"] and "insert failed" in stopped["stopped"]
    partial = len(xapi_table())
    assert partial == stopped["statements"]["written"] >= 80
    assert f"STOPPED: {stopped['stopped']}" in out.getvalue()  # the human summary says the same
    assert calls["count"] == 2 + 5  # two batches, then five tries of the third

    monkeypatch.setattr(clickhouse, "raw_insert", real_insert)
    run(corpus, io.StringIO(), summary_path)
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
    # The rerun starts after the last line whose statements were written: nothing is sent twice.
    rerun = summary_json(summary_path)
    assert (rerun["outcome"], rerun["exit_code"], rerun["stopped"]) == ("completed", 0, None)
    assert rerun["files"]["resumed"] == 1
    assert rerun["statements"]["already_present"] == 0
    assert rerun["statements"]["written"] == len(corpus.erb_statements()) - partial
    count, distinct = clickhouse.query("SELECT count(), uniqExact(event_id) FROM xapi.xapi_events_all").result_rows[0]
    assert count == distinct
