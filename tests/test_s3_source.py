"""Tracking logs read from S3 (moto's server on 127.0.0.1) through libcloud's S3 driver."""

from __future__ import annotations

import pytest
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from tests.commands import run_command, summary_value
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_table_holds_exactly


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
    source = dict(s3_server, container=bucket, prefix="edx/tracking/")
    output = run_command("--batch_size=50", source=source, provider="S3")
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
    assert summary_value(output, "Files").startswith("3 of 3 read")
    assert s3_server["secret"] not in output
