"""
A backfill over hours the live pipeline covered with an older ERB release (tests/fixtures/older_erb:
that release's own statements of the same lines): no event written twice, what differs counted
by event and set aside with the id found, the table otherwise unchanged.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import datetime

import pytest

from backfill_app.clickhouse.sql import datetime64, sql_string
from backfill_app.sinks.drift import OTHER_ID, STALE, behind, compare
from tests.commands import dead_letters, local_source, run_command, with_summary
from tests.older_erb import FIXTURES, TODAY, release_statements, seed_platform

pytestmark = pytest.mark.django_db


def load_into_table(clickhouse, release: str) -> None:
    """The release's statements as the live pipeline stored them in xapi_events_all."""
    for entry in release_statements(release):
        statement = entry["statement"]
        moment = datetime.fromisoformat(statement["timestamp"])
        clickhouse.command(
            "INSERT INTO xapi.xapi_events_all (event_id, emission_time, event) VALUES "
            f"('{entry['id']}', {datetime64(moment)}, {sql_string(json.dumps(statement))})"
        )


@pytest.mark.parametrize("release", ["9.0.1", "8.3.1"])
def test_a_backfill_over_an_older_erbs_statements_writes_no_event_twice_and_says_what_differs(
    release, tmp_path, clickhouse, xapi_table
):
    seed_platform()
    load_into_table(clickhouse, release)
    before = {row["event_id"]: row["event"] for row in xapi_table()}
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    dead = tmp_path / "dead.jsonl"

    output, summary = with_summary(run_command, f"--dead_letter_path={dead}", source=local_source(logs))

    # The table is as the live pipeline left it: one row per event, nothing added.
    assert {row["event_id"]: row["event"] for row in xapi_table()} == before
    # What a comparison by event finds, class by class, is what the run counted and set aside.
    today = release_statements(TODAY)
    held = {entry["id"]: json.dumps(entry["statement"]) for entry in release_statements(release)}
    expected = compare([(entry["id"], json.dumps(entry["statement"])) for entry in today], held)
    kinds = Counter(drift.kind for drift in expected.drifted)
    statements = summary["statements"]
    assert (statements["stale"], statements["other_id"]) == (kinds[STALE], kinds[OTHER_ID])
    assert kinds[STALE] and kinds[OTHER_ID]
    assert statements["written"] == 0
    assert statements["already_present"] == len(expected.present)
    by_behaviour = Counter()
    for entry in summary["drift"]:
        by_behaviour[entry["class"], entry["behaviour"]] += entry["statements"]
    assert by_behaviour == Counter((drift.kind, behind(drift.differs_at)) for drift in expected.drifted)
    set_aside = [
        entry for entry in dead_letters(str(dead)) if entry["reason"] in ("stale_statement", "same_event_other_id")
    ]
    assert sorted(json.loads(entry["line"])["id"] for entry in set_aside) == sorted(
        today[drift.position]["id"] for drift in expected.drifted
    )
    found = {drift.found_id for drift in expected.drifted}
    assert all(any(found_id in entry["detail"] for found_id in found) for entry in set_aside)
    assert "Statements held otherwise, by an older ERB" in output


def test_into_an_empty_table_the_same_lines_give_todays_statements(tmp_path, xapi_table):
    seed_platform()
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")

    _, summary = with_summary(run_command, source=local_source(logs))

    today = {entry["id"]: entry["statement"] for entry in release_statements(TODAY)}
    rows = {row["event_id"]: row["event"] for row in xapi_table()}
    assert rows.keys() == today.keys()
    assert summary["statements"]["stale"] == summary["statements"]["other_id"] == 0
