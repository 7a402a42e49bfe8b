"""Shared by find_xapi_gaps and transform_tracking_logs --gaps_only: where are the gaps?"""

from __future__ import annotations

from dataclasses import dataclass

from backfill_app import conf
from backfill_app.clickhouse.connection import XapiTable, xapi_table_from_config
from backfill_app.clickhouse.schema import open_table
from backfill_app.destinations import CLICKHOUSE
from backfill_app.errors import BackfillConfigError
from backfill_app.gaps import Gap, count_log_events_per_hour, count_statements_per_hour, find_gaps
from backfill_app.options import parse_json_object
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.transform.statements import StatementTransformer
from backfill_app.window import TimeWindow


@dataclass
class GapReport:
    events_per_hour: dict
    statements_per_hour: dict
    gaps: list[Gap]
    file_time_ranges: dict


def search_gaps(
    store: LogStore, objects: list[LogObject], xapi: XapiTable, window: TimeWindow | None = None
) -> GapReport:
    client = open_table(xapi.target, xapi.database, xapi.table)
    supported = StatementTransformer("xapi").supported_names
    ranges: dict = {}
    events = count_log_events_per_hour(
        store, objects, supported, window, conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"), ranges
    )
    if not events:
        return GapReport({}, {}, [], ranges)
    statements = count_statements_per_hour(client, xapi.database, xapi.table, min(events), max(events))
    return GapReport(events, statements, find_gaps(events, statements), ranges)


def time_window_from_options(options: dict, store: LogStore, objects: list[LogObject]) -> TimeWindow | None:
    """--start/--end, narrowed to the gap hours with --gaps_only; None when neither is given."""
    asked = TimeWindow.from_options(options["start"], options["end"])
    if not options["gaps_only"]:
        return asked if (asked.start or asked.end) else None
    if (options["destination_provider"] or "").upper() != CLICKHOUSE:
        raise BackfillConfigError(
            "--gaps_only compares the logs with ClickHouse: use --destination_provider CLICKHOUSE."
        )
    config = parse_json_object(options["destination_config"], "--destination_config")
    report = search_gaps(store, objects, xapi_table_from_config(config), asked)
    gap_window = TimeWindow(start=asked.start, end=asked.end, hours=frozenset(gap.hour for gap in report.gaps))
    gap_window.known_ranges(report.file_time_ranges)  # the search read every file: no need to look again
    return gap_window
