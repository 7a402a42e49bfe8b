"""
Restoring from Aspects' own xAPI archive: objects written as Vector's ``aws_s3`` sink writes them
(tutor-contrib-aspects 6.1.0's ``[sinks.s3_xapi]``: key_prefix ``xapi/%Y/%m/%d/%H/``, the json codec,
newline-delimited, zstd, Vector's object names), of the statements ERB makes, in moto's S3 and in
a local folder. ``find_xapi_gaps`` takes it as its reference, ``load_xapi_files --gaps_only``
restores the missing hour, each statement once, and names what it could not read.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from backfill_app.sources.storage import LogStore, StorageLocation
from tests.commands import dead_letters, failing_with_summary, output_of, with_summary
from tests.corpus_fixtures import build_corpus
from tests.fuzzing import ANY_CHARACTER, HUGE_NUMBER, TIME_VALUES, examples, json_values
from tests.services import by_reference
from tests.tables import assert_table_holds_exactly

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

TABLE = "xapi.xapi_events_all"


def vector_time(statement_timestamp: str) -> str:
    """chrono's ``%+`` of the parsed time, as Vector's remap writes ``emission_time``: RFC 3339 in
    UTC, the fraction in 0, 3 or 6 digits (the statements' times have microseconds at most)."""
    moment = datetime.fromisoformat(statement_timestamp).astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        digits = f"{moment.microsecond:06d}"
        text += "." + (digits[:3] if digits.endswith("000") else digits)
    return text + "+00:00"


def vector_row(statement: dict) -> bytes:
    """One line of the json codec: the event's fields in key order (VRL objects are sorted maps), and
    ``event`` as VRL's ``encode_json`` writes the parsed statement (compact, keys sorted)."""
    event = json.dumps(statement, separators=(",", ":"), sort_keys=True)
    row = {"emission_time": vector_time(statement["timestamp"]), "event": event, "event_id": statement["id"]}
    return json.dumps(row, separators=(",", ":")).encode()


def hour_of(statement: dict) -> datetime:
    return datetime.fromisoformat(statement["timestamp"]).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class VectorArchive:
    """The objects of an archive, by key: two a hour, named as Vector names them, plus the faults."""

    def __init__(self, statements: dict[str, dict]):
        by_hour: dict[datetime, list[dict]] = defaultdict(list)
        for statement in statements.values():
            by_hour[hour_of(statement)].append(statement)
        self.hours = sorted(by_hour)
        self.objects: dict[str, bytes] = {}
        self.hour_objects: dict[datetime, list[str]] = defaultdict(list)
        # The busiest hour is the one the tests delete: every fault is in it.
        faulty = max(self.hours, key=lambda hour: len(by_hour[hour]))
        for hour, in_hour in sorted(by_hour.items()):
            half = len(in_hour) // 2
            parts = [in_hour[:half], in_hour[half:]]
            rows = [[vector_row(statement) for statement in part] for part in parts]
            if hour == faulty:
                rows[0].insert(1, b'{"event_id": "not json')  # a row that is not JSON
                rows[1].append(rows[0][0])  # a statement present in two objects
            for number, part_rows in enumerate(rows):
                key = f"xapi/{hour:%Y/%m/%d/%H}/{int(hour.timestamp()) + number}-{uuid.uuid4()}.log.zst"
                self.objects[key] = zstd.compress(b"\n".join(part_rows) + b"\n")
                self.hour_objects[hour].append(key)
        # One object cut short (an upload that broke): its statements also whole in the first object.
        cut_rows = [vector_row(statement) for statement in parts_of(by_hour[faulty])]
        whole = zstd.compress(b"\n".join(cut_rows) + b"\n")
        cut_key = f"xapi/{faulty:%Y/%m/%d/%H}/{int(faulty.timestamp()) + 2}-{uuid.uuid4()}.log.zst"
        self.objects[cut_key] = whole[: len(whole) // 2]
        self.hour_objects[faulty].append(cut_key)
        self.faulty_hour, self.cut_key = faulty, cut_key

    def write_to_folder(self, folder: Path) -> None:
        for key, data in self.objects.items():
            path = folder / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)


def parts_of(statements: list[dict]) -> list[dict]:
    return statements[: len(statements) // 2]


def run(command: str, provider: str, source: dict, *extra: str) -> str:
    return output_of(command, f"--source_provider={provider}", f"--source_config={json.dumps(source)}", *extra)


def load(provider: str, source: dict, *extra: str) -> tuple[str, dict]:
    """load_xapi_files: what it printed, and its --summary_json document."""
    return with_summary(run, "load_xapi_files", provider, source, *extra)


def find_gaps(provider: str, source: dict, *extra: str) -> dict:
    """find_xapi_gaps' --summary_json document."""
    return with_summary(run, "find_xapi_gaps", provider, source, *extra)[1]


@pytest.fixture
def archive(tmp_path, db):
    corpus = build_corpus(tmp_path / "logs", days=3, events_per_day=40)
    statements = corpus.erb_statements()
    return VectorArchive(statements), statements


@pytest.fixture
def s3_archive(archive, s3_server, request):
    vector_archive, statements = archive
    driver = get_driver(Provider.S3)(**s3_server)
    bucket = driver.create_container("xapi-archive-" + request.node.name.lower().replace("_", "-")[:30])
    for key, data in vector_archive.objects.items():
        driver.upload_object_via_stream(iter([data]), bucket, key)
    source = by_reference(dict(s3_server, container=bucket.name, prefix="xapi/"))  # secrets by reference
    return vector_archive, statements, source


@pytest.fixture(params=["S3", "LOCAL"])
def stored_archive(request, archive, tmp_path):
    """(provider, the archive, its statements, --source_config): in moto's S3, or in a local folder."""
    if request.param == "S3":
        return ("S3", *request.getfixturevalue("s3_archive"))
    vector_archive, statements = archive
    vector_archive.write_to_folder(tmp_path / "archive")
    return "LOCAL", vector_archive, statements, {"key": str(tmp_path), "container": "archive", "prefix": "xapi/"}


def delete_hour(clickhouse, hour: datetime) -> None:
    moment = f"toDateTime64('{hour:%Y-%m-%d %H:%M:%S}', 6, 'UTC')"
    clickhouse.command(
        f"ALTER TABLE {TABLE} DELETE WHERE toStartOfHour(emission_time) = {moment} SETTINGS mutations_sync = 2"
    )


def test_the_missing_hour_is_found_and_restored_from_vectors_archive_each_statement_once(
    stored_archive, xapi_table, clickhouse, tmp_path
):
    provider, vector_archive, statements, source = stored_archive
    first_dead = tmp_path / "first.jsonl"
    _, loaded = load(provider, source, f"--dead_letter_path={first_dead}")
    assert_table_holds_exactly(xapi_table(), statements)
    assert (loaded["command"], loaded["outcome"], loaded["exit_code"]) == ("load_xapi_files", "completed", 0)
    assert loaded["rows"]["inserted"] == len(statements)
    assert loaded["rows"]["already_present"] >= 1  # the statement in two objects, and what the cut one holds
    assert loaded["rows"]["set_aside_by_reason"] == {"not_json": 1}
    assert list(loaded["files"]["cut_short"]) == [vector_archive.cut_key]
    assert loaded["files"]["loaded"] == len(vector_archive.objects) and loaded["gap_hours"] is None
    assert loaded["dead_letter_path"] == str(first_dead)

    delete_hour(clickhouse, vector_archive.faulty_hour)
    in_hour = [s for s in statements.values() if hour_of(s) == vector_archive.faulty_hour]
    assert len(xapi_table()) == len(statements) - len(in_hour) > 0

    plot = tmp_path / "gaps.png"
    summary = find_gaps(provider, source, f"--plot={plot}")
    assert (summary["outcome"], summary["reference"], summary["plot"]) == ("completed", "archive", str(plot))
    assert plot.stat().st_size > 10_000
    hour = vector_archive.faulty_hour.isoformat()
    assert summary["gaps"] == [{"hour": hour, "in_archive": len(in_hour), "in_clickhouse": 0, "missing": len(in_hour)}]
    assert summary["hours_with_statements"] == len(vector_archive.hours) and summary["surpluses"] == []
    # The archive's faults are named: a row that is not JSON, an object cut short.
    assert summary["bad_rows"] == {"not_json": 1} and list(summary["cut_objects"]) == [vector_archive.cut_key]

    dead = tmp_path / "restore.jsonl"
    output, restored = load(provider, source, "--gaps_only", f"--dead_letter_path={dead}")
    assert_table_holds_exactly(xapi_table(), statements)  # one row per id, the archive's statements
    assert (restored["gap_hours"], restored["rows"]["inserted"]) == (1, len(in_hour))
    assert "Hours to restore: 1" in output
    assert restored["rows"]["set_aside"] == 1
    assert restored["files"]["cut_short"][vector_archive.cut_key].startswith("cut short")
    assert f"  {vector_archive.cut_key}: cut short" in output  # the human summary names it too
    reasons = {(entry["source"], entry["reason"]) for entry in dead_letters(dead)}
    names = vector_archive.hour_objects[vector_archive.faulty_hour]
    assert reasons == {(names[0], "not_json"), (vector_archive.cut_key, "object_cut_short")}

    output, again = load(provider, source, "--gaps_only")
    assert "No gaps" in output and "Rows inserted" not in output
    assert (again["outcome"], again["exit_code"], again["gap_hours"], again["rows"]["inserted"]) == (
        "nothing_to_do", 0, 0, 0
    )  # fmt: skip
    assert find_gaps(provider, source)["gaps"] == []
    assert_table_holds_exactly(xapi_table(), statements)


def test_a_window_reads_only_its_hour_folders_of_a_local_archive(archive, xapi_table, clickhouse, tmp_path):
    vector_archive, statements = archive
    vector_archive.write_to_folder(tmp_path / "archive")
    # Two hours in a row, without the faults (the other test's matter).
    chosen = next(
        [first, second]
        for first, second in zip(vector_archive.hours, vector_archive.hours[1:], strict=False)
        if second - first == timedelta(hours=1) and vector_archive.faulty_hour not in (first, second)
    )
    # Every other hour's objects are made unreadable: opened, they would be named in the summary.
    for hour, keys in vector_archive.hour_objects.items():
        if hour not in chosen:
            for key in keys:
                (tmp_path / "archive" / key).write_bytes(b"opened!")
    source = {"key": str(tmp_path), "container": "archive", "prefix": "xapi/"}
    start, end = chosen[0], chosen[-1].replace(minute=59, second=59)
    window = (f"--start={start.isoformat()}", f"--end={end.isoformat()}")

    _, loaded = load("LOCAL", source, *window)
    expected = {i: s for i, s in statements.items() if hour_of(s) in chosen}
    assert_table_holds_exactly(xapi_table(), expected)
    assert loaded["files"] == {
        "loaded": sum(len(vector_archive.hour_objects[h]) for h in chosen), "other": 0, "cut_short": {},
    }  # fmt: skip
    assert loaded["rows"]["set_aside"] == 0

    delete_hour(clickhouse, chosen[1])
    summary = find_gaps("LOCAL", source, *window)
    assert [gap["hour"] for gap in summary["gaps"]] == [chosen[1].isoformat()]
    assert (summary["hours_with_statements"], summary["bad_rows"], summary["cut_objects"]) == (2, {}, {})
    _, restored = load("LOCAL", source, *window, "--gaps_only")
    assert restored["rows"]["inserted"] == sum(1 for s in expected.values() if hour_of(s) == chosen[1])
    assert_table_holds_exactly(xapi_table(), expected)
    _, again = load("LOCAL", source, *window)
    assert (again["rows"]["inserted"], again["rows"]["already_present"]) == (0, len(expected))


def test_clickhouse_reading_the_objects_itself_loads_the_same_and_falls_back_for_what_it_cannot_read(
    s3_archive, xapi_table, clickhouse
):
    """A ClickHouse server reads each object with s3(); the embedded engine stands in for one here."""
    from backfill_app.clickhouse.connection import xapi_table_from_config
    from backfill_app.tracking.xapi_files import XapiFileLoader

    vector_archive, statements, source = s3_archive
    location = StorageLocation.from_options("S3", json.dumps(source), "--source_config")
    store = LogStore(location)
    loader = XapiFileLoader(clickhouse, xapi_table_from_config({}), location, store.read_chunks, clickhouse_reads=True)
    results = {}
    for obj in store.list_objects():
        results[obj.name] = loader.load(obj)
    loader.close()
    assert_table_holds_exactly(xapi_table(), statements)
    # The objects with a fault were read here, row by row: the rest went through ClickHouse whole.
    assert results[vector_archive.cut_key].cut and not results[vector_archive.cut_key].inserted
    faulty_first = vector_archive.hour_objects[vector_archive.faulty_hour][0]
    assert [row.reason for row in results[faulty_first].bad_rows] == ["not_json"]
    assert sum(result.inserted for result in results.values()) == len(statements)


VALID_ROW = {
    "event_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "emission_time": "2024-03-01T10:00:00.5+00:00",
    "event": '{"id": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"}',
}


@st.composite
def archive_lines(draw) -> list[bytes]:
    """Rows of an archive object: valid ones, any JSON value at any field, any value as a row, any bytes."""
    lines = []
    for number in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["valid", "field", "field", "field", "value", "bytes"]))
        row = {**VALID_ROW, "event_id": str(uuid.UUID(int=draw(st.integers(0, 3)) + number * 4))}
        if kind == "field":
            field = draw(st.sampled_from(sorted(row)))
            odd = {
                "emission_time": TIME_VALUES,
                "event": st.one_of(
                    st.text(ANY_CHARACTER, max_size=20), st.sampled_from(['{"a": "\ud800"}', "[1]", "{}"])
                ),
            }.get(field, json_values())
            row[field] = draw(st.one_of(json_values(), odd))
        if kind == "bytes":
            lines.append(draw(st.binary(max_size=120)).replace(b"\n", b" "))
            continue
        value = draw(json_values()) if kind == "value" else row
        lines.append(json.dumps(value).replace(json.dumps(HUGE_NUMBER), "9" * 4400).encode())
    return lines


