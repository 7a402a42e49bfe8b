"""
Two events, one statement id (a learner enrolled in two courses in one request): the first in
log order is kept, the other set aside, and the table is the same whatever the batch size or
the number of workers.
"""

from __future__ import annotations

import gzip
import json

import pytest

from tests.commands import dead_letters, local_source, run_command, summary_value
from tests.corpus_fixtures import build_corpus

# Workers are other processes: they see only committed rows.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

SECOND_COURSE = "course-v1:testX+XAPI101+2019_T2"


def _read(path):
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode().splitlines()


def _write(path, lines):
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def with_second_enrollments(folder) -> list[tuple[str, str]]:
    """After each enrollment, the same learner's enrollment in a second course at the same instant."""
    pairs = []
    for path in sorted(folder.iterdir()):
        lines = []
        for line in _read(path):
            lines.append(line)
            prefix, _, payload = line.partition(" - ")
            record = json.loads(payload)
            if record["name"] == "edx.course.enrollment.activated" and record["context"]["course_id"] != SECOND_COURSE:
                twin = dict(record, context=dict(record["context"], course_id=SECOND_COURSE))
                twin["event"] = dict(record["event"], course_id=SECOND_COURSE)
                lines.append(f"{prefix} - {json.dumps(twin)}")
                pairs.append((path.name, line))
        _write(path, lines)
    return pairs


def table(clickhouse) -> list[tuple[str, str]]:
    return clickhouse.query("SELECT toString(event_id), event FROM xapi.xapi_events_all ORDER BY event_id").result_rows


def test_the_first_of_two_events_with_one_statement_id_is_kept_whatever_the_batches_and_workers(
    tmp_path, clickhouse, xapi_table
):
    corpus = build_corpus(tmp_path, days=3, events_per_day=150, with_faults=False)
    pairs = with_second_enrollments(corpus.folder)
    assert len(pairs) > 10

    tables, set_aside = [], []
    for options in (["--batch_size=1"], ["--batch_size=10000"], ["--workers=2", "--batch_size=7"]):
        clickhouse.command("TRUNCATE TABLE xapi.xapi_events_all")
        dead = tmp_path / f"dead-{len(tables)}.jsonl"
        output = run_command(*options, "--restart", f"--dead_letter_path={dead}", source=local_source(corpus.folder))
        assert summary_value(output, "duplicate_statement_id") == str(len(pairs))
        tables.append(table(clickhouse))
        set_aside.append(sorted((entry["source"], entry["line_number"]) for entry in dead_letters(str(dead))))
    assert tables[0] == tables[1] == tables[2]
    assert set_aside[0] == set_aside[1] == set_aside[2]

    # The kept statement is the first line's: an enrollment in the first course, never the second.
    enrollments = [json.loads(event) for _, event in tables[0] if "verbs/registered" in event]
    assert enrollments and all(SECOND_COURSE not in json.dumps(statement["object"]) for statement in enrollments)
    ids, count = len({event_id for event_id, _ in tables[0]}), len(tables[0])
    assert ids == count == len(corpus.erb_statements())
    entry = dead_letters(str(tmp_path / "dead-0.jsonl"))[0]
    assert SECOND_COURSE in entry["line"] and f"line {entry['line_number'] - 1} of the same file" in entry["detail"]
