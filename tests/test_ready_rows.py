"""
The ClickHouse sink writes RowBinary rows it makes itself (or that a worker made ready), and
they are stored exactly as clickhouse-connect's own column insert stores the same statements:
any id, any time ClickHouse keeps, any JSON text; ids already stored, or met twice, are left
out (the first in log order is kept), whether the rows come as statements or as ready parts.
The rows of statement files load as the same rows.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from backfill_app.clickhouse.connection import XapiTable, target_from_settings
from backfill_app.sinks.clickhouse import ClickHouseSink
from backfill_app.sinks.row_binary import PreparedStatements
from backfill_app.sinks.statement_file_format import statement_file_row
from backfill_app.transform.statements import Statement
from tests.fuzzing import examples

TIMES = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2299, 12, 31)).map(
    lambda moment: moment.replace(tzinfo=UTC)
)
STATEMENTS = st.lists(
    st.builds(
        Statement,
        id=st.uuids().map(str),
        timestamp=TIMES,
        json=st.text(max_size=300),
        source=st.just("tracking.log"),
        line_number=st.integers(min_value=1, max_value=10**6),
    ),
    min_size=1,
    max_size=30,
)


def stored(clickhouse, table: str) -> list[tuple]:
    return clickhouse.query(
        f"SELECT toString(event_id), toUnixTimestamp64Micro(emission_time), event FROM xapi.{table} ORDER BY event_id"
    ).result_rows


def fresh_sinks(clickhouse) -> tuple[ClickHouseSink, ClickHouseSink]:
    for table in ("reference", "as_objects", "as_rows"):
        clickhouse.command(f"DROP TABLE IF EXISTS xapi.{table}")
        clickhouse.command(f"CREATE TABLE xapi.{table} AS xapi.xapi_events_all")
    target = target_from_settings()
    return ClickHouseSink(XapiTable(target, "xapi", "as_objects")), ClickHouseSink(XapiTable(target, "xapi", "as_rows"))


def insert_by_clickhouse_connect(clickhouse, statements: list[Statement]) -> None:
    """The reference: clickhouse-connect's column insert of the statements, as they are."""
    rows = [[statement.id, statement.timestamp, statement.json] for statement in statements]
    if rows:
        clickhouse.insert("reference", rows, column_names=["event_id", "emission_time", "event"], database="xapi")


@examples(40)
@given(first=STATEMENTS, second=STATEMENTS, halves=st.integers(min_value=1, max_value=3))
def test_rows_are_stored_as_clickhouse_connect_stores_the_statements(clickhouse, first, second, halves):
    as_objects, as_rows = fresh_sinks(clickhouse)
    # A second batch repeats some of the first's ids (already present) and one of its own, with
    # another text (the first in log order is kept): both left out alike.
    twice = second[0]._replace(json=second[0].json + " again")
    second = second + first[: len(first) // 2] + [twice]
    kept: dict[str, Statement] = {}
    for batch in (first, second):
        new = {}
        for statement in batch:
            if statement.id not in kept and statement.id not in new:
                new[statement.id] = statement
        kept.update(new)
        insert_by_clickhouse_connect(clickhouse, list(new.values()))
        by_objects = as_objects.write(batch)
        size = max(1, len(batch) // halves)
        prepared = [PreparedStatements.of(batch[start : start + size]) for start in range(0, len(batch), size)]
        by_rows = as_rows.write_rows(prepared)
        expected = (len(new), len(batch) - len(new))
        assert (by_objects.written, by_objects.already_present) == expected
        assert (by_rows.written, by_rows.already_present) == expected
    assert stored(clickhouse, "as_objects") == stored(clickhouse, "reference")
    assert stored(clickhouse, "as_rows") == stored(clickhouse, "reference")


def test_a_time_is_kept_to_the_microsecond_before_and_after_1970(clickhouse):
    as_objects, as_rows = fresh_sinks(clickhouse)
    times = [
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC) + timedelta(microseconds=1),
    ]
    batch = [Statement(str(uuid.uuid4()), moment, '{"\\u00e9": "\\\\"}', "x", 1) for moment in times]
    insert_by_clickhouse_connect(clickhouse, batch)
    as_objects.write(batch)
    as_rows.write_rows([PreparedStatements.of(batch)])
    rows = stored(clickhouse, "as_rows")
    assert rows == stored(clickhouse, "as_objects") == stored(clickhouse, "reference")
    expected_micros = sorted(
        int((moment - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1)) for moment in times
    )
    assert sorted(micros for _, micros, _ in rows) == expected_micros


@examples(40)
@given(statements=STATEMENTS)
def test_statement_file_rows_load_as_clickhouse_connect_stores_the_statements(clickhouse, statements):
    """The rows of statement files (JSONEachRow), as ClickHouse reads them when load_xapi_files loads them."""
    fresh_sinks(clickhouse)
    insert_by_clickhouse_connect(clickhouse, statements)
    rows = "\n".join(statement_file_row(statement) for statement in statements).encode()
    clickhouse.raw_insert("`xapi`.`as_rows`", ["event_id", "emission_time", "event"], rows, fmt="JSONEachRow")
    assert stored(clickhouse, "as_rows") == stored(clickhouse, "reference")
