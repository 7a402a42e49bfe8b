"""What ClickHouse already holds of a batch: one query per batch (per 2,000 keys), never one per row."""

from __future__ import annotations

from backfill_app.clickhouse.sql import chunks, sql_literal
from backfill_app.dump.tables import EventSinkTable


def comparable(value) -> str:
    """Python and ClickHouse values of a column, in one form for comparing (True == 1, UUIDs as text)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def latest_contents(client, database: str, table: EventSinkTable, keys: list) -> dict[str, tuple]:
    """Key -> the content columns of its latest dump (by time_last_dumped)."""
    columns = ", ".join(f"`{name}`" for name in table.content_columns)
    found: dict[str, tuple] = {}
    for chunk in chunks(keys):
        rows = client.query(
            f"SELECT toString(`{table.key}`), argMax(tuple({columns}), time_last_dumped) "
            f"FROM `{database}`.`{table.name}` WHERE `{table.key}` IN ({', '.join(sql_literal(k) for k in chunk)}) "
            f"GROUP BY `{table.key}`"
        ).result_rows
        found.update({key: tuple(comparable(value) for value in content) for key, content in rows})
    return found


def unchanged(row: dict, table: EventSinkTable, stored: dict[str, tuple]) -> bool:
    previous = stored.get(comparable(row[table.key]))
    return previous is not None and previous == tuple(comparable(row[name]) for name in table.content_columns)
