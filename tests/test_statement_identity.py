"""
The same statement ids as the live pipeline, or a refusal: a run whose LMS root URL or
XAPI_AGENT_IFI_TYPE differs from those that made the destination's statements writes nothing,
and says which setting differs, both values and how to set it.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests import services
from tests.commands import local_source, ralph_config, run_command, summary_value
from tests.corpus_fixtures import build_corpus
from tests.tables import assert_table_holds_exactly

OTHER_LMS = "https://lms.example.com"


@pytest.fixture
def corpus(tmp_path, db):
    return build_corpus(tmp_path, days=2, events_per_day=120, with_faults=False)


def count(clickhouse) -> int:
    return clickhouse.query("SELECT count() FROM xapi.xapi_events_all").result_rows[0][0]


def home_pages(clickhouse) -> set[str]:
    rows = clickhouse.query(
        "SELECT DISTINCT JSONExtractString(event, 'actor', 'account', 'homePage') FROM xapi.xapi_events_all"
    )
    return {home_page for (home_page,) in rows.result_rows}


def test_a_run_with_another_lms_root_url_refuses_before_writing_and_names_both_values(corpus, xapi_table, clickhouse):
    first = run_command(source=local_source(corpus.folder))
    written = int(summary_value(first, "Statements written"))
    assert written == count(clickhouse) > 100
    assert "other settings" not in first  # an empty destination: nothing to compare, nothing said

    with override_settings(LMS_ROOT_URL=OTHER_LMS), pytest.raises(CommandError) as refused:
        run_command("--restart", source=local_source(corpus.folder))
    message = str(refused.value)
    assert "homePage http://localhost:18000" in message and f"homePage {OTHER_LMS}" in message
    assert "Set BACKFILL_LMS_ROOT_URL=http://localhost:18000" in message and "Nothing was written" in message
    assert "--allow_other_statement_ids" in message
    assert count(clickhouse) == written

    again = run_command("--restart", source=local_source(corpus.folder))  # the matching URL
    assert summary_value(again, "Statements written") == "0"
    assert summary_value(again, "Statements already present (not written again)") == str(written)
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())


def test_a_table_of_statements_made_with_another_xapi_agent_ifi_type_is_refused_naming_it(
    corpus, xapi_table, clickhouse
):
    with override_settings(XAPI_AGENT_IFI_TYPE="mbox"):
        run_command(source=local_source(corpus.folder))
    held = count(clickhouse)
    assert held > 100 and home_pages(clickhouse) == {""}  # mbox actors: no account
    with pytest.raises(CommandError) as refused:
        run_command("--restart", source=local_source(corpus.folder))
    assert "actors identified by mbox (XAPI_AGENT_IFI_TYPE mbox)" in str(refused.value)
    assert "Set XAPI_AGENT_IFI_TYPE = 'mbox'" in str(refused.value)
    assert count(clickhouse) == held


def test_the_override_writes_with_a_warning_and_find_xapi_gaps_names_the_doubled_hour(
    corpus, xapi_table, clickhouse, tmp_path
):
    run_command(source=local_source(corpus.folder))
    before = count(clickhouse)
    hour = xapi_table()[0]["emission_time"].replace(minute=0, second=0, microsecond=0)
    one_hour = ("--start", f"{hour:%Y-%m-%dT%H:%M}", "--end", f"{hour:%Y-%m-%dT%H}:59:59.999999")
    with override_settings(LMS_ROOT_URL=OTHER_LMS):
        doubled = run_command("--restart", "--allow_other_statement_ids", *one_hour, source=local_source(corpus.folder))
    assert "WARNING:" in doubled and "--allow_other_statement_ids was given: writing anyway" in doubled
    extra = int(summary_value(doubled, "Statements written"))
    assert extra > 0 and count(clickhouse) == before + extra

    out = io.StringIO()
    plot = tmp_path / "gaps.png"
    call_command(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(corpus.folder))}",
        f"--plot={plot}", stdout=out,
    )  # fmt: skip
    report = out.getvalue()
    assert "Hours where ClickHouse holds more statements than the logs can give: 1" in report
    surplus_row = next(line for line in report.splitlines() if line.startswith(f"{hour:%Y-%m-%d %H}:00"))
    assert surplus_row.split()[-1] == str(extra)  # every statement written again is named
    assert "likely doubles" in report and "No gaps" in report and plot.stat().st_size > 0


@override_settings(BACKFILL_LMS_ROOT_URL_GIVEN=False)
def test_unset_the_root_url_is_refused_on_an_empty_destination_and_taken_from_one_that_agrees(
    corpus, xapi_table, clickhouse
):
    with pytest.raises(CommandError) as refused:
        run_command(source=local_source(corpus.folder))
    assert "BACKFILL_LMS_ROOT_URL is not set" in str(refused.value) and "holds no statement" in str(refused.value)
    assert "BACKFILL_LMS_ROOT_URL=https://lms.example.com" in str(refused.value)  # how to set it
    assert count(clickhouse) == 0
    dry = run_command("--dry_run", source=local_source(corpus.folder))  # writes nothing: said, and allowed
    assert "BACKFILL_LMS_ROOT_URL is not set: statements are made with http://localhost:18000" in dry

    with override_settings(LMS_ROOT_URL=OTHER_LMS, BACKFILL_LMS_ROOT_URL_GIVEN=True):  # the live pipeline's
        run_command("--end", "2024-03-01T12:00", source=local_source(corpus.folder))
    output = run_command("--start", "2024-03-01T12:00", source=local_source(corpus.folder))
    assert f"BACKFILL_LMS_ROOT_URL is not set: using {OTHER_LMS}, the homePage of the statements" in output
    assert home_pages(clickhouse) == {OTHER_LMS}


def test_an_lrs_holding_statements_of_another_root_url_is_refused(corpus, ralph):
    with override_settings(LMS_ROOT_URL=OTHER_LMS):
        run_command(source=local_source(corpus.folder), destination=lrs(ralph))
    held = len(ralph.read_statements())
    with pytest.raises(CommandError) as refused:
        run_command("--restart", source=local_source(corpus.folder), destination=lrs(ralph))
    assert f"LRS {ralph.url}/xAPI/" in str(refused.value) and f"homePage {OTHER_LMS}" in str(refused.value)
    assert services.RALPH_PASSWORD not in str(refused.value)
    assert len(ralph.read_statements()) == held


def lrs(ralph) -> tuple[str, ...]:
    return ("--destination_provider", "LRS", "--destination_config", json.dumps(ralph_config(ralph)))
