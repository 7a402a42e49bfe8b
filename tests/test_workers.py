"""--workers: transformation in processes, one writer; the result is exactly that of one process."""

from __future__ import annotations

import gzip

import pytest
from django.test import override_settings

from backfill_app.sources.storage import rotation_order
from tests.corpus_fixtures import build_corpus
from tests.test_transform_command import dead_letters, local_source, run_command, summary_value

# The workers are other processes: they see only committed rows (hence a transactional test),
# and the migration's rows (external id types) are put back afterwards.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_two_workers_write_exactly_the_statements_of_one_process_and_set_aside_every_fault(tmp_path, xapi_table):
    corpus = build_corpus(tmp_path, days=3, events_per_day=120)
    dead = tmp_path / "dead.jsonl"
    output = run_command(
        "--workers=2", "--batch_size=50", f"--dead_letter_path={dead}", source=local_source(corpus.folder)
    )
    assert "Transforming in 2 processes" in output
    assert {row["event_id"]: row["event"] for row in xapi_table()} == corpus.erb_statements()
    assert {entry["line"]: entry["reason"] for entry in dead_letters(str(dead))} == corpus.faults
    assert summary_value(output, "Files").startswith("3 of 3 read")
    assert int(summary_value(output, "Statements written")) == len(corpus.erb_statements())

    again = run_command("--workers=2", source=local_source(corpus.folder))
    assert "3 already done by an earlier run" in summary_value(again, "Files")
    assert summary_value(again, "Statements written") == "0"


def test_workers_dry_run_counts_like_one_process(tmp_path, xapi_table):
    corpus = build_corpus(tmp_path, days=2, events_per_day=60, with_faults=False)
    one = run_command("--dry_run", "--workers=1", source=local_source(corpus.folder))
    two = run_command("--dry_run", "--workers=2", source=local_source(corpus.folder))
    for label in ("Lines", "Events transformed", "Statements would be written (dry run)", "Skipped as unsupported"):
        assert summary_value(one, label) == summary_value(two, label), label
    assert xapi_table() == []
    assert summary_value(two, "Bad lines") == "0"


def test_workers_read_from_s3_each_with_its_own_connection(s3_server, tmp_path, xapi_table):
    from libcloud.storage.providers import get_driver
    from libcloud.storage.types import Provider

    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    driver = get_driver(Provider.S3)(**s3_server)
    container = driver.create_container("logs-for-workers")
    for path in sorted(corpus.folder.iterdir()):
        driver.upload_object(str(path), container, f"tracking/{path.name}")
    source = dict(s3_server, container=container.name, prefix="tracking/")
    output = run_command("--workers=2", source=source, provider="S3")
    assert "Transforming in 2 processes" in output
    assert {row["event_id"]: row["event"] for row in xapi_table()} == corpus.erb_statements()


def test_one_large_file_is_shared_by_workers_in_byte_ranges(tmp_path, xapi_table):
    from django.test import override_settings

    corpus = build_corpus(tmp_path, days=3, events_per_day=150)
    files = sorted(corpus.folder.iterdir(), key=lambda path: rotation_order(path.name))
    joined = b"".join(gzip.decompress(p.read_bytes()) if p.suffix == ".gz" else p.read_bytes() for p in files)
    for path in files:
        path.unlink()
    (corpus.folder / "tracking.log").write_bytes(joined)
    size = len(joined)
    dead = tmp_path / "dead.jsonl"
    with override_settings(BACKFILL_RANGE_BYTES=size // 7):
        output = run_command("--workers=2", f"--dead_letter_path={dead}", source=local_source(corpus.folder))
        again = run_command("--workers=2", source=local_source(corpus.folder))
    assert {row["event_id"]: row["event"] for row in xapi_table()} == corpus.erb_statements()
    assert summary_value(output, "Files") == f"1 of 1 read ({size / 1e6:.1f} MB)"
    assert int(summary_value(output, "Lines")) == len(corpus.valid_lines) + len(corpus.faults)
    faults = {entry["line"]: entry["reason"] for entry in dead_letters(str(dead))}
    assert faults == corpus.faults
    assert "1 already done by an earlier run" in summary_value(again, "Files")
    assert summary_value(again, "Statements written") == "0"


def test_without_workers_given_the_number_chosen_and_why_are_said(tmp_path, xapi_table):
    corpus = build_corpus(tmp_path, days=2, events_per_day=30, with_faults=False)
    with override_settings(BACKFILL_WORKERS=None):
        output = run_command("--dry_run", source=local_source(corpus.folder))
    # This machine's CPUs (or its container's quota) decide: a number, and the reason.
    assert "(the default: " in output and "--workers sets another number" in output
    assert "CPUs this process may use" in output or "cgroup" in output
