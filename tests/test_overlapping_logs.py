"""
Two copies of one log (logrotate's copytruncate, an archive restored twice) read by a run whose
workers write themselves: their time ranges overlap, so one worker reads both, in order, and
each statement reaches the destination once.

The rule is shown on the units themselves (any ranges, Hypothesis): a statement's id fixes its
time, so two writers can meet the same id only in logs whose ranges overlap, and those are
always one unit. The end-to-end runs show the result in an LRS and in files + load_xapi_files;
the suite has no ClickHouse server (the embedded engine takes one process), and its Ralph
answers one request at a time, so neither can show the race itself.
"""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backfill_app.sources.storage import LogObject, LogStore, StorageLocation
from backfill_app.tracking.window import TimeWindow
from backfill_app.tracking.work import BatchOptions, UnitOptions, overlapping_runs, units_of
from tests.commands import as_sent, load_files, ralph_config, summary_value, to_lrs, transform_to_files
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_holds_exactly, assert_table_holds_exactly

# The workers are other processes: they see only committed rows (hence a transactional test).
workers_see_the_database = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def corpus_with_a_copy(tmp_path):
    """The corpus's logs, and a copy of its busiest plain file under another name."""
    corpus = build_corpus(tmp_path, days=3, events_per_day=60, with_faults=False)
    shutil.copy(corpus.folder / "tracking.log.1", corpus.folder / "tracking.log.1.restored")
    return corpus


@workers_see_the_database
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


@workers_see_the_database
def test_two_workers_post_each_statement_of_two_copies_once_to_the_lrs(tmp_path, ralph):
    corpus = corpus_with_a_copy(tmp_path)
    output = to_lrs(corpus, "--batch_size=5", "--workers=2", config=ralph_config(ralph))

    assert "each writes its own batches" in output
    expected = corpus.erb_statements()
    assert int(summary_value(output, "Statements written")) == len(expected)
    assert_holds_exactly([as_sent(statement) for statement in ralph.read_statements()], expected)


@workers_see_the_database
def test_two_workers_write_files_of_two_copies_that_load_each_statement_once(tmp_path, xapi_table):
    corpus = corpus_with_a_copy(tmp_path)
    destination = {"key": str(tmp_path), "container": "statements", "prefix": "xapi"}
    (tmp_path / "statements").mkdir()
    transform_to_files(corpus, "LOCAL", destination, 5, "--workers=2")

    loaded = load_files("LOCAL", destination)
    expected = corpus.erb_statements()
    assert summary_value(loaded, "Rows inserted") == str(len(expected))
    assert_table_holds_exactly(xapi_table(), expected)


moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2020, 1, 3)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)
time_range = st.one_of(
    st.tuples(moments, moments).map(sorted).map(tuple),
    st.tuples(st.none() | moments, st.none()),  # a range that could not be read: open-ended
)


@given(st.lists(time_range, min_size=1, max_size=12))
def test_any_two_logs_whose_ranges_overlap_are_read_by_one_process_in_order_of_their_first_events(ranges):
    objects = [LogObject(f"log-{index}", size=1, etag=None, handle=None) for index in range(len(ranges))]
    by_name = {obj.name: time for obj, time in zip(objects, ranges, strict=True)}

    runs = overlapping_runs(objects, by_name)

    assert sorted(obj.name for run in runs for obj in run) == sorted(by_name)  # each once
    run_of = {obj.name: index for index, run in enumerate(runs) for obj in run}
    lowest, highest = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    for one, other in itertools.combinations(by_name, 2):
        (first_a, last_a), (first_b, last_b) = by_name[one], by_name[other]
        a = (first_a or lowest, last_a or highest)
        b = (first_b or lowest, last_b or highest)
        if a[0] < b[1] and b[0] < a[1]:  # a moment in both: a statement's id could be in both
            assert run_of[one] == run_of[other], (one, other)
    for run in runs:
        firsts = [by_name[obj.name][0] or lowest for obj in run]
        assert firsts == sorted(firsts)
