"""Bad options and config end with one sentence saying what to fix, never a traceback or a secret."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

# A run checks the databases it uses before anything else: every test has its database.
pytestmark = pytest.mark.django_db


def transform(**options):
    args = {
        "source_provider": "LOCAL",
        "source_config": json.dumps({"key": "/tmp", "container": "does-not-matter", "prefix": ""}),
        "destination_provider": "CLICKHOUSE",
        "transformer_type": "xapi",
        "sleep_between_batches_secs": 0,
    }
    args.update(options)
    call_command("transform_tracking_logs", stdout=io.StringIO(), **args)


@pytest.fixture
def log_folder(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "tracking.log").write_text("")
    return {"key": str(tmp_path), "container": "logs", "prefix": ""}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"source_config": "{not json"}, "--source_config is not valid JSON"),
        ({"source_config": "[1, 2]"}, "--source_config must be a JSON object"),
        ({"source_config": json.dumps({"key": "/tmp", "prefix": ""})}, "--source_config must define 'container'"),
        ({"source_provider": "DROPBOXX"}, "--source_provider 'DROPBOXX' is not a libcloud storage provider"),
        ({"destination_config": "{oops"}, "--destination_config is not valid JSON"),
        ({"destination_config": json.dumps({"hots": "x"})}, "unknown keys for CLICKHOUSE: hots"),
        ({"transformer_type": "caliper"}, "The CLICKHOUSE destination stores xAPI statements"),
        ({"destination_provider": "LRS"}, "No enabled xAPI route in RouterConfiguration"),
        (
            {"destination_provider": "LRS", "destination_config": json.dumps({"url": "ftp://x"})},
            "must be an http(s) URL",
        ),
        ({"batch_size": 0}, "--batch_size must be at least 1"),
        ({"verify_sample": 1.5}, "--verify_sample is a share of events, from 0 (none) to 1 (all)"),
        ({"lrs_urls": ["http://lrs.example.com"]}, "--lrs-urls applies to the LRS destination only"),
    ],
)
@pytest.mark.django_db
def test_bad_options_give_a_one_line_error(options, message):
    with pytest.raises(CommandError) as error:
        transform(**options)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_a_missing_local_folder_is_named(tmp_path):
    with pytest.raises(CommandError, match="Container 'nope' does not exist"):
        transform(source_config=json.dumps({"key": str(tmp_path), "container": "nope", "prefix": ""}))


def test_no_files_under_the_prefix_is_said(log_folder):
    with pytest.raises(CommandError, match=r"No files found at local:logs/nothing-here\*"):
        transform(source_config=json.dumps(dict(log_folder, prefix="nothing-here")))


def test_an_unreachable_clickhouse_is_named_without_its_password(log_folder):
    config = {"url": "http://127.0.0.1:1", "username": "backfill", "password": "s3cret-Pa55"}
    with pytest.raises(CommandError) as error:
        transform(source_config=json.dumps(log_folder), destination_config=json.dumps(config))
    assert "Cannot reach ClickHouse at http://127.0.0.1:1" in str(error.value)
    assert "s3cret-Pa55" not in str(error.value)


def test_a_password_in_the_url_is_not_repeated_in_the_error(log_folder):
    config = {"url": "http://backfill:s3cret-Pa55@127.0.0.1:1"}
    with pytest.raises(CommandError) as error:
        transform(source_config=json.dumps(log_folder), destination_config=json.dumps(config))
    assert "s3cret-Pa55" not in str(error.value)
    assert "backfill" not in str(error.value)


def test_a_missing_table_on_the_target_is_named_not_created(log_folder, clickhouse):
    with pytest.raises(CommandError, match="Table xapi.no_such_table does not exist"):
        transform(source_config=json.dumps(log_folder), destination_config=json.dumps({"table": "no_such_table"}))
    assert clickhouse.command("EXISTS TABLE xapi.no_such_table") in (0, "0")


@pytest.mark.django_db
def test_a_database_without_our_tables_is_told_to_migrate(log_folder):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE backfill_app_sourcecheckpoint")  # rolled back after the test
    with pytest.raises(CommandError, match="run `./manage.py migrate backfill_app`"):
        transform(source_config=json.dumps(log_folder))
