"""Time windows, the gap finder, and backfilling only the gaps."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from django.core.management import CommandError

from demo.corpus import ProductionShape, production_lines, write_rotated_logs
from demo.seed import seed_courses, seed_users
from tests.commands import (
    failing_with_summary,
    local_source,
    output_and_summary,
    output_of,
    run_command,
    summary_value,
)
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_table_holds_exactly


@pytest.fixture
def corpus(tmp_path, db):
    # 2024-03-01, 02, 03: tracking.log.2.gz, tracking.log.1, tracking.log
    return build_corpus(tmp_path, days=3, events_per_day=80, with_faults=False)


def statements_of_day(statements: dict, day: date) -> dict:
    return {key: value for key, value in statements.items() if value["timestamp"].startswith(day.isoformat())}


def find_gaps(corpus, *extra) -> tuple[str, dict]:
    return find_gaps_in(corpus.folder, *extra)


def find_gaps_in(logs, *extra) -> tuple[str, dict]:
    """find_xapi_gaps' output and its --summary_json document."""
    return output_and_summary("find_xapi_gaps", *gap_finder_words(logs), *extra)


def gap_finder_words(logs) -> list[str]:
    return ["--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}"]


def missing_per_gap_hour(summary: dict) -> dict[datetime, int]:
    """The gap hours of a --summary_json document, each with the statements ClickHouse lacks."""
    return {datetime.fromisoformat(gap["hour"]): gap["missing"] for gap in summary["gaps"]}


