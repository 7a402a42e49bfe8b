"""Shared by find_xapi_gaps and transform_tracking_logs --gaps_only: where are the gaps?"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from backfill_app.clickhouse.connection import XapiTable, xapi_table_from_config
from backfill_app.clickhouse.schema import open_table
from backfill_app.core import conf
from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.options import parse_json_object
from backfill_app.sinks.base import WriteResult
from backfill_app.sinks.destinations import CLICKHOUSE, Destination
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.gaps import Gap, count_log_events_per_hour, count_statements_per_hour
from backfill_app.tracking.pipeline import BatchOptions, TrackingLogBackfill
from backfill_app.tracking.window import TimeWindow, hour_of
from backfill_app.transform.statements import StatementTransformer


@dataclass
class GapReport:
    events_per_hour: dict  # events that can become statements
    statements_per_hour: dict  # in ClickHouse
    gaps: list[Gap]
    file_time_ranges: dict
    events_without_user: int = 0  # of users deleted since, or of no user: never backfillable
    hours_checked: int = 0  # hours whose events were transformed to know what ERB makes of them


class StatementsPerHour:
    """A sink that counts the statements it is given per hour of their timestamp, and keeps none."""

    in_process = True

    def __init__(self):
        self.per_hour: Counter = Counter()

    def describe(self) -> str:
        return "a count of statements per hour"

    def identity(self) -> None:
        return None

    def write(self, statements) -> WriteResult:
        self.per_hour.update(hour_of(statement.timestamp) for statement in statements)
        return WriteResult(written=len(statements))

    def close(self) -> None:
        pass


class SetAsideUncounted:
    """Lines the check cannot transform: the backfill of those hours sets them aside and reports them."""

    written_path = None

    def add(self, **entry) -> None:
        pass

    def close(self) -> None:
        pass


def statements_erb_makes(store: LogStore, objects: list[LogObject], hours: set, file_time_ranges: dict) -> Counter:
    """
    The statements ERB makes of the events of ``hours``, per hour: the backfill's own pipeline,
    writing nowhere, over only the files that hold those hours.
    """
    window = TimeWindow(hours=frozenset(hours))
    window.known_ranges(file_time_ranges)
    counter = StatementsPerHour()
    TrackingLogBackfill(
        store,
        StatementTransformer("xapi"),
        counter,
        SetAsideUncounted(),
        BatchOptions(sleep_between_batches_secs=0, quiet=True),
        event_filter=window,
    ).run(objects)
    return counter.per_hour


def search_gaps(
    store: LogStore, objects: list[LogObject], xapi: XapiTable, window: TimeWindow | None = None
) -> GapReport:
    """
    Two passes. Counting: events per hour that can become statements (their users exist),
    against statements per hour in ClickHouse. Checking: the hours where ClickHouse has fewer
    are transformed, to compare it with what ERB really makes of them (events it refuses,
    several statements for one event); only those where ClickHouse still has fewer are gaps.
    """
    client = open_table(xapi.target, xapi.database, xapi.table)
    ranges: dict = {}
    counts = count_log_events_per_hour(
        store, objects, StatementTransformer("xapi"), window, conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"), ranges
    )
    without_user = sum(counts.without_user.values())
    events = counts.backfillable
    if not events:
        return GapReport({}, {}, [], ranges, without_user)
    statements = count_statements_per_hour(client, xapi.database, xapi.table, min(events), max(events))
    short = {hour for hour, count in events.items() if statements.get(hour, 0) < count}
    made = statements_erb_makes(store, objects, short, ranges) if short else Counter()
    gaps = [
        Gap(hour, events[hour], made[hour], statements.get(hour, 0))
        for hour in sorted(short)
        if statements.get(hour, 0) < made[hour]
    ]
    return GapReport(events, statements, gaps, ranges, without_user, len(short))


def gap_window(asked: TimeWindow, destination: Destination, store: LogStore, objects: list[LogObject]) -> TimeWindow:
    """``asked`` (--start/--end) narrowed to the hours where ClickHouse lacks statements (--gaps_only)."""
    if (destination.provider or "").upper() != CLICKHOUSE:
        raise BackfillConfigError(
            "--gaps_only compares the logs with ClickHouse: use --destination_provider CLICKHOUSE."
        )
    config = parse_json_object(destination.config_json, "--destination_config")
    report = search_gaps(store, objects, xapi_table_from_config(config), asked)
    window = TimeWindow(start=asked.start, end=asked.end, hours=frozenset(gap.hour for gap in report.gaps))
    window.known_ranges(report.file_time_ranges)  # the search read every file: no need to look again
    return window
