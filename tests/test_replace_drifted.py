"""
``--replace_drifted``: where Aspects holds an event as an older ERB release made it
(tests/fixtures/older_erb, that release's own statements), today's statement takes its place,
in the raw table and in Aspects' tables downstream (aspects-dbt's materialized views,
tests/aspects_downstream.py), each event once; through an LRS the run is refused in one sentence.
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from collections import Counter
from datetime import datetime

import pytest

from backfill_app.clickhouse.sql import datetime64, sql_string
from backfill_app.sinks.destinations import REPLACE_IN_AN_LRS
from backfill_app.sinks.drift import OTHER_ID, STALE, comparable, compare
from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIX
from tests.aspects_downstream import REFERENCE, DownstreamChain
from tests.commands import (
    failing_with_summary,
    local_source,
    output_and_summary,
    output_of,
    run_command,
    with_summary,
)
from tests.older_erb import (
    FIXTURES,
    TODAY,
    TRANSFORMER,
    as_the_installed_erb_makes_it,
    release_statements,
    seed_platform,
)

pytestmark = pytest.mark.django_db
INTO_ASPECTS_RAW_TABLE = ("--destination_provider", "CLICKHOUSE", "--destination_config", '{"database": "openedx"}')


@pytest.fixture
def aspects(clickhouse):
    """Aspects' raw table with the downstream chain on it, and a reference chain; both dropped after."""
    chains = DownstreamChain(clickhouse), DownstreamChain(clickhouse, REFERENCE)
    for chain in chains:
        chain.drop()
        chain.create()
    yield chains
    for chain in chains:
        chain.drop()


def insert_statements(clickhouse, table: str, statements: list[tuple[str, dict]]) -> None:
    """(id, statement) as the live pipeline stores them (one insert: the views see one block)."""
    rows = []
    for statement_id, statement in statements:
        moment = datetime.fromisoformat(statement["timestamp"])
        rows.append(f"('{statement_id}', {datetime64(moment)}, {sql_string(json.dumps(statement))})")
    clickhouse.command(f"INSERT INTO {table} (event_id, emission_time, event) VALUES {', '.join(rows)}")


def made_by(release: str) -> list[tuple[str, dict]]:
    return sorted((entry["id"], entry["statement"]) for entry in release_statements(release))


def replaced_from(release: str) -> list[tuple[str, dict]]:
    """
    What the table must hold after the replace: today's statement of each event, except where the
    release's equals it but for the transformer version (the same statement: kept, as made).
    """
    today = release_statements(TODAY)
    held = dict(made_by(release))
    comparison = expected_drift(release)
    return sorted(
        (
            entry["id"],
            held[entry["id"]] if position in comparison.present else as_the_installed_erb_makes_it(entry["statement"]),
        )
        for position, entry in enumerate(today)
    )


def raw_rows(clickhouse, table: str) -> list[tuple[str, dict]]:
    rows = clickhouse.query(f"SELECT toString(event_id), event FROM {table}").result_rows
    return sorted((event_id, json.loads(event)) for event_id, event in rows)


