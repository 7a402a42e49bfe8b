"""Literals for SQL text that clickhouse-connect sends in a request body (no URL length limit)."""

from __future__ import annotations

import uuid
from datetime import datetime

# Keys per IN (...) list: 10,000 quoted UUIDs would pass ClickHouse's 256 KiB max_query_size.
KEYS_PER_QUERY = 2_000


def sql_string(value: str) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def sql_literal(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, uuid.UUID):
        return f"'{value}'"
    return sql_string(value)


def datetime64_text(moment: datetime) -> str:
    """
    A moment as ClickHouse reads a DateTime64(6): the year always in 4 digits (strftime's %Y
    writes year 5 as "5", which ClickHouse refuses; isoformat pads it), no zone (the column's is
    UTC), the microseconds even when 0.
    """
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def datetime64(moment: datetime) -> str:
    """A DateTime64(6) UTC literal of ``moment``, for a query."""
    return f"toDateTime64('{datetime64_text(moment)}', 6, 'UTC')"


def chunks(items: list, size: int = KEYS_PER_QUERY):
    for start in range(0, len(items), size):
        yield items[start : start + size]
