"""
Two copies of one log (logrotate's copytruncate, an archive restored twice) read by a run whose
workers write themselves: their time ranges overlap, so one worker reads both, in order, and
each statement reaches the destination once.
"""

from __future__ import annotations

import shutil

import pytest

from backfill_app.sources.storage import LogStore, StorageLocation
from backfill_app.tracking.window import TimeWindow
from backfill_app.tracking.work import BatchOptions, UnitOptions, units_of
from tests.commands import as_sent, load_files, ralph_config, summary_value, to_lrs, transform_to_files
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_holds_exactly, assert_table_holds_exactly

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def corpus_with_a_copy(tmp_path):
    """The corpus's logs, and a copy of its busiest plain file under another name."""
    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    shutil.copy(corpus.folder / "tracking.log.1", corpus.folder / "tracking.log.1.restored")
    return corpus


def test_a_copy_of_a_log_is_read_by_the_worker_that_reads_the_log_and_the_others_alone(tmp_path):
    corpus = corpus_with_a_copy(tmp_path)
    location = StorageLocation("local", corpus.folder.name, "", {"key": str(corpus.folder.parent)})
    store = LogStore(location)
    objects = store.list_objects()
    ranges = TimeWindow()
    ranges.prepare(store, objects)
    options = UnitOptions("xapi", 0.01, BatchOptions(), None, None)

    units = units_of(location, objects, options, range_bytes=10_000, time_ranges=ranges.time_ranges)

    together = [unit for unit in units if len(unit.parts) > 1]
    assert [sorted(part.name for part in unit.parts) for unit in together] == [
        ["tracking.log.1", "tracking.log.1.restored"]
    ]
    assert all(part.range_end is None for part in together[0].parts)  # read whole, one after the other
    # The other logs do not overlap: split into ranges as before, for any worker.
    alone = {part.name for unit in units if len(unit.parts) == 1 for part in unit.parts}
    assert alone == {obj.name for obj in objects} - {"tracking.log.1", "tracking.log.1.restored"}
    assert len(units) > len(alone)  # the plain file left alone is still split into ranges


def test_two_workers_post_each_statement_of_two_copies_once_to_the_lrs(tmp_path, ralph):
    corpus = corpus_with_a_copy(tmp_path)
    output = to_lrs(corpus, "--batch_size=5", "--workers=2", config=ralph_config(ralph))

    assert "each writes its own batches" in output
    expected = corpus.erb_statements()
    assert int(summary_value(output, "Statements written")) == len(expected)
    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], expected)


def test_two_workers_write_files_of_two_copies_that_load_each_statement_once(tmp_path, xapi_table):
    corpus = corpus_with_a_copy(tmp_path)
    destination = {"key": str(tmp_path), "container": "statements", "prefix": "xapi"}
    (tmp_path / "statements").mkdir()
    transform_to_files(corpus, "LOCAL", destination, 5, "--workers=2")

    loaded = load_files("LOCAL", destination)
    expected = corpus.erb_statements()
    assert summary_value(loaded, "Rows inserted") == str(len(expected))
    assert_table_holds_exactly(xapi_table(), expected)