def logs_of_the_fixture(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(FIXTURES / "tracking.log", logs / "tracking.log")
    return logs


def expected_drift(release: str):
    today = release_statements(TODAY)
    held = {entry["id"]: json.dumps(entry["statement"]) for entry in release_statements(release)}
    return compare([(entry["id"], json.dumps(entry["statement"])) for entry in today], held)


def test_replacing_leaves_aspects_tables_as_todays_erb_makes_them_and_says_which_need_dbt(
    tmp_path, clickhouse, aspects
):
    ours, reference = aspects
    seed_platform()
    insert_statements(clickhouse, ours.raw, made_by("9.0.1"))
    insert_statements(clickhouse, reference.raw, replaced_from("9.0.1"))
    logs = logs_of_the_fixture(tmp_path)
    tables = ours.tables()
    # Models left out read dbt models that are no materialized views (dim_course_blocks, dim_user_pii): not rendered.
    assert ours.not_created and all("Unknown table expression identifier" in failure for failure in ours.not_created)
    assert ("openedx", "xapi_events_all_parsed") in tables and ("reporting", "dim_most_recent_enrollment") in tables
    differed = [table for table in tables if ours.rows(*table) != reference.rows(*table)]
    assert ("openedx", "enrollment_events") in differed  # the staff as the learner who enrolled

    output, summary = with_summary(
        run_command, "--replace_drifted", source=local_source(logs), destination=INTO_ASPECTS_RAW_TABLE
    )

    # The raw table holds today's statements, each once: what the comparison by event found was replaced;
    # a statement that differs from today's only in its transformer version is the same statement, kept.
    assert raw_rows(clickhouse, ours.raw) == replaced_from("9.0.1")
    todays = dict(made_by(TODAY))
    assert all(comparable(statement) == comparable(todays[statement_id]) for statement_id, statement in raw_rows(
        clickhouse, ours.raw))  # fmt: skip
    expected = expected_drift("9.0.1")
    kinds = Counter(drift.kind for drift in expected.drifted)
    statements = summary["statements"]
    assert (statements["stale"], statements["other_id"]) == (kinds[STALE], kinds[OTHER_ID])
    assert statements["replaced"] == statements["written"] == len(expected.drifted) > 0
    assert all(entry["replaced"] for entry in summary["drift"])
    # Downstream: every table with an event id equals what today's statements give; the others keep the
    # replaced statements' share, and the summary names each, with dbt's command that builds them again.
    by_event_id = {table for table in tables if "event_id" in column_names(clickhouse, *table)}
    assert {("openedx", "xapi_events_all_parsed"), ("openedx", "enrollment_events")} <= by_event_id
    for table in sorted(by_event_id):
        assert ours.most_rows_of_one_event_id(*table) == 1, table
        assert ours.rows(*table) == reference.rows(*table), table
    kept = sorted(set(tables) - by_event_id)
    (note,) = [note for note in summary["notes"] if note.startswith("Replaced ")]
    assert all(f"{database}.{table}" in note for database, table in kept)
    assert 'tutor local do dbt --only_changed False -c "run --full-refresh --select ' in note
    assert set(differed) & set(kept), "no table kept an older statement's share: the note would be needless"
    for table in kept:  # as dbt's full refresh would, on both sides
        ours.rebuild(*table)
        reference.rebuild(*table)
    for table in tables:
        assert ours.rows(*table) == reference.rows(*table), table
    assert "replaced by today's (--replace_drifted)" in output

    # A rerun changes nothing, and find_xapi_gaps --drift finds no drift.
    _, again = with_summary(
        run_command, "--replace_drifted", "--restart", source=local_source(logs), destination=INTO_ASPECTS_RAW_TABLE
    )
    assert (again["statements"]["written"], again["statements"]["replaced"]) == (0, 0)
    assert raw_rows(clickhouse, ours.raw) == replaced_from("9.0.1")
    gaps, drift = output_and_summary(
        "find_xapi_gaps", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}",
        '--destination_config={"database": "openedx"}', "--drift",
    )  # fmt: skip
    assert drift["drifted_hours"] == 0 and "No drift" in gaps


def column_names(clickhouse, database: str, table: str) -> set[str]:
    query = f"SELECT name FROM system.columns WHERE database = '{database}' AND table = '{table}'"
    return {name for (name,) in clickhouse.query(query).result_rows}


