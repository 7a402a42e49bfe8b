"""
Every line that ever stopped a run, or that the property-based tests (test_any_line.py) found
failing, kept as a plain regression test: alone among valid events, the line is set aside with
its reason, every other statement is ERB's, a rerun adds nothing and does not stop, and the
gap finder and --gaps_only read it too.
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from backfill_app.sources.tracking_log import parse_tracking_line
from backfill_app.transform.statements import StatementTransformer
from tests.commands import dead_letters, local_source, run_command, summary_value
from tests.corpus_fixtures import Corpus, build_corpus
from tests.tables import assert_table_holds_exactly


def _user(value, where: str = "context"):
    """The event's user read by ERB (data.user_id, then user_id, then username) is ``value``."""

    def change(record: dict) -> dict:
        record = {**record, "context": {**record["context"], "user_id": None}}
        payload = {key: item for key, item in record["event"].items() if key not in ("user_id", "username")}
        record["event"] = {**payload, "user_id": value} if where == "payload" else payload
        if where == "context":
            record["context"]["user_id"] = value
        record.pop("username", None)
        if where == "username":
            record["username"] = value
        return record

    return change


# name -> (how a valid record is changed, the reason it is set aside for)
ODD_LINES = {
    "username_an_object": (_user({"value": "x"}, where="username"), "bad_user_key"),
    "user_id_a_list": (_user([7]), "bad_user_key"),
    "user_id_a_list_in_the_payload": (_user([7], where="payload"), "bad_user_key"),
    "username_a_lone_surrogate": (_user("\ud800", where="username"), "bad_user_key"),
    "user_id_beyond_64_bits": (_user(9223372036854775808), "bad_user_key"),
    "user_id_a_superscript_digit": (_user("\u00b2"), "unknown_user"),
    "name_an_object": (lambda record: {**record, "name": {"a": 1}}, "unsupported"),
    "time_in_year_0_once_in_utc": (lambda record: {**record, "time": "0001-01-01T00:00:00+01:00"}, "bad_timestamp"),
    "time_null": (lambda record: {**record, "time": None}, "no_timestamp"),
    # Written, and looked up again, with a 4-digit year; the gap finder's last hour does not overflow.
    "time_in_year_5": (lambda record: {**record, "time": "0005-06-01T00:00:00+00:00"}, "written"),
    "time_in_the_last_hour_of_year_9999": (lambda record: {**record, "time": "9999-12-31T23:30:00+00:00"}, "written"),
}


def _line(record: dict) -> str:
    return json.dumps(record)


@pytest.fixture
def log(tmp_path, db):
    """A log of valid events; the odd line goes in its middle."""
    return build_corpus(tmp_path, days=1, events_per_day=80, with_faults=False)


def _with_odd_line(corpus, odd_text: str):
    path = corpus.folder / "tracking.log"
    lines = path.read_text().splitlines()
    lines.insert(5, odd_text)
    path.write_text("\n".join(lines) + "\n")
    return 6  # its line number


def _template(corpus) -> dict:
    """A valid event of the log, of a user and course that exist, as the odd line's base."""
    records = [json.loads(line.split(" - ", 1)[1]) for line in corpus.valid_lines]
    return next(r for r in records if r["name"] == "edx.course.enrollment.activated")


def _check(corpus, odd_text: str, reason: str, xapi_table, tmp_path) -> None:
    number = _with_odd_line(corpus, odd_text)
    dead = tmp_path / "dead.jsonl"
    output = run_command("--batch_size=3", f"--dead_letter_path={dead}", source=local_source(corpus.folder))
    rows = xapi_table()
    written = [odd_text] if reason == "written" else []  # an odd line ERB makes a statement of
    assert_table_holds_exactly(rows, Corpus(corpus.folder, corpus.valid_lines + written).erb_statements())
    if reason == "written":
        assert not dead.exists()
    elif reason == "unsupported":
        transformer = StatementTransformer("xapi")
        unsupported = sum(not transformer.is_supported(parse_tracking_line(line)) for line in corpus.valid_lines)
        assert int(summary_value(output, "Skipped as unsupported")) == unsupported + 1
        assert not dead.exists()
    else:
        (entry,) = dead_letters(str(dead))
        assert (entry["line_number"], entry["reason"]) == (number, reason)

    again = run_command("--restart", source=local_source(corpus.folder))
    assert summary_value(again, "Statements written") == "0"
    assert len(xapi_table()) == len(rows)

    gaps = io.StringIO()
    call_command(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(corpus.folder))}",
        stdout=gaps,
    )  # fmt: skip
    assert "No gaps" in gaps.getvalue()
    assert "nothing to do" in run_command("--gaps_only", source=local_source(corpus.folder))


@pytest.mark.parametrize("case", sorted(ODD_LINES))
def test_an_odd_line_is_set_aside_and_the_run_goes_on(case, log, xapi_table, tmp_path):
    change, reason = ODD_LINES[case]
    _check(log, _line(change(_template(log))), reason, xapi_table, tmp_path)


def test_a_number_of_4400_digits_is_a_bad_line(log, xapi_table, tmp_path):
    text = _line({**_template(log), "x": "HUGE"}).replace('"HUGE"', "9" * 4400)
    _check(log, text, "bad_json", xapi_table, tmp_path)


def test_json_nested_deeper_than_the_parser_goes_is_a_bad_line(log, xapi_table, tmp_path):
    text = _line({**_template(log), "x": "DEEP"}).replace('"DEEP"', "[" * 5_000 + "]" * 5_000)
    _check(log, text, "bad_json", xapi_table, tmp_path)


def test_a_nan_that_would_reach_a_statement_is_set_aside_as_not_json(log, xapi_table, tmp_path):
    # ERB's statement would hold NaN: not JSON, no LRS takes it, Aspects' queries cannot read it.
    video = json.loads(next(line for line in log.valid_lines if '"pause_video"' in line).split(" - ", 1)[1])
    video["event"] = {**video["event"], "currentTime": float("nan")}
    _check(log, _line(video), "statement_not_json", xapi_table, tmp_path)
