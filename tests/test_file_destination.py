"""Statement files on S3 (moto server) or a folder, loaded into ClickHouse by ClickHouse itself."""

from __future__ import annotations

import gzip
import io
import json
import os
from datetime import datetime

import pytest
from django.core.management import CommandError, call_command
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from backfill_app.sinks.files import StatementFileSink
from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIXES, statement_file_rows
from backfill_app.sources.storage import StorageLocation
from backfill_app.transform.statements import Statement
from tests.commands import load_files, summary_value, transform_to_files
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_table_holds_exactly


@pytest.fixture
def corpus(tmp_path, db):
    return build_corpus(tmp_path, days=2, events_per_day=50, with_faults=False)


@pytest.fixture
def bucket(s3_server, request):
    driver = get_driver(Provider.S3)(**s3_server)
    name = "statements-" + request.node.name.lower().replace("_", "-")[:40]
    driver.create_container(name)
    return driver, name


def test_files_on_s3_load_into_clickhouse_with_one_command_and_twice_adds_nothing(
    corpus, s3_server, bucket, xapi_table
):
    driver, bucket_name = bucket
    destination = dict(s3_server, container=bucket_name, prefix="xapi")
    output = transform_to_files(corpus, "S3", destination)
    expected = corpus.erb_statements()
    assert int(summary_value(output, "Statements written")) == len(expected)

    names = sorted(obj.name for obj in driver.list_container_objects(driver.get_container(bucket_name)))
    manifest_name = next(name for name in names if name.endswith("manifest.json"))
    manifest = json.loads(b"".join(driver.download_object_as_stream(driver.get_object(bucket_name, manifest_name))))
    assert manifest["statements"] == len(expected)
    assert sorted(entry["name"] for entry in manifest["objects"]) == [n for n in names if n.endswith(".jsonl.zst")]
    # One object per batch (--batch_size 30; an event's statements stay in one batch), not one for all.
    per_object = [entry["statements"] for entry in manifest["objects"]]
    assert (
        len(per_object) > 1 and all(30 <= count < 40 for count in per_object[:-1]) and sum(per_object) == len(expected)
    )

    first_name = manifest["objects"][0]["name"]
    first_row = statement_file_rows(
        first_name, b"".join(driver.download_object_as_stream(driver.get_object(bucket_name, first_name)))
    )[0]
    assert set(json.loads(first_row)) == {"event_id", "emission_time", "event"}

    loaded = load_files("S3", destination)
    assert summary_value(loaded, "Rows inserted") == str(len(expected))
    assert_table_holds_exactly(xapi_table(), expected)

    again = load_files("S3", destination)
    assert summary_value(again, "Rows inserted") == "0"
    assert summary_value(again, "Rows already present") == str(len(expected))
    assert len(xapi_table()) == len(expected)


def test_two_runs_into_one_prefix_never_overwrite_each_other(corpus, tmp_path, xapi_table):
    out_dir = tmp_path / "out"
    (out_dir / "statements").mkdir(parents=True)
    destination = {"key": str(out_dir), "container": "statements", "prefix": "backfill"}
    transform_to_files(corpus, "LOCAL", destination, 1000)
    again = transform_to_files(corpus, "LOCAL", destination, 1000)
    assert "2 already done by an earlier run" in summary_value(again, "Files")
    transform_to_files(corpus, "LOCAL", destination, 1000, "--restart")
    runs = sorted((out_dir / "statements" / "backfill").iterdir())
    assert len(runs) == 2 and runs[0].name != runs[1].name
    assert all((run / "manifest.json").exists() and (run / "xapi-000001.jsonl.zst").exists() for run in runs)
    # The first run's files as an earlier version wrote them (gzip): they load as well.
    for path in runs[0].glob("*.jsonl.zst"):
        rows = statement_file_rows(path.name, path.read_bytes())
        path.with_suffix(".gz").write_bytes(gzip.compress(b"\n".join(rows) + b"\n"))
        path.unlink()

    loaded = load_files("LOCAL", destination)
    expected = corpus.erb_statements()
    assert summary_value(loaded, "Rows inserted") == str(len(expected))
    assert summary_value(loaded, "Rows already present") == str(len(expected))
    assert_table_holds_exactly(xapi_table(), expected)


class Killed(BaseException):
    """The process ends here (kill -9): nothing after it runs, no handler sees it."""


def test_a_local_file_cut_off_mid_write_is_never_taken_for_a_statement_file(corpus, tmp_path, xapi_table, monkeypatch):
    (tmp_path / "out").mkdir()
    destination = {"key": str(tmp_path), "container": "out", "prefix": "xapi"}
    location = StorageLocation.from_options("LOCAL", json.dumps(destination), "--destination_config")
    expected = corpus.erb_statements()
    statements = [
        Statement(statement_id, datetime.fromisoformat(statement["timestamp"]), json.dumps(statement))
        for statement_id, statement in expected.items()
    ]

    def killed_before_the_file_is_whole(*args):
        raise Killed

    with monkeypatch.context() as patched:  # the kill lands once the bytes are written, before the file is whole
        patched.setattr(os, "replace", killed_before_the_file_is_whole)
        with pytest.raises(Killed):
            StatementFileSink(location).write(statements)
    left = [path.name for path in (tmp_path / "out").rglob("*") if path.is_file()]
    assert left and not [name for name in left if name.endswith(STATEMENT_FILE_SUFFIXES)], left

    rerun = StatementFileSink(location)  # what a rerun writes again: the killed batch was never committed
    rerun.write(statements)
    rerun.close()
    loaded = load_files("LOCAL", destination)
    assert summary_value(loaded, "Rows inserted") == str(len(expected))
    assert_table_holds_exactly(xapi_table(), expected)


def test_local_files_for_a_clickhouse_server_that_is_down_name_the_server_and_table(tmp_path):
    """A server cannot read this machine's disk: this process reads local objects for it."""
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "x.jsonl.zst").write_bytes(b"")
    source = {"key": str(tmp_path), "container": "files", "prefix": ""}
    with pytest.raises(CommandError, match=r"^Cannot reach ClickHouse at http://127.0.0.1:1 for xapi.xapi_events_all"):
        call_command(
            "load_xapi_files",
            "--source_provider=LOCAL",
            f"--source_config={json.dumps(source)}",
            "--destination_config",
            json.dumps({"url": "http://127.0.0.1:1"}),
            stdout=io.StringIO(),
        )
