"""Tracking logs read from S3 (moto's server on 127.0.0.1) through libcloud's S3 driver."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from tests.corpus_fixtures import build_corpus
from tests.test_transform_command import summary_value


@pytest.fixture
def bucket_with_corpus(s3_server, tmp_path, db):
    corpus = build_corpus(tmp_path)
    driver = get_driver(Provider.S3)(**s3_server)
    container = driver.create_container(f"logs-{tmp_path.name[-20:].lower().replace('_', '-')}")
    for path in sorted(corpus.folder.iterdir()):
        driver.upload_object(str(path), container, f"edx/tracking/{path.name}")
    driver.upload_object(str(path), container, "elsewhere/tracking.log")  # outside the prefix
    return corpus, container.name


def test_logs_on_s3_give_the_same_statements_as_erb(s3_server, bucket_with_corpus, xapi_table):
    corpus, bucket = bucket_with_corpus
    out = io.StringIO()
    source = dict(s3_server, container=bucket, prefix="edx/tracking/")
    call_command(
        "transform_tracking_logs",
        "--source_provider=S3",
        f"--source_config={json.dumps(source)}",
        "--destination_provider=CLICKHOUSE",
        "--transformer_type=xapi",
        "--sleep_between_batches_secs=0",
        "--batch_size=50",
        stdout=out,
    )
    assert {row["event_id"]: row["event"] for row in xapi_table()} == corpus.erb_statements()
    assert summary_value(out.getvalue(), "Files").startswith("3 of 3 read")
    assert s3_server["secret"] not in out.getvalue()