def test_statement_files_of_a_replacing_run_replace_when_loaded_and_others_are_set_aside(tmp_path, clickhouse, aspects):
    ours, reference = aspects
    seed_platform()
    insert_statements(clickhouse, ours.raw, made_by("9.0.1"))
    insert_statements(clickhouse, reference.raw, replaced_from("9.0.1"))
    logs = logs_of_the_fixture(tmp_path)
    (tmp_path / "plain").mkdir()
    (tmp_path / "replacing").mkdir()
    for folder, extra in (("plain", ()), ("replacing", ("--replace_drifted",))):
        files = json.dumps({"key": str(tmp_path), "container": folder, "prefix": "run"})
        run_command(*extra, source=local_source(logs), destination=("--destination_provider", "LOCAL",
                    "--destination_config", files))  # fmt: skip
    (manifest,) = (tmp_path / "replacing").rglob("manifest.json")
    assert json.loads(manifest.read_text())["replace_drifted"] is True
    expected = expected_drift("9.0.1")

    def load(folder: str):
        source = json.dumps({"key": str(tmp_path), "container": folder, "prefix": ""})
        return output_and_summary(
            "load_xapi_files", "--source_provider=LOCAL", f"--source_config={source}",
            '--destination_config={"database": "openedx"}',
        )  # fmt: skip

    # Files of a run without --replace_drifted: what the table holds otherwise is set aside, nothing doubled.
    _, plain = load("plain")
    assert plain["rows"]["held_otherwise"] == len(expected.drifted) and plain["rows"]["replaced"] == 0
    assert plain["rows"]["inserted"] == 0
    assert raw_rows(clickhouse, ours.raw) == made_by("9.0.1")
    # The replacing run's files: loaded, they replace, as the run into ClickHouse does.
    output, replacing = load("replacing")
    assert replacing["rows"]["replaced"] == len(expected.drifted) and replacing["rows"]["held_otherwise"] == 0
    assert "statement files of a run with --replace_drifted" in output
    assert raw_rows(clickhouse, ours.raw) == replaced_from("9.0.1")
    for table in ours.tables():
        if "event_id" in column_names(clickhouse, *table):
            assert ours.rows(*table) == reference.rows(*table), table
    _, again = load("replacing")
    assert (again["rows"]["inserted"], again["rows"]["replaced"]) == (0, 0)


def test_clickhouse_reading_files_itself_leaves_rows_it_cannot_rule_out_to_the_comparison_by_event(
    tmp_path, clickhouse, aspects, caplog
):
    """A ClickHouse server reads statement files itself; the embedded engine stands in for it (file())."""
    from backfill_app.clickhouse.connection import xapi_table_from_config
    from backfill_app.sources.storage import LogStore, StorageLocation
    from backfill_app.tracking.xapi_files import XapiFileLoader

    ours, _ = aspects
    seed_platform()
    logs = logs_of_the_fixture(tmp_path)
    (tmp_path / "files").mkdir()
    files = {"key": str(tmp_path), "container": "files", "prefix": ""}
    run_command(source=local_source(logs), destination=("--destination_provider", "LOCAL",
                "--destination_config", json.dumps(files)))  # fmt: skip
    location = StorageLocation.from_options("LOCAL", json.dumps(files), "--source_config")
    store = LogStore(location)
    objects = [obj for obj in store.list_objects() if obj.name.endswith(STATEMENT_FILE_SUFFIX)]

    def load_all(replace: bool) -> list:
        loader = XapiFileLoader(
            clickhouse, xapi_table_from_config({"database": "openedx"}), location, store.read_chunks,
            clickhouse_reads=True,
        )  # fmt: skip
        try:
            return [loader.load(obj, None, replace) for obj in objects if XapiFileLoader.is_candidate(obj)]
        finally:
            loader.close()

    insert_statements(clickhouse, ours.raw, made_by("9.0.1"))
    caplog.set_level("INFO", logger="backfill_app.tracking.xapi_files")
    set_aside = load_all(replace=False)
    assert "compared by event" in caplog.text
    assert sum(len(result.drifted) for result in set_aside) == len(expected_drift("9.0.1").drifted)
    replaced = load_all(replace=True)
    assert sum(len(result.replaced) for result in replaced) == len(expected_drift("9.0.1").drifted)
    assert raw_rows(clickhouse, ours.raw) == replaced_from("9.0.1")
    # Into hours that hold only today's statements, ClickHouse's own load runs: nothing to compare.
    clickhouse.command(f"TRUNCATE TABLE {ours.raw}")
    insert_statements(
        clickhouse,
        ours.raw,
        [(entry_id, as_the_installed_erb_makes_it(statement)) for entry_id, statement in made_by(TODAY)],
    )
    caplog.clear()
    assert all(result.inserted == 0 and not result.drifted for result in load_all(replace=True))
    assert "compared by event" not in caplog.text