def printed_gap_hours(output: str, year: str) -> set[datetime]:
    """The hours of the printed table: the lines that begin with ``year``."""
    return {
        datetime.strptime(line[:16], "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        for line in output.splitlines()
        if line[:4] == year
    }


def hour_of(statement: dict) -> datetime:
    return datetime.fromisoformat(statement["timestamp"]).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def test_start_and_end_keep_the_window_and_files_outside_it_are_not_read(corpus, xapi_table):
    output = run_command("--start=2024-03-02", "--end=2024-03-03T00:00:00Z", source=local_source(corpus.folder))
    # tracking.log (2024-03-03) starts after the window: not read. tracking.log.2.gz (03-01) is
    # read: without a date in its name, only reading it tells where it ends.
    assert summary_value(output, "Files").startswith("2 of 3 read")
    assert "1 outside the time window, not read" in summary_value(output, "Files")
    expected = statements_of_day(corpus.erb_statements(), date(2024, 3, 2))
    assert_table_holds_exactly(xapi_table(), expected)
    # 2024 is more than a year before today: Aspects' TTL will drop these downstream.
    assert "older than the Aspects data TTL" in output


def test_a_bad_window_is_a_clear_error(corpus):
    with pytest.raises(CommandError, match="--start 'yesterday' is not an ISO 8601"):
        run_command("--start=yesterday", source=local_source(corpus.folder))
    with pytest.raises(CommandError, match="--start must be before --end"):
        run_command("--start=2024-03-02", "--end=2024-03-01", source=local_source(corpus.folder))


def test_gaps_name_exactly_the_deleted_day_and_gaps_only_restores_it_reading_only_that_day(
    corpus, xapi_table, clickhouse, tmp_path
):
    run_command(source=local_source(corpus.folder))
    expected = corpus.erb_statements()
    assert len(xapi_table()) == len(expected)
    clickhouse.command(
        "ALTER TABLE xapi.xapi_events_all DELETE WHERE toDate(emission_time) = '2024-03-02' SETTINGS mutations_sync = 2"
    )
    assert len(xapi_table()) == len(expected) - len(statements_of_day(expected, date(2024, 3, 2)))

    plot = tmp_path / "gaps.png"
    output, summary = find_gaps(corpus, f"--plot={plot}")
    # The whole day was deleted: each of its hours lacks every statement ERB makes of it.
    day_two = Counter(hour_of(statement) for statement in statements_of_day(expected, date(2024, 3, 2)).values())
    assert missing_per_gap_hour(summary) == day_two and len(day_two) > 10
    assert all(gap["statements_made"] == gap["missing"] and gap["events"] > 0 for gap in summary["gaps"])
    assert summary["hours_checked"] >= len(day_two) and summary["surpluses"] == []
    assert (summary["command"], summary["outcome"], summary["exit_code"]) == ("find_xapi_gaps", "completed", 0)
    assert (summary["reference"], summary["destination"]["table"]) == ("logs", "xapi.xapi_events_all")
    assert summary["plot"] == str(plot)
    assert printed_gap_hours(output, "2024") == set(day_two)  # the text is the same report's
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000

    restored = run_command("--gaps_only", source=local_source(corpus.folder))
    assert "2 outside the time window, not read" in summary_value(restored, "Files")
    assert int(summary_value(restored, "Statements written")) == len(statements_of_day(expected, date(2024, 3, 2)))
    assert_table_holds_exactly(xapi_table(), expected)
    assert find_gaps(corpus)[1]["gaps"] == []
    assert "No gaps" in run_command("--gaps_only", source=local_source(corpus.folder))


def test_with_unknown_users_and_courses_only_the_deleted_day_is_a_gap_and_gaps_only_leaves_none(
    tmp_path, db, xapi_table, clickhouse
):
    users = seed_users(25)
    seed_courses()
    # Far more deleted users, anonymous visitors and deleted courses than in production, so
    # that nearly every hour holds events that can never become statements.
    shape = ProductionShape(unknown_users=0.04, anonymous=0.03, unknown_courses=0.02, deleted_users=6)
    by_day: dict[int, list[str]] = {day: [] for day in range(7)}
    for day, line in production_lines(users, datetime(2026, 5, 4, tzinfo=UTC), 7, 150, shape):
        by_day[day].append(line)
    logs = tmp_path / "logs"
    write_rotated_logs(by_day.items(), logs, 7)
    first_run = run_command(source=local_source(logs))
    assert int(summary_value(first_run, "Bad lines")) > 60
    assert find_gaps_in(logs)[1]["gaps"] == []

    day_hours = {
        hour.replace(tzinfo=UTC)
        for (hour,) in clickhouse.query(
            "SELECT DISTINCT toStartOfHour(emission_time) FROM xapi.xapi_events_all "
            "WHERE toDate(emission_time) = '2026-05-07'"
        ).result_rows
    }
    clickhouse.command(
        "ALTER TABLE xapi.xapi_events_all DELETE WHERE toDate(emission_time) = '2026-05-07' SETTINGS mutations_sync = 2"
    )
    output, summary = find_gaps_in(logs)
    assert set(missing_per_gap_hour(summary)) == day_hours and len(day_hours) > 15
    assert printed_gap_hours(output, "2026") == day_hours
    # Events of users deleted since and of anonymous visitors: counted apart, never a gap.
    without_user = summary["events_without_user"]
    assert without_user > 30 and f"{without_user} events of unknown users (deleted since) or of no user" in output

    run_command("--gaps_only", source=local_source(logs))
    assert find_gaps_in(logs)[1]["gaps"] == []
    assert "No gaps" in run_command("--gaps_only", source=local_source(logs))


def test_a_fast_path_statement_unlike_erbs_stops_the_gap_finder_with_one_line(corpus, xapi_table, monkeypatch):
    # A fault no real component makes on demand: builders that write one extension too many.
    # The table is empty, so every hour is checked by transforming its events (1 % verified).
    from backfill_app.transform.direct import builders

    def one_extension_too_many(builder):
        def wrong(reader):
            parts = builder(reader)
            parts.extra_extensions = {**(parts.extra_extensions or {}), "https://example.com/wrong": 1}
            return parts

        return wrong

    for transformer_class, builder in list(builders.BUILDERS.items()):
        monkeypatch.setitem(builders.BUILDERS, transformer_class, one_extension_too_many(builder))
    message, stopped = failing_with_summary(output_of, "find_xapi_gaps", *gap_finder_words(corpus.folder))
    assert re.search("differs from ERB's .*keys of context.extensions", message)
    assert (stopped["outcome"], stopped["exit_code"], stopped["message"]) == ("stopped", 1, message)


def test_bad_options_are_one_line_and_refused_in_the_summary(corpus, xapi_table, tmp_path):
    words = gap_finder_words(corpus.folder)
    message, refused = failing_with_summary(
        output_of, "find_xapi_gaps", *words, '--destination_config={"tabel": "xapi_events_all"}'
    )
    assert message.startswith("--destination_config has unknown keys for CLICKHOUSE: tabel")
    assert (refused["outcome"], refused["exit_code"], refused["message"]) == ("refused", 1, message)
    message, refused = failing_with_summary(
        output_of, "find_xapi_gaps", *words, "--start=2024-03-02", "--end=2024-03-01"
    )
    assert "--start must be before --end" in message and refused["outcome"] == "refused"
    message, refused = failing_with_summary(output_of, "find_xapi_gaps", *words, f"--plot={tmp_path / 'no' / 'x.png'}")
    assert message.startswith(f"--plot: cannot write {tmp_path / 'no' / 'x.png'}") and refused["outcome"] == "refused"
    (tmp_path / "a-file").write_text("")
    with pytest.raises(CommandError, match="--summary_json: cannot write .*a-file"):
        output_of("find_xapi_gaps", *words, f"--summary_json={tmp_path / 'a-file' / 'x'}")
