"""
The statements ERB makes of some hours' events, and which of them ClickHouse lacks: the
backfill's own pipeline over those hours, writing nowhere, its batches' ids looked up in the table.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.clickhouse.xapi_queries import XapiTableQueries
from backfill_app.sinks.base import StatementSink, WriteResult
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.pipeline import BatchOptions, TrackingLogBackfill
from backfill_app.tracking.window import TimeWindow, hour_of
from backfill_app.transform.statements import StatementTransformer


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
    transform_into(check, store, objects, window)
    return check


def transform_into(check: StatementSink, store: LogStore, objects: list[LogObject], window: TimeWindow | None) -> None:
    """The backfill's own pipeline over ``objects`` (the events of ``window``), its statements handed to ``check``."""
    TrackingLogBackfill(
        store,
        StatementTransformer("xapi"),
        check,
        SetAsideUncounted(),
        BatchOptions(sleep_between_batches_secs=0, quiet=True),
        event_filter=window,
    ).run(objects)