def test_replacing_through_an_lrs_is_refused_in_one_sentence_saying_why_and_where_instead(tmp_path):
    message, summary = failing_with_summary(
        run_command, "--replace_drifted", source=local_source(tmp_path),
        destination=("--destination_provider", "LRS", "--destination_config", '{"url": "http://127.0.0.1:9/"}'),
    )  # fmt: skip
    assert message == REPLACE_IN_AN_LRS
    assert (summary["outcome"], summary["exit_code"]) == ("refused", 1)


@pytest.mark.parametrize(
    "failing", ["DELETE FROM `openedx`.`xapi_events_all`", "DELETE FROM `openedx`.`enrollment_events`", "insert"]
)
def test_a_replace_stopped_halfway_leaves_no_event_twice_and_the_rerun_finishes_it(
    failing, tmp_path, clickhouse, aspects, monkeypatch
):
    from clickhouse_connect.driver.exceptions import DatabaseError

    from backfill_app.sinks.drift import event_of

    ours, reference = aspects
    seed_platform()
    insert_statements(clickhouse, ours.raw, made_by("9.0.1"))
    insert_statements(clickhouse, reference.raw, replaced_from("9.0.1"))
    logs = logs_of_the_fixture(tmp_path)
    real_command, real_insert = clickhouse.command, clickhouse.raw_insert

    # The embedded engine cannot be made to fail one statement on demand: the fault is injected here.
    def command(sql, *args, **kwargs):
        if str(sql).startswith(failing):
            raise DatabaseError("injected: the server went away")
        return real_command(sql, *args, **kwargs)

    def raw_insert(table, *args, **kwargs):
        if failing == "insert" and "xapi_events_all" in table:
            raise DatabaseError("injected: the server went away")
        return real_insert(table, *args, **kwargs)

    monkeypatch.setattr(clickhouse, "command", command)
    monkeypatch.setattr(clickhouse, "raw_insert", raw_insert)
    message, stopped = failing_with_summary(
        run_command, "--replace_drifted", source=local_source(logs), destination=INTO_ASPECTS_RAW_TABLE
    )
    monkeypatch.undo()

    assert stopped["outcome"] == "stopped" and "injected" in message
    # Meanwhile no event is there twice, in the raw table or in a table below it.
    events = Counter(event_of(statement) for _, statement in raw_rows(clickhouse, ours.raw))
    assert max(events.values()) == 1
    per_event = "SELECT count() AS n FROM openedx.xapi_events_all_parsed GROUP BY emission_time, verb_id, object_id"
    assert int(real_command(f"SELECT max(n) FROM ({per_event})")) == 1
    # The same command again finishes it: as if nothing had failed.
    _, finished = with_summary(
        run_command, "--replace_drifted", source=local_source(logs), destination=INTO_ASPECTS_RAW_TABLE
    )
    assert finished["outcome"] == "completed"
    assert raw_rows(clickhouse, ours.raw) == replaced_from("9.0.1")
    for table in ours.tables():
        if "event_id" in column_names(clickhouse, *table):
            assert ours.rows(*table) == reference.rows(*table), table


@pytest.mark.parametrize(
    ("held_release", "other_id", "replaced"),
    [("event-routing-backends@9.0.1", 1, True), ("event-routing-backends@99.0.0", 1, False), (None, 0, False)],
)
def test_only_a_statement_of_an_earlier_erb_release_is_replaced_never_one_as_new_as_ours(
    held_release, other_id, replaced, tmp_path, clickhouse, aspects
):
    """
    A statement at the same moment on the same object under another id: an earlier release's is
    replaced; a later release's is kept and ours set aside; one of our own release is another
    learner's event, not paired at all: both are kept.
    """
    ours, _ = aspects
    seed_platform()
    made = [(statement_id, as_the_installed_erb_makes_it(statement)) for statement_id, statement in made_by(TODAY)]
    (chosen_id, chosen), *others = made
    another = copy.deepcopy(chosen)
    another["id"], another["actor"]["account"]["name"] = str(uuid.uuid4()), str(uuid.uuid4())
    if held_release:
        another["context"]["extensions"][TRANSFORMER] = held_release
    insert_statements(clickhouse, ours.raw, [*others, (another["id"], another)])

    _, summary = with_summary(
        run_command, "--replace_drifted", source=local_source(logs_of_the_fixture(tmp_path)),
        destination=INTO_ASPECTS_RAW_TABLE,
    )  # fmt: skip

    held = dict(raw_rows(clickhouse, ours.raw))
    assert summary["statements"]["other_id"] == other_id
    assert summary["statements"]["replaced"] == int(replaced)
    assert (chosen_id in held, another["id"] in held) == (replaced or not other_id, not replaced)


