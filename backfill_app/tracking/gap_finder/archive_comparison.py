"""
Hours where the table holds fewer statements than an archive of them (Aspects' xAPI archive,
or statement files), by their ids: what ``find_xapi_gaps`` reports when its source is such an
archive, and the hours ``load_xapi_files --gaps_only`` restores. One pass over the archive's
objects (distinct ids per hour), one count per hour in ClickHouse, and the held ids of the short
hours only.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.sources.statement_objects import (
    BadRow,
    NotStatementObject,
    ObjectCut,
    hour_folders,
    starts_with_statement_rows,
    statement_rows,
)
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.gap_finder.clickhouse_counts import count_clickhouse_per_hour, held_ids_per_hour
from backfill_app.tracking.gap_finder.hours import HourRow
from backfill_app.tracking.window import TimeWindow, hour_of
from backfill_app.tracking.xapi_files import XapiFileLoader


@dataclass
class ArchiveContents:
    """The archive's distinct statement ids per hour (as 128-bit ints: a third of a string's memory)."""

    ids_per_hour: dict[datetime, set[int]] = field(default_factory=lambda: defaultdict(set))
    objects_per_hour: dict[datetime, set[str]] = field(default_factory=lambda: defaultdict(set))
    bad_rows: Counter = field(default_factory=Counter)  # reason -> rows
    objects_with_bad_rows: set[str] = field(default_factory=set)
    cut_objects: dict[str, str] = field(default_factory=dict)  # name -> why
    other_objects: int = 0  # not statement objects (a manifest, a README)


def read_archive(store: LogStore, objects: list[LogObject], window: TimeWindow | None = None) -> ArchiveContents:
    contents = ArchiveContents()
    for obj in objects:
        if not XapiFileLoader.is_candidate(obj):
            contents.other_objects += 1
            continue
        try:
            for row in statement_rows(store.read_chunks(obj)):
                if isinstance(row, BadRow):
                    contents.bad_rows[row.reason] += 1
                    contents.objects_with_bad_rows.add(obj.name)
                elif window is None or window.contains(row.emission_time):
                    hour = hour_of(row.emission_time)
                    contents.ids_per_hour[hour].add(uuid.UUID(row.event_id).int)
                    contents.objects_per_hour[hour].add(obj.name)
        except NotStatementObject:
            contents.other_objects += 1
        except ObjectCut as exc:
            contents.cut_objects[obj.name] = str(exc)
    return contents


def list_statement_objects(store: LogStore, window: TimeWindow | None) -> tuple[list[LogObject], str]:
    """
    The objects to read, and how they were listed: with a window of both ends and a folder as
    prefix, only the archive's hour folders of it (``PREFIX%Y/%m/%d/%H/``, as Vector names them)
    when it has them (one listing an hour); otherwise every object under the prefix (statement
    files, tracking logs, a flat archive).
    """
    prefix = store.location.prefix or ""
    # A folder (the archive's "xapi/") can hold hour folders; a file name's start ("tracking.log") cannot.
    in_folders = prefix == "" or prefix.endswith("/")
    if in_folders and window is not None and window.start is not None and window.end is not None:
        folders = hour_folders(prefix, window.start, window.end)
        objects = [obj for folder in folders for obj in store.list_objects(prefix=folder)]
        if objects:
            return objects, f"{len(folders)} hour folders"
    return store.list_objects(), "every object"


def is_statement_archive(store: LogStore, objects: list[LogObject]) -> bool:
    """Whether these objects are xAPI rows (an archive) rather than tracking logs: the first that can tell."""
    for obj in objects:
        if XapiFileLoader.is_candidate(obj):
            verdict = starts_with_statement_rows(first_bytes(store, obj))
            if verdict is not None:
                return verdict
    return False


def first_bytes(store: LogStore, obj: LogObject) -> bytes:
    chunks = store.read_chunks(obj)
    try:
        return next(iter(chunks), b"")
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


@dataclass(frozen=True)
class ArchiveGap(HourRow):
    hour: datetime
    in_archive: int
    in_clickhouse: int
    missing: int  # of the archive's statements, not in ClickHouse


@dataclass(frozen=True)
class ArchiveSurplus(HourRow):
    hour: datetime
    in_clickhouse: int
    in_archive: int


@dataclass
class ArchiveComparison:
    contents: ArchiveContents
    statements_per_hour: Counter  # in ClickHouse
    gaps: list[ArchiveGap]
    surpluses: list[ArchiveSurplus]

    @property
    def archive_per_hour(self) -> Counter:
        return Counter({hour: len(ids) for hour, ids in self.contents.ids_per_hour.items()})


def search_archive_gaps(
    store: LogStore, objects: list[LogObject], xapi: XapiTable, window: TimeWindow | None = None
) -> ArchiveComparison:
    contents = read_archive(store, objects, window)
    archive = {hour: len(ids) for hour, ids in contents.ids_per_hour.items()}
    if not archive:
        return ArchiveComparison(contents, Counter(), [], [])
    client = open_xapi_table(xapi)
    held = count_clickhouse_per_hour(client, xapi.database, xapi.table, min(archive), max(archive)).statements
    short = {hour for hour, count in archive.items() if held.get(hour, 0) < count}
    # Counts can hide a missing statement behind another (a backfill's) of the same hour: the
    # short hours' ids settle it; hours with as many or more are surpluses when more.
    held_ids = held_ids_per_hour(client, xapi.database, xapi.table, short)
    gaps = []
    for hour in sorted(short):
        missing = len(contents.ids_per_hour[hour] - {uuid.UUID(held_id).int for held_id in held_ids[hour]})
        if missing:
            gaps.append(ArchiveGap(hour, archive[hour], held.get(hour, 0), missing))
    surpluses = [
        ArchiveSurplus(hour, held[hour], archive[hour]) for hour in sorted(archive) if held.get(hour, 0) > archive[hour]
    ]
    return ArchiveComparison(contents, held, gaps, surpluses)
