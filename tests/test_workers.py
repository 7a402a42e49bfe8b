"""--workers: transformation in processes, one writer; the result is exactly that of one process."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from backfill_app.models import SourceCheckpoint
from backfill_app.sources.storage import rotation_order
from backfill_app.tracking.run.capacity import default_worker_budget
from backfill_app.tracking.run.fork_server import forks_safely
from tests.commands import dead_letters, local_source, run_command, summary_value
from tests.corpus_fixtures import build_corpus
from tests.services.tcp_cutter import ConnectionCutter
from tests.tables import assert_table_holds_exactly

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
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
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


def test_workers_read_their_files_from_s3_each_file_once(s3_server, tmp_path, xapi_table):
    from libcloud.storage.providers import get_driver
    from libcloud.storage.types import Provider

    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    driver = get_driver(Provider.S3)(**s3_server)
    container = driver.create_container("logs-for-workers")
    for path in sorted(corpus.folder.iterdir()):
        driver.upload_object(str(path), container, f"tracking/{path.name}")
    proxy = ConnectionCutter(s3_server["port"], cut_after_bytes=0, cuts=0)  # records the reads, cuts none
    try:
        source = dict(s3_server, port=proxy.port, container=container.name, prefix="tracking/")
        output = run_command("--workers=2", source=source, provider="S3")
    finally:
        proxy.close()
    assert "Transforming in 2 processes" in output
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
    # Each file read once, by the worker it was given to (the command itself reads none of them).
    names = [path.split("?")[0].rsplit("/", 1)[1] for path, _ in proxy.reads]
    assert sorted(name for name in names if name.startswith("tracking.log")) == sorted(
        path.name for path in corpus.folder.iterdir()
    )


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
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
    assert summary_value(output, "Files") == f"1 of 1 read ({size / 1e6:.1f} MB)"
    assert int(summary_value(output, "Lines")) == len(corpus.valid_lines) + len(corpus.faults)
    faults = {entry["line"]: entry["reason"] for entry in dead_letters(str(dead))}
    assert faults == corpus.faults
    assert "1 already done by an earlier run" in summary_value(again, "Files")
    assert summary_value(again, "Statements written") == "0"
    # Shared in ranges, each with its own checkpoint: together they are the file, once.
    ranges = sorted(
        tuple(int(bound) for bound in name.rsplit("@", 1)[1].split("-"))
        for name in SourceCheckpoint.objects.values_list("object_name", flat=True)
    )
    assert len(ranges) == -(-size // (size // 7)) > 2
    assert ranges[0][0] == 0 and ranges[-1][1] == size
    assert all(end == next_start for (_, end), (next_start, _) in zip(ranges, ranges[1:], strict=False))
    assert all(entry["source"].startswith("tracking.log@") for entry in dead_letters(str(dead)))


def test_without_workers_given_the_number_chosen_and_why_are_said(tmp_path, xapi_table):
    corpus = build_corpus(tmp_path, days=2, events_per_day=30, with_faults=False)
    with override_settings(BACKFILL_WORKERS=None):
        output = run_command("--dry_run", source=local_source(corpus.folder))
    # This machine's CPUs (or its container's quota) decide: a number, and the reason.
    assert f"(the default: {default_worker_budget().reason}; --workers sets another number)" in output


def test_without_a_fork_server_the_workers_are_spawned_and_the_run_is_the_same(
    tmp_path, xapi_table, monkeypatch, caplog
):
    from multiprocessing import forkserver

    def no_socket_here():
        raise OSError("injected: no room for the fork server's socket")

    corpus = build_corpus(tmp_path, days=2, events_per_day=60, with_faults=False)
    one = run_command("--dry_run", "--workers=1", source=local_source(corpus.folder))
    assert not forks_safely()  # this process runs the embedded engine's threads (xapi_table): a server is needed
    monkeypatch.setattr(forkserver, "ensure_running", no_socket_here)  # a fault no real setup gives on demand
    two = run_command("--dry_run", "--workers=2", source=local_source(corpus.folder))
    assert "Transforming in 2 processes" in two
    assert "no fork server for the workers" in caplog.text
    for label in ("Lines", "Events transformed", "Statements would be written (dry run)"):
        assert summary_value(one, label) == summary_value(two, label), label


FORK_CHECKS = """
import sys, threading
from backfill_app.tracking.run.fork_server import forks_safely
alone = forks_safely()
stop = threading.Event()
thread = threading.Thread(target=stop.wait)
thread.start()
with_a_thread = forks_safely()
stop.set()
thread.join()
import clickhouse_connect
client = clickhouse_connect.get_client(dsn="chdb://" + sys.argv[1])
with_the_engine = forks_safely()
print(alone, with_a_thread, with_the_engine)
"""


def test_workers_are_forks_of_the_command_only_while_no_other_thread_runs_in_it(tmp_path):
    """A fork copies other threads' locks as they stand, held or not: then a fork server is used."""
    checks = [sys.executable, "-c", FORK_CHECKS, str(tmp_path / "clickhouse")]
    answers = subprocess.run(checks, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert answers.stdout.split() == ["True", "False", "False"]
