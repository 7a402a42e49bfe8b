"""
Supported events per hour in the tracking logs, parsed as the backfill parses them: those that
can become statements, apart from those of users no backfill can turn into statements.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from backfill_app.reporting.progress import ByteProgress
from backfill_app.sources.lines import LineReader
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
from backfill_app.tracking.window import TimeWindow, event_time, hour_of
from backfill_app.transform.lookups import known_users
from backfill_app.transform.statements import StatementTransformer

# Lines read before their users are looked up together (one query for the block).
USER_CHECK_BLOCK_LINES = 1_000


@dataclass
class LogEventCounts:
    """
    Supported events per hour: those that can become statements, and those of users who
    are not in the platform (deleted since) or of no user at all (anonymous visitors), which
    no backfill can turn into statements.
    """

    backfillable: Counter = field(default_factory=Counter)
    without_user: Counter = field(default_factory=Counter)


def count_log_events_per_hour(
    store: LogStore,
    objects: list[LogObject],
    transformer: StatementTransformer,
    window: TimeWindow | None,
    progress_secs: float,
    time_ranges: dict | None = None,
) -> LogEventCounts:
    """
    Supported events per hour, parsed as the backfill parses them; lines that are not events
    are not counted (the backfill reports them). Users are checked a block of lines at a time,
    reading only. ``time_ranges`` receives each file's first and last event time.
    """
    counts = LogEventCounts()
    pending: list[tuple[datetime, object]] = []  # (hour, user key) of events not yet checked

    def check_users() -> None:
        known = known_users([key for _, key in pending])
        for hour, key in pending:
            backfillable = not isinstance(key, dict | list) and key in known  # any JSON value: objects are no user
            (counts.backfillable if backfillable else counts.without_user)[hour] += 1
        pending.clear()

    progress = ByteProgress(sum(obj.size for obj in objects), progress_secs)
    try:
        for obj in objects:
            progress.start_object(obj.name, obj.size)
            reader = LineReader(store.opener(obj), gzipped=obj.is_gzip)
            first = last = None
            for line in reader:
                try:
                    event = parse_tracking_line(line.text)
                except BadLine:
                    continue
                if not transformer.is_supported(event):
                    continue
                moment = event_time(event)
                if moment is None:
                    continue
                first, last = min(first or moment, moment), max(last or moment, moment)
                if window is None or window.contains(moment):
                    pending.append((hour_of(moment), transformer.user_key(event)))
                    if len(pending) >= USER_CHECK_BLOCK_LINES:
                        check_users()
            if time_ranges is not None:
                time_ranges[obj.name] = (first, last)
            progress.advance(reader.bytes_read)
        check_users()
    finally:
        progress.close()
    return counts
