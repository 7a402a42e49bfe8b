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
from tests.commands import (
    dead_letters,
    failing_with_summary,
    local_source,
    output_and_summary,
    output_of,
    ralph_config,
    run_command,
    with_summary,
)
from tests.older_erb import FIXTURES, TODAY, release_statements, seed_platform
from tests.services import post_statements

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


def test_find_xapi_gaps_drift_names_the_hours_and_classes_an_older_erb_left(tmp_path, clickhouse, xapi_table):
    seed_platform()
    load_into_table(clickhouse, "9.0.1")
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    source = json.dumps(local_source(logs))

    output, summary = output_and_summary(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={source}", "--drift"
    )

    today = release_statements(TODAY)
    held = {entry["id"]: json.dumps(entry["statement"]) for entry in release_statements("9.0.1")}
    expected = compare([(entry["id"], json.dumps(entry["statement"])) for entry in today], held)
    hours = Counter()
    for drift in expected.drifted:
        moment = datetime.fromisoformat(today[drift.position]["statement"]["timestamp"])
        hours[moment.replace(minute=0, second=0, microsecond=0).isoformat(), drift.kind] += 1
    found = {(row["hour"], kind): row[kind] for row in summary["hours"] for kind in (STALE, OTHER_ID) if row[kind]}
    assert found == dict(hours)
    assert summary["totals"] == {
        "same": len(expected.present),
        STALE: sum(1 for drift in expected.drifted if drift.kind == STALE),
        OTHER_ID: sum(1 for drift in expected.drifted if drift.kind == OTHER_ID),
        "missing": 0,
    }
    assert summary["drifted_hours"] == len({hour for hour, _ in hours})
    assert "Hours holding an older ERB's statements" in output


def test_find_xapi_gaps_drift_says_no_drift_where_the_table_holds_todays_statements(tmp_path, clickhouse, xapi_table):
    seed_platform()
    load_into_table(clickhouse, TODAY)
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")

    output, summary = output_and_summary(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}", "--drift"
    )

    assert summary["drifted_hours"] == 0 and summary["drift"] == []
    assert summary["totals"]["same"] == len(release_statements(TODAY))
    assert "No drift" in output


def colours_drawn(png) -> set[str]:
    """The bar colours of --drift's plot found in the PNG's pixels."""
    import matplotlib.image
    from matplotlib.colors import to_rgb

    from backfill_app.tracking.gap_finder.plot import DRIFT_BARS

    pixels = {
        tuple(round(channel * 255) for channel in pixel[:3]) for row in matplotlib.image.imread(png) for pixel in row
    }
    return {kind for kind, _, colour in DRIFT_BARS if tuple(round(c * 255) for c in to_rgb(colour)) in pixels}


@pytest.mark.parametrize(("release", "drawn"), [("9.0.1", {"same", STALE, OTHER_ID}), (TODAY, {"same"})])
def test_find_xapi_gaps_drift_draws_each_hours_classes(release, drawn, tmp_path, clickhouse, xapi_table):
    seed_platform()
    load_into_table(clickhouse, release)
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    plot = tmp_path / "drift.png"

    output, summary = output_and_summary(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}", "--drift",
        f"--plot={plot}",
    )  # fmt: skip

    assert summary["plot"] == str(plot) and f"Plot: {plot}" in output
    assert colours_drawn(plot) == drawn


def test_through_an_lrs_holding_an_older_erbs_statements_no_event_is_posted_twice(tmp_path, ralph):
    seed_platform()
    post_statements(ralph, [entry["statement"] for entry in release_statements("9.0.1")])
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    dead = tmp_path / "dead.jsonl"

    _, summary = with_summary(
        run_command, f"--dead_letter_path={dead}", "--batch_size=50", source=local_source(logs),
        destination=("--destination_provider", "LRS", "--destination_config", json.dumps(ralph_config(ralph))),
    )  # fmt: skip

    # Ralph holds what it held: one statement per event, none posted again under another id.
    held = ralph.read_statements()
    assert sorted(statement["id"] for statement in held) == sorted(entry["id"] for entry in release_statements("9.0.1"))
    today = release_statements(TODAY)
    by_id = {entry["id"]: json.dumps(entry["statement"]) for entry in release_statements("9.0.1")}
    expected = compare([(entry["id"], json.dumps(entry["statement"])) for entry in today], by_id)
    kinds = Counter(drift.kind for drift in expected.drifted)
    statements = summary["statements"]
    assert (statements["stale"], statements["other_id"]) == (kinds[STALE], kinds[OTHER_ID]) != (0, 0)
    assert (statements["written"], statements["already_present"]) == (0, len(expected.present))
    set_aside = [entry for entry in dead_letters(str(dead)) if entry["reason"] == "same_event_other_id"]
    assert len(set_aside) == kinds[OTHER_ID]


