"""
The gap finder's hours as text: one line per hour (UTC), a count under each column, read from
the rows of the report's data (``to_json``), so the table shows exactly what the data holds.
"""

from __future__ import annotations

Column = tuple[str, str]  # its heading, and the key of the row's data it shows

GAP_COLUMNS: tuple[Column, ...] = (
    ("events in logs", "events"),
    ("statements ERB makes", "statements_made"),
    ("missing in ClickHouse", "missing"),
)
SURPLUS_COLUMNS: tuple[Column, ...] = (
    ("in ClickHouse", "in_clickhouse"),
    ("statements ERB makes", "statements_made"),
    ("not from these logs", "not_from_the_logs"),
)
ARCHIVE_GAP_COLUMNS: tuple[Column, ...] = (
    ("in the archive", "in_archive"),
    ("in ClickHouse", "in_clickhouse"),
    ("missing in ClickHouse", "missing"),
)
ARCHIVE_SURPLUS_COLUMNS: tuple[Column, ...] = (("in ClickHouse", "in_clickhouse"), ("in the archive", "in_archive"))
LOG_SURPLUS_HEADING = "Hours where ClickHouse holds more statements than the logs can give"
LOG_SURPLUS_EXPLANATION = (
    "These statements are likely doubles: the same events written again under other ids, by a backfill made "
    "with another LMS root URL or XAPI_AGENT_IFI_TYPE than the live pipeline's, or by two pipelines at once. "
    "Aspects counts them twice."
)
ARCHIVE_SURPLUS_HEADING = "Hours where ClickHouse holds more statements than the archive"
ARCHIVE_SURPLUS_EXPLANATION = (
    "These may be doubles (the same events under other ids) or statements the archive never received "
    "(written by a backfill, or before the archive was turned on)."
)
DRIFT_COLUMNS: tuple[Column, ...] = (
    ("as today's", "same"),
    ("stale", "stale"),
    ("under another id", "other_id"),
    ("missing", "missing"),
)


def hours_table(columns: tuple[Column, ...], rows: list[dict]) -> list[str]:
    """
    A heading line, then one line per row: its ``hour`` (ISO 8601, whose year has four digits
    as any year has) as ``YYYY-MM-DD HH:00``, and a count under each column.
    """
    widths = [(heading, key, len(heading) + 1) for heading, key in columns]
    lines = [f"{'hour (UTC)':<17}" + "".join(f"{heading:>{width}}" for heading, _, width in widths)]
    for row in rows:
        cells = "".join(f"{row[key]:>{width}}" for _, key, width in widths)
        lines.append(f"{row['hour'][:10]} {row['hour'][11:13]}:00 {cells}")
    return lines