def oracle(line: bytes) -> tuple[str, str] | None:
    """
    (event_id, emission_time) of a row that is one: its three fields strings, the id a UUID, the time
    ISO 8601, the event a JSON object in UTF-8.
    """
    try:
        row = json.loads(line)
        if not isinstance(row, dict) or not all(isinstance(row.get(key), str) for key in VALID_ROW):
            return None
        if not isinstance(json.loads(row["event"].encode("utf-8")), dict):
            return None
        moment = datetime.fromisoformat(row["emission_time"])
        return str(uuid.UUID(row["event_id"])), (moment.astimezone(UTC) if moment.tzinfo else moment).isoformat()
    except (ValueError, RecursionError, OverflowError):  # a time a UTC clock cannot show (year 1 at +01:00)
        return None


@examples(25)
@given(lines=archive_lines())
def test_any_row_of_an_archive_is_loaded_once_or_set_aside_by_its_line(lines, tmp_path_factory, clickhouse, db):
    folder = tmp_path_factory.mktemp("any-archive")
    (folder / "archive" / "xapi").mkdir(parents=True)
    (folder / "archive" / "xapi" / "1-a.log.zst").write_bytes(zstd.compress(b"\n".join(lines) + b"\n"))
    clickhouse.command(f"TRUNCATE TABLE {TABLE}")
    dead = folder / "dead.jsonl"
    source = {"key": str(folder), "container": "archive", "prefix": "xapi/"}
    run("load_xapi_files", "LOCAL", source, f"--dead_letter_path={dead}")

    valid = {number: oracle(line) for number, line in enumerate(lines, 1) if line.strip()}
    expected_ids = {row[0] for row in valid.values() if row is not None}
    stored = clickhouse.query(f"SELECT toString(event_id) FROM {TABLE}").result_rows
    assert sorted(row[0] for row in stored) == sorted(expected_ids)  # each once
    set_aside = {entry["line_number"] for entry in dead_letters(dead)} if dead.exists() else set()
    assert set_aside == {number for number, row in valid.items() if row is None}


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({"event": '{"a": "\ud800"}'}, "bad_event"),  # a lone surrogate cannot be stored as UTF-8 (it crashed the run)
        ({"event": "[1]"}, "bad_event"),
        ({"emission_time": "0001-01-01T00:00:00+01:00"}, "bad_emission_time"),  # before year 1 in UTC
        ({"emission_time": "yesterday"}, "bad_emission_time"),
        ({"event_id": "not-a-uuid"}, "bad_event_id"),
        ({"event_id": 7}, "not_a_statement_row"),
    ],
)
def test_rows_found_odd_are_set_aside_with_their_reason(changed, reason):
    from backfill_app.sources.statement_objects import BadRow, parse_row

    row = parse_row(json.dumps({**VALID_ROW, **changed}).encode(), 3)
    assert isinstance(row, BadRow) and (row.reason, row.line_number) == (reason, 3)