def test_an_lrs_listing_more_than_it_can_read_is_compared_by_id_only_and_said(tmp_path, ralph, monkeypatch):
    from backfill_app.sinks import lrs

    seed_platform()
    post_statements(ralph, [entry["statement"] for entry in release_statements("9.0.1")])
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    monkeypatch.setattr(lrs, "HELD_READ_WHOLE", 10)  # Ralph here holds 204, not 10,000

    output, summary = with_summary(
        run_command, source=local_source(logs),
        destination=("--destination_provider", "LRS", "--destination_config", json.dumps(ralph_config(ralph))),
    )  # fmt: skip

    statements = summary["statements"]
    assert statements["compared_by_id_only"] == len(release_statements(TODAY))
    assert statements["stale"] == statements["other_id"] == 0
    assert "Statements compared by id only: 204" in output


def test_an_lrs_that_does_not_answer_one_listing_costs_that_batch_its_comparison_not_the_run(
    tmp_path, ralph, monkeypatch
):
    import requests

    seed_platform()
    post_statements(ralph, [entry["statement"] for entry in release_statements("9.0.1")])
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    real_get, listings = requests.Session.get, []

    # Ralph cannot be made to time out once on demand: the fault is injected here.
    def get(session, url, params=None, **kwargs):
        if params and "since" in params:
            listings.append(url)
            if len(listings) == 1:
                raise requests.ConnectionError("injected: connection reset")
        return real_get(session, url, params=params, **kwargs)

    monkeypatch.setattr(requests.Session, "get", get)
    _, summary = with_summary(
        run_command, "--batch_size=50", source=local_source(logs),
        destination=("--destination_provider", "LRS", "--destination_config", json.dumps(ralph_config(ralph))),
    )  # fmt: skip

    statements = summary["statements"]
    assert statements["compared_by_id_only"] == 50  # the first batch only
    assert len(listings) == 5 and statements["stale"] + statements["other_id"] > 0


def test_an_lrs_pointing_its_next_page_to_another_host_is_not_followed_with_its_credentials():
    from backfill_app.sinks.lrs import LrsEndpoint, _statements_page

    class Answer:
        status_code = 200

        def json(self):
            return {"statements": [], "more": "https://elsewhere.example/xAPI/statements?page=2"}

    asked = []

    class Session:  # an LRS that answers so cannot be had on demand: its answer is made here
        def get(self, url, **kwargs):
            asked.append(url)
            return Answer()

    endpoint = LrsEndpoint(url="http://ralph:8100/xAPI/statements", username="u", password="p")
    page = _statements_page(Session(), endpoint, endpoint.url, {"since": "x"})
    assert page.statements is None and asked == [endpoint.url]


def test_find_xapi_gaps_drift_over_a_range_holding_too_many_says_it_compared_ids_only(
    tmp_path, clickhouse, xapi_table, monkeypatch
):
    from backfill_app.clickhouse import xapi_queries

    seed_platform()
    load_into_table(clickhouse, "9.0.1")
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    monkeypatch.setattr(xapi_queries, "IDS_READ_WHOLE", 10)  # the suite's table holds 204, not 50,000

    output, summary = output_and_summary(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}", "--drift"
    )

    assert summary["compared_by_id_only"] == len(release_statements(TODAY))
    assert summary["totals"]["stale"] == summary["totals"]["other_id"] == 0
    assert "Compared by id only (over 10 statements in a time range): 204" in output


def test_find_xapi_gaps_drift_given_an_archive_asks_for_the_logs(tmp_path, xapi_table):
    from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIX, statement_file_content
    from backfill_app.transform.statements import Statement

    archive = tmp_path / "archive"
    archive.mkdir()
    older = [
        Statement(entry["id"], datetime.fromisoformat(entry["statement"]["timestamp"]), json.dumps(entry["statement"]))
        for entry in release_statements("9.0.1")
    ]
    (archive / f"older{STATEMENT_FILE_SUFFIX}").write_bytes(statement_file_content(older))

    message, refused = failing_with_summary(
        output_of, "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(archive))}",
        "--drift",
    )  # fmt: skip
    assert message == "--drift compares what today's ERB makes of tracking logs: give the logs."
    assert refused["outcome"] == "refused"


def test_a_celery_tasks_counts_from_the_release_before_drift_are_absorbed():
    from backfill_app.reporting.summary import READ_COUNTS, RunSummary

    # What a task of 43c861c (before the drift counts) sends back.
    earlier = {**dict.fromkeys(READ_COUNTS, 1), "statements_written": 5, "statements_already_present": 2,
               "statements_rejected": 0, "bad_lines": {"not_json": 1}, "files_failed": {}}  # fmt: skip
    summary = RunSummary.from_counts(earlier)
    assert (summary.statements_written, summary.statements_replaced, summary.drift) == (5, 0, Counter())
    one_release_later = {**earlier, "drift": [["other_id", "registered", "the actor was the staff", 3]]}
    assert RunSummary.from_counts(one_release_later).drift == {
        ("other_id", "registered", "the actor was the staff", False): 3
    }
