"""
What the gap finder asks of Aspects' xAPI table: statements and events per hour over a range,
and the ids held in a few hours. Each answer is one query.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from backfill_app.clickhouse.sql import datetime64
from backfill_app.tracking.window import hour_after


@dataclass
class ClickHouseCounts:
    """Per hour: statements, and the events they came from (an event's statements share its time and actor)."""

    statements: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)


def count_clickhouse_per_hour(client, database: str, table: str, first: datetime, last: datetime) -> ClickHouseCounts:
    """
    One pass over the range. A multi-question problem_check gives several statements: counting
    statements would let them hide a missing event of the same hour; counting events does not.
    """
    rows = client.query(
        "SELECT toStartOfHour(emission_time) AS hour, count(), "
        f"uniqExact(emission_time, JSONExtractRaw(event, 'actor')) FROM `{database}`.`{table}` "
        f"WHERE emission_time >= {datetime64(first)} AND emission_time < {datetime64(hour_after(last))} "
        "GROUP BY hour"
    ).result_rows
    counts = ClickHouseCounts()
    for hour, statements, events in rows:
        hour = hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour
        counts.statements[hour], counts.events[hour] = statements, events
    return counts


def held_ids_per_hour(client, database: str, table: str, hours: set[datetime]) -> dict[datetime, set[str]]:
    """The statement ids ClickHouse holds in each of ``hours`` (a few hours: their ids are read whole)."""
    held: dict[datetime, set[str]] = {hour: set() for hour in hours}
    for hour in hours:
        rows = client.query(
            f"SELECT toString(event_id) FROM `{database}`.`{table}` "
            f"WHERE emission_time >= {datetime64(hour)} AND emission_time < {datetime64(hour_after(hour))}"
        ).result_rows
        held[hour] = {row[0] for row in rows}
    return held
