"""
Tracking logs against the xAPI table: the hours where ClickHouse holds fewer statements than
the logs can give (the hours when Ralph or Vector was down), for ``find_xapi_gaps`` and
``transform_tracking_logs --gaps_only`` (``gap_window``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.core import conf
from backfill_app.core.databases import require_databases
from backfill_app.core.errors import BackfillConfigError
from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.gap_finder.clickhouse_counts import count_clickhouse_per_hour, held_ids_per_hour
from backfill_app.tracking.gap_finder.hours import HourRow
from backfill_app.tracking.gap_finder.log_counts import count_log_events_per_hour
from backfill_app.tracking.gap_finder.missing_statements import check_hours
from backfill_app.tracking.window import TimeWindow
from backfill_app.transform.statements import StatementTransformer


@dataclass(frozen=True)
class Gap(HourRow):
    hour: datetime
    events_in_logs: int  # events that can become statements
    statements_made: int  # what ERB makes of that hour's events
    statements_missing: int  # of those, not in ClickHouse

    json_names: ClassVar[dict[str, str]] = {"events_in_logs": "events", "statements_missing": "missing"}


@dataclass(frozen=True)
class Surplus(HourRow):
    """An hour where ClickHouse holds statements that ERB does not make of that hour's events."""

    hour: datetime
    statements_in_clickhouse: int
    statements_made: int  # what ERB makes of the hour's events
    not_from_the_logs: int  # held, not made, more than events of users deleted since can explain

    json_names: ClassVar[dict[str, str]] = {"statements_in_clickhouse": "in_clickhouse"}


@dataclass
class LogComparison:
    events_per_hour: dict  # events that can become statements
    statements_per_hour: dict  # in ClickHouse
    gaps: list[Gap]
    file_time_ranges: dict
    events_without_user: int = 0  # of users deleted since, or of no user: never backfillable
    hours_checked: int = 0  # hours whose events were transformed to know what ERB makes of them
    surpluses: list[Surplus] = field(default_factory=list)  # hours holding statements ERB does not make


def search_gaps(
    store: LogStore, objects: list[LogObject], xapi: XapiTable, window: TimeWindow | None = None
) -> LogComparison:
    """
    Two passes. Counting: events per hour that can become statements (their users exist),
    against the events ClickHouse holds statements of. Checking: the hours where ClickHouse
    has fewer are transformed, and the ids of the statements ERB makes looked up in ClickHouse;
    an hour is a gap when some are missing. Events ERB refuses (an unknown course, a missing
    field) make no statement, so they never make a gap that no backfill could fill.
    """
    require_databases()
    client = open_xapi_table(xapi)
    ranges: dict = {}
    counts = count_log_events_per_hour(
        store, objects, StatementTransformer("xapi"), window, conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"), ranges
    )
    without_user = sum(counts.without_user.values())
    events = counts.backfillable
    if not events:
        return LogComparison({}, {}, [], ranges, without_user)
    in_clickhouse = count_clickhouse_per_hour(client, xapi.database, xapi.table, min(events), max(events))
    short = {hour for hour, count in events.items() if in_clickhouse.events.get(hour, 0) < count}
    # More statements than events that could have made them: doubled ones, or a multi-question
    # problem_check (several statements an event), which transforming the hour tells apart.
    heavy = {
        hour
        for hour, count in events.items()
        if in_clickhouse.statements.get(hour, 0) > count + counts.without_user.get(hour, 0)
    }
    gaps, surpluses = [], []
    if short or heavy:
        check = check_hours(store, objects, short | heavy, ranges, xapi, ids_kept_for=heavy)
        gaps = [
            Gap(hour, events[hour], check.made[hour], check.missing[hour])
            for hour in sorted(short)
            if check.missing[hour]
        ]
        held = held_ids_per_hour(client, xapi.database, xapi.table, heavy)
        for hour in sorted(heavy):
            # An event that makes no statement now (its user or course deleted since) may have made
            # one live: each such event of the hour explains one statement ERB does not make.
            not_made_now = events[hour] + counts.without_user.get(hour, 0) - len(check.made_events[hour])
            unexplained = len(held[hour] - check.made_ids[hour]) - not_made_now
            if unexplained > 0:
                surpluses.append(Surplus(hour, len(held[hour]), check.made[hour], unexplained))
    return LogComparison(
        events, in_clickhouse.statements, gaps, ranges, without_user, len(short | heavy), surpluses=surpluses
    )


def gap_window(asked: TimeWindow, destination: Destination, store: LogStore, objects: list[LogObject]) -> TimeWindow:
    """``asked`` (--start/--end) narrowed to the hours where ClickHouse lacks statements (--gaps_only)."""
    if not destination.is_clickhouse:
        raise BackfillConfigError(
            "--gaps_only compares the logs with ClickHouse: use --destination_provider CLICKHOUSE."
        )
    report = search_gaps(store, objects, destination.xapi_table, asked)
    window = TimeWindow(start=asked.start, end=asked.end, hours=frozenset(gap.hour for gap in report.gaps))
    window.known_ranges(report.file_time_ranges)  # the search read every file: no need to look again
    return window
