"""Shared by find_xapi_gaps and transform_tracking_logs --gaps_only: where are the gaps?"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.clickhouse.xapi_queries import XapiTableQueries
from backfill_app.core import conf
from backfill_app.core.databases import require_databases
from backfill_app.core.errors import BackfillConfigError
from backfill_app.sinks.base import WriteResult
from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.gaps import (
    Gap,
    Surplus,
    count_clickhouse_per_hour,
    count_log_events_per_hour,
    held_ids_per_hour,
)
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
    surpluses: list[Surplus] = field(default_factory=list)  # hours holding statements ERB does not make


class MissingStatementsPerHour:
    """
    A sink that keeps nothing: for each batch ERB makes, it counts per hour the statements, and
    those whose id ClickHouse does not hold (the destination's own id check); for the hours in
    ``ids_kept_for``, it keeps the ids made.
    """

    in_process = True
    cpu_role = "checking"

    def __init__(self, clickhouse: XapiTableQueries, ids_kept_for: set):
        self.clickhouse = clickhouse
        self.made: Counter = Counter()
        self.missing: Counter = Counter()
        self.ids_kept_for = ids_kept_for
        self.made_ids: dict = defaultdict(set)
        self.made_events: dict = defaultdict(set)  # (time, actor) of the events that made them

    def describe(self) -> str:
        return "a check of statement ids against ClickHouse"

    def identity(self) -> None:
        return None

    def write(self, statements) -> WriteResult:
        present = self.clickhouse.present_ids_among(
            [statement.id for statement in statements],
            min(statement.timestamp for statement in statements),
            max(statement.timestamp for statement in statements),
        )
        for statement in statements:
            hour = hour_of(statement.timestamp)
            self.made[hour] += 1
            self.missing[hour] += statement.id not in present
            if hour in self.ids_kept_for:
                self.made_ids[hour].add(statement.id)
                self.made_events[hour].add((statement.timestamp, json.dumps(json.loads(statement.json)["actor"])))
        return WriteResult(written=0, already_present=len(statements))

    def close(self) -> None:
        pass


class SetAsideUncounted:
    """Lines the check cannot transform: the backfill of those hours sets them aside and reports them."""

    written_path = None

    def add(self, **entry) -> None:
        pass

    def close(self) -> None:
        pass


def check_hours(
    store: LogStore, objects: list[LogObject], hours: set, file_time_ranges: dict, xapi: XapiTable, ids_kept_for: set
) -> MissingStatementsPerHour:
    """
    The statements ERB makes of the events of ``hours`` and which ClickHouse lacks: the
    backfill's own pipeline, writing nowhere, over only the files that hold those hours.
    """
    window = TimeWindow(hours=frozenset(hours))
    window.known_ranges(file_time_ranges)
    check = MissingStatementsPerHour(XapiTableQueries(open_xapi_table(xapi), xapi), ids_kept_for)
    TrackingLogBackfill(
        store,
        StatementTransformer("xapi"),
        check,
        SetAsideUncounted(),
        BatchOptions(sleep_between_batches_secs=0, quiet=True),
        event_filter=window,
    ).run(objects)
    return check


def search_gaps(
    store: LogStore, objects: list[LogObject], xapi: XapiTable, window: TimeWindow | None = None
) -> GapReport:
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
        return GapReport({}, {}, [], ranges, without_user)
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
    return GapReport(
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