def test_a_load_stopped_by_clickhouse_says_what_it_loaded_and_a_rerun_loads_the_rest(
    archive, xapi_table, tmp_path, monkeypatch
):
    from backfill_app.core.errors import DestinationUnavailable
    from backfill_app.tracking.xapi_files import XapiFileLoader

    vector_archive, statements = archive
    vector_archive.write_to_folder(tmp_path / "archive")
    source = {"key": str(tmp_path), "container": "archive", "prefix": "xapi/"}
    real_load, loads = XapiFileLoader.load, []

    def failing_from_the_third_object(loader, obj, *arguments):
        # The embedded engine cannot be made to fail on demand: the fault is injected here.
        loads.append(obj.name)
        if len(loads) >= 3:
            raise DestinationUnavailable("insert into the xAPI table failed: injected")
        return real_load(loader, obj, *arguments)

    monkeypatch.setattr(XapiFileLoader, "load", failing_from_the_third_object)
    error, stopped = failing_with_summary(run, "load_xapi_files", "LOCAL", source)
    assert error.endswith("What was loaded is kept: run the same command again to load the rest.")
    assert (stopped["outcome"], stopped["exit_code"], stopped["message"]) == ("stopped", 1, error)
    assert stopped["files"]["loaded"] == 2
    assert stopped["rows"]["inserted"] == len(xapi_table()) > 0

    monkeypatch.setattr(XapiFileLoader, "load", real_load)
    _, rerun = load("LOCAL", source)
    assert (rerun["outcome"], rerun["exit_code"]) == ("completed", 0)
    assert rerun["rows"]["inserted"] == len(statements) - stopped["rows"]["inserted"]
    assert_table_holds_exactly(xapi_table(), statements)


def test_a_location_without_statement_objects_is_refused_naming_what_it_found(tmp_path, db, xapi_table):
    (tmp_path / "archive" / "xapi").mkdir(parents=True)
    (tmp_path / "archive" / "xapi" / "README").write_text("not rows")
    source = {"key": str(tmp_path), "container": "archive", "prefix": "xapi/"}
    error, refused = failing_with_summary(run, "load_xapi_files", "LOCAL", source)
    assert error.startswith("No statement objects (zstd or gzip JSON rows) at ")
    assert (refused["outcome"], refused["exit_code"], refused["message"]) == ("refused", 1, error)
    assert refused["files"] == {"loaded": 0, "other": 1, "cut_short": {}}
    assert xapi_table() == []