def test_loading_an_older_erbs_statements_with_replace_drifted_never_replaces_todays(tmp_path, clickhouse, aspects):
    """An archive of what an older ERB made live, loaded into a table that holds today's: nothing goes back."""
    from backfill_app.sinks.statement_file_format import statement_file_content
    from backfill_app.transform.statements import Statement

    ours, _ = aspects
    todays = [(statement_id, as_the_installed_erb_makes_it(statement)) for statement_id, statement in made_by(TODAY)]
    insert_statements(clickhouse, ours.raw, todays)
    (tmp_path / "archive").mkdir()
    older = [
        Statement(statement_id, datetime.fromisoformat(statement["timestamp"]), json.dumps(statement))
        for statement_id, statement in made_by("9.0.1")
    ]
    (tmp_path / "archive" / f"older{STATEMENT_FILE_SUFFIX}").write_bytes(statement_file_content(older))
    source = json.dumps({"key": str(tmp_path), "container": "archive", "prefix": ""})

    _, loaded = output_and_summary(
        "load_xapi_files", "--source_provider=LOCAL", f"--source_config={source}", "--replace_drifted",
        '--destination_config={"database": "openedx"}',
    )  # fmt: skip

    assert loaded["rows"]["replaced"] == 0 and loaded["rows"]["held_otherwise"] == len(expected_drift("9.0.1").drifted)
    assert raw_rows(clickhouse, ours.raw) == sorted(todays)


def test_the_tables_fed_from_the_raw_one_are_found_through_any_materialized_view(clickhouse, aspects):
    """A view of the operator's own, with an inner table, is cleaned too; a plain view has no rows to clean."""
    from backfill_app.clickhouse.downstream import downstream_tables

    clickhouse.command(
        "CREATE MATERIALIZED VIEW openedx.own_counts ENGINE = MergeTree ORDER BY event_id "
        "AS SELECT event_id, emission_time FROM openedx.xapi_events_all"
    )
    clickhouse.command("CREATE VIEW openedx.own_view AS SELECT event_id FROM openedx.xapi_events_all")
    try:
        found = {table.table: table for table in downstream_tables(clickhouse, "openedx", "xapi_events_all")}
    finally:
        clickhouse.command("DROP TABLE openedx.own_counts")
        clickhouse.command("DROP TABLE openedx.own_view")
    (inner,) = [name for name in found if name.startswith(".inner")]
    assert found[inner].by_event_id and found[inner].has_emission_time
    assert "own_view" not in found and found["xapi_events_all_parsed"].by_event_id
    assert not found["fact_instance_events"].by_event_id


def test_a_batch_range_holding_too_many_to_read_is_compared_by_id_only_and_said(
    tmp_path, clickhouse, aspects, monkeypatch
):
    from backfill_app.clickhouse import xapi_queries

    ours, _ = aspects
    seed_platform()
    insert_statements(clickhouse, ours.raw, made_by("9.0.1"))
    monkeypatch.setattr(xapi_queries, "IDS_READ_WHOLE", 10)  # the suite's table holds 204, not 50,000

    output, summary = with_summary(
        run_command, "--replace_drifted", source=local_source(logs_of_the_fixture(tmp_path)),
        destination=INTO_ASPECTS_RAW_TABLE,
    )  # fmt: skip

    statements = summary["statements"]
    assert statements["compared_by_id_only"] == len(release_statements(TODAY))
    assert statements["replaced"] == statements["stale"] == statements["other_id"] == 0
    assert "Statements compared by id only: 204" in output and "a smaller --batch_size" in output


