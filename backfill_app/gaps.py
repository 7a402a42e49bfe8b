"""
Hours where ClickHouse holds fewer statements than the logs hold supported events: the
hours when Ralph or Vector was down, to backfill with ``--gaps_only``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backfill_app.progress import ByteProgress
from backfill_app.sources.lines import LineReader
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.window import TimeWindow, event_time, hour_of


@dataclass(frozen=True)
class Gap:
    hour: datetime
    events_in_logs: int
    statements_in_clickhouse: int


def count_log_events_per_hour(
    store: LogStore,
    objects: list[LogObject],
    supported_names: frozenset[str],
    window: TimeWindow | None,
    progress_secs: float,
    time_ranges: dict | None = None,
) -> Counter:
    """
    Supported events per hour; lines that are not events are not counted (the backfill
    reports them). ``time_ranges`` receives each file's first and last event time.
    """
    per_hour: Counter = Counter()
    progress = ByteProgress(sum(obj.size for obj in objects), progress_secs)
    try:
        for obj in objects:
            progress.start_object(obj.name, obj.size)
            reader = LineReader(store.opener(obj), gzipped=obj.is_gzip)
            first = last = None
            for line in reader:
                start = line.text.find("{")
                if start < 0:
                    continue
                try:
                    event = json.loads(line.text[start:])
                except json.JSONDecodeError:
                    continue
                if not isinstance(event, dict) or event.get("name") not in supported_names:
                    continue
                moment = event_time(event)
                if moment is None:
                    continue
                first, last = min(first or moment, moment), max(last or moment, moment)
                if window is None or window.contains(moment):
                    per_hour[hour_of(moment)] += 1
            if time_ranges is not None:
                time_ranges[obj.name] = (first, last)
            progress.advance(reader.bytes_read)
    finally:
        progress.close()
    return per_hour


def count_statements_per_hour(client, database: str, table: str, first: datetime, last: datetime) -> Counter:
    rows = client.query(
        f"SELECT toStartOfHour(emission_time) AS hour, count() FROM `{database}`.`{table}` "
        f"WHERE emission_time >= toDateTime64('{first:%Y-%m-%d %H:%M:%S}', 6, 'UTC') "
        f"AND emission_time < toDateTime64('{last + timedelta(hours=1):%Y-%m-%d %H:%M:%S}', 6, 'UTC') "
        "GROUP BY hour"
    ).result_rows
    return Counter({hour.replace(tzinfo=UTC) if hour.tzinfo is None else hour: count for hour, count in rows})


def find_gaps(events_per_hour: Counter, statements_per_hour: Counter) -> list[Gap]:
    return [
        Gap(hour, events, statements_per_hour.get(hour, 0))
        for hour, events in sorted(events_per_hour.items())
        if statements_per_hour.get(hour, 0) < events
    ]


def gap_table(gaps: list[Gap]) -> list[str]:
    lines = [f"{'hour (UTC)':<17} {'events in logs':>15} {'statements in ClickHouse':>25}"]
    lines += [f"{gap.hour:%Y-%m-%d %H:00} {gap.events_in_logs:>15} {gap.statements_in_clickhouse:>25}" for gap in gaps]
    return lines


def plot_gaps(path: str, events_per_hour: Counter, statements_per_hour: Counter, gaps: list[Gap]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a file, no screen
    import matplotlib.pyplot as plt

    hours = sorted(set(events_per_hour) | set(statements_per_hour))
    figure, axes = plt.subplots(figsize=(12, 4.5))
    axes.plot(hours, [events_per_hour.get(h, 0) for h in hours], label="supported events in the logs", linewidth=1.2)
    axes.plot(hours, [statements_per_hour.get(h, 0) for h in hours], label="statements in ClickHouse", linewidth=1.2)
    for gap in gaps:
        # matplotlib takes datetimes on a date axis; its type stubs say float.
        axes.axvspan(gap.hour, gap.hour + timedelta(hours=1), color="tab:red", alpha=0.25, linewidth=0)  # type: ignore[arg-type]
    axes.set_title(f"Statements per hour: {len(gaps)} hours with fewer statements than events (shaded)")
    axes.set_xlabel("hour (UTC)")
    axes.set_ylabel("count per hour")
    axes.legend(loc="upper left")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
