"""
``find_xapi_gaps --drift``: what the table holds of each hour's events against what today's ERB
makes of them, by id and then by event (sinks/drift.py), so an operator sees what an older ERB
release left before a backfill meets it. Every hour of the logs is transformed (the backfill's own
pipeline, writing nowhere), and each batch compared with the table in one query.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.clickhouse.xapi_queries import XapiTableQueries
from backfill_app.sinks.base import WriteResult
from backfill_app.sinks.drift import OTHER_ID, STALE, behind
from backfill_app.sinks.row_binary import micros_of
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.gap_finder.hours import HourRow
from backfill_app.tracking.gap_finder.missing_statements import transform_into
from backfill_app.tracking.window import TimeWindow, hour_of

SAME, MISSING = "same", "missing"
CLASSES = (SAME, STALE, OTHER_ID, MISSING)


@dataclass(frozen=True)
class DriftHour(HourRow):
    hour: datetime
    same: int
    stale: int
    other_id: int
    missing: int


@dataclass
class DriftComparison:
    hours: list[DriftHour]  # every hour with statements made, in order
    behaviours: Counter = field(default_factory=Counter)  # (class, verb, ERB behaviour) -> statements
    compared_by_id_only: int = 0  # statements of batches whose time range held too many to read whole

    @property
    def drifted_hours(self) -> list[DriftHour]:
        return [hour for hour in self.hours if hour.stale or hour.other_id]


class DriftPerHour:
    """A sink that keeps nothing: each batch compared with the table, counted per hour and class."""

    in_process = True
    cpu_role = "checking"

    def __init__(self, queries: XapiTableQueries):
        self.queries = queries
        self.counts: dict[datetime, Counter] = defaultdict(Counter)
        self.behaviours: Counter = Counter()
        self.compared_by_id_only = 0

    def describe(self) -> str:
        return "a comparison by event with ClickHouse"

    def identity(self) -> None:
        return None

    def write(self, statements) -> WriteResult:
        first = min(statement.timestamp for statement in statements)
        last = max(statement.timestamp for statement in statements)
        comparison, by_id_only = self.queries.compare_by_event(
            [statement.id for statement in statements],
            [micros_of(statement.timestamp) for statement in statements],
            lambda position: statements[position].json,
            first,
            last,
        )
        self.compared_by_id_only += len(statements) if by_id_only else 0
        classes = [SAME if position in comparison.present else MISSING for position in range(len(statements))]
        for drift in comparison.drifted:
            classes[drift.position] = drift.kind
            self.behaviours[(drift.kind, drift.verb, behind(drift.differs_at))] += 1
        for statement, kind in zip(statements, classes, strict=True):
            self.counts[hour_of(statement.timestamp)][kind] += 1
        return WriteResult(written=0, already_present=len(statements))

    def close(self) -> None:
        pass

    def comparison(self) -> DriftComparison:
        hours = [DriftHour(hour, *(counts[kind] for kind in CLASSES)) for hour, counts in sorted(self.counts.items())]
        return DriftComparison(hours, self.behaviours, self.compared_by_id_only)


def drift_by_hour(store: LogStore, objects: list[LogObject], xapi: XapiTable, window: TimeWindow) -> DriftComparison:
    check = DriftPerHour(XapiTableQueries(open_xapi_table(xapi), xapi))
    transform_into(check, store, objects, window if window.start or window.end else None)
    return check.comparison()