def test_a_replacing_runs_files_loaded_with_gaps_only_replace_in_the_gap_hours(tmp_path, clickhouse, aspects):
    ours, _ = aspects
    seed_platform()
    logs = logs_of_the_fixture(tmp_path)
    (tmp_path / "replacing").mkdir()
    files = json.dumps({"key": str(tmp_path), "container": "replacing", "prefix": "run"})
    run_command("--replace_drifted", source=local_source(logs), destination=("--destination_provider", "LOCAL",
                "--destination_config", files))  # fmt: skip
    today = release_statements(TODAY)
    expected = expected_drift("9.0.1")
    hour_of = {entry["id"]: entry["statement"]["timestamp"][:13] for entry in today}
    gap_hour = hour_of[today[expected.drifted[-1].position]["id"]]
    # The live pipeline (ERB 9.0.1) lost one statement of that hour: the hour is a gap.
    lost = next(entry["id"] for position, entry in enumerate(today)
                if position in expected.present and hour_of[entry["id"]] == gap_hour)  # fmt: skip
    insert_statements(clickhouse, ours.raw, [row for row in made_by("9.0.1") if row[0] != lost])

    output, loaded = output_and_summary(
        "load_xapi_files", "--source_provider=LOCAL", f"--source_config={files}", "--gaps_only",
        '--destination_config={"database": "openedx"}',
    )  # fmt: skip

    in_gap = [drift for drift in expected.drifted if hour_of[today[drift.position]["id"]] == gap_hour]
    assert "statement files of a run with --replace_drifted" in output
    assert loaded["rows"]["replaced"] == len(in_gap) > 0 and loaded["rows"]["held_otherwise"] == 0
    assert loaded["rows"]["inserted"] == len(in_gap) + 1


def test_a_manifest_that_cannot_be_read_stops_the_load_in_one_sentence_before_anything_is_loaded(
    tmp_path, clickhouse, aspects, monkeypatch
):
    from backfill_app.sources.storage import LogStore

    ours, _ = aspects
    seed_platform()
    (tmp_path / "replacing").mkdir()
    files = json.dumps({"key": str(tmp_path), "container": "replacing", "prefix": "run"})
    run_command("--replace_drifted", source=local_source(logs_of_the_fixture(tmp_path)),
                destination=("--destination_provider", "LOCAL", "--destination_config", files))  # fmt: skip
    real_read = LogStore.read_chunks

    # A storage that fails one read on demand is not at hand: the fault is injected here.
    def read_chunks(store, obj, start=0):
        if obj.name.endswith("manifest.json"):
            raise OSError("injected: connection reset")
        return real_read(store, obj, start)

    monkeypatch.setattr(LogStore, "read_chunks", read_chunks)
    message, refused = failing_with_summary(
        output_of, "load_xapi_files", "--source_provider=LOCAL", f"--source_config={files}",
        '--destination_config={"database": "openedx"}',
    )  # fmt: skip
    assert message.startswith("Cannot read run") and "manifest.json" in message and "--replace_drifted" in message
    assert refused["outcome"] == "refused"
    assert int(clickhouse.command(f"SELECT count() FROM {ours.raw}")) == 0


def test_a_view_on_the_raw_table_whose_target_cannot_be_seen_refuses_the_replace_before_writing(
    tmp_path, clickhouse, aspects
):
    from backfill_app.clickhouse.downstream import downstream_tables
    from backfill_app.core.errors import BackfillConfigError

    class HidingOneView:  # a user without the grant on one view: made by hiding its row from system.tables
        def query(self, sql):
            if "name = 'enrollment_events_mv'" in sql and "create_table_query" in sql:
                return type("Rows", (), {"result_rows": []})()
            return clickhouse.query(sql)

    with pytest.raises(BackfillConfigError) as refused:
        downstream_tables(HidingOneView(), "openedx", "xapi_events_all")
    assert str(refused.value).startswith(
        "--replace_drifted: the materialized view openedx.enrollment_events_mv reads the raw xAPI table, but where it "
        "writes is unknown (this ClickHouse user cannot see it)"
    )
