"""
Hours where ClickHouse holds fewer statements than the logs can give: the hours when Ralph
or Vector was down, to backfill with ``--gaps_only``. The counting parts; the search itself
is in ``gap_search``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from backfill_app.clickhouse.sql import datetime64
from backfill_app.core.errors import BackfillConfigError
from backfill_app.reporting.progress import ByteProgress
from backfill_app.sources.lines import LineReader
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
from backfill_app.tracking.window import TimeWindow, event_time, hour_after, hour_of
from backfill_app.transform.lookups import known_users
from backfill_app.transform.statements import StatementTransformer

# Lines read before their users are looked up together (one query for the block).
USER_CHECK_BLOCK_LINES = 1_000


@dataclass(frozen=True)
class Gap:
    hour: datetime
    events_in_logs: int  # events that can become statements
    statements_made: int  # what ERB makes of that hour's events
    statements_missing: int  # of those, not in ClickHouse


@dataclass(frozen=True)
class Surplus:
    """An hour where ClickHouse holds statements that ERB does not make of that hour's events."""

    hour: datetime
    statements_in_clickhouse: int
    statements_made: int  # what ERB makes of the hour's events
    not_from_the_logs: int  # held, not made, more than events of users deleted since can explain


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


def hours_table(columns: tuple[str, ...], rows: list[tuple[datetime, tuple[int, ...]]]) -> list[str]:
    """One line per hour (its year in four digits, as any year is), a count under each column."""
    widths = [len(column) + 1 for column in columns]
    lines = [
        f"{'hour (UTC)':<17}" + "".join(f"{column:>{width}}" for column, width in zip(columns, widths, strict=True))
    ]
    for hour, counts in rows:
        cells = "".join(f"{count:>{width}}" for count, width in zip(counts, widths, strict=True))
        lines.append(f"{hour.year:04d}{hour:-%m-%d %H}:00 {cells}")
    return lines


def surplus_table(surpluses: list[Surplus]) -> list[str]:
    return hours_table(
        ("in ClickHouse", "statements ERB makes", "not from these logs"),
        [(s.hour, (s.statements_in_clickhouse, s.statements_made, s.not_from_the_logs)) for s in surpluses],
    )


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


def gap_table(gaps: list[Gap]) -> list[str]:
    return hours_table(
        ("events in logs", "statements ERB makes", "missing in ClickHouse"),
        [(gap.hour, (gap.events_in_logs, gap.statements_made, gap.statements_missing)) for gap in gaps],
    )


def require_plotting() -> None:
    """Before a long search: --plot needs matplotlib, an extra (it brings numpy, which platforms pin)."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise BackfillConfigError(
            "--plot needs matplotlib: pip install 'openedx-backfill[plot]' (or matplotlib), or leave --plot out."
        )


def plot_gaps(
    path: str,
    events_per_hour: Counter,
    statements_per_hour: Counter,
    gaps: list,
    surpluses: list,
    reference: tuple[str, str] = ("the logs", "events in the logs that can become statements"),
) -> None:
    """
    Both series per hour, the hours of ``gaps`` and ``surpluses`` (anything with an ``hour``)
    shaded; ``reference``: what the table is compared with, and its series' label.
    """
    reference_name, reference_label = reference
    import matplotlib

    matplotlib.use("Agg")  # a file, no screen
    import matplotlib.pyplot as plt

    hours = sorted(set(events_per_hour) | set(statements_per_hour))
    figure, axes = plt.subplots(figsize=(12, 4.5))
    axes.plot(
        hours,
        [events_per_hour.get(h, 0) for h in hours],
        label=reference_label,
        linewidth=1.2,
    )
    axes.plot(hours, [statements_per_hour.get(h, 0) for h in hours], label="statements in ClickHouse", linewidth=1.2)
    for hours, color in (([gap.hour for gap in gaps], "tab:red"), ([s.hour for s in surpluses], "tab:orange")):
        for hour in hours:
            # matplotlib takes datetimes on a date axis; its type stubs say float.
            axes.axvspan(hour, hour_after(hour), color=color, alpha=0.25, linewidth=0)  # type: ignore[arg-type]
    axes.set_title(
        f"Statements per hour: {len(gaps)} hours with fewer statements than {reference_name} give (red), "
        f"{len(surpluses)} with more (orange)"
    )
    axes.set_xlabel("hour (UTC)")
    axes.set_ylabel("count per hour")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
