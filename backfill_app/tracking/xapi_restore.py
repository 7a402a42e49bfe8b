"""
One ``load_xapi_files`` run: the objects of xAPI rows at a location (Aspects' archive or
statement files) into the xAPI table, each statement once. ``--start/--end`` list only the
archive's hour folders of the window (``PREFIX%Y/%m/%d/%H/``; other layouts are listed whole)
and keep the rows of the window; ``--gaps_only`` first finds the hours where the table holds
fewer of the archive's statements (tracking/gap_finder/archive_comparison.py) and loads those hours' rows only.
A row of an event the table holds otherwise (an older ERB's statement) is set aside, or replaces
it with ``--replace_drifted`` or when the statement files' run asked for it (its manifest says so).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from libcloud.common.types import LibcloudError

from backfill_app.core import conf
from backfill_app.core.errors import BackfillConfigError
from backfill_app.reporting.dead_letter import DeadLetterFile, dead_letter_summary
from backfill_app.reporting.progress import ByteProgress
from backfill_app.sinks.destinations import Destination
from backfill_app.sinks.drift import DRIFT_REASONS, behind, set_aside_detail
from backfill_app.sinks.files import MANIFEST_NAME
from backfill_app.sources.statement_objects import NotStatementObject
from backfill_app.sources.storage import LogObject, LogStore, StorageLocation
from backfill_app.tracking.gap_finder.archive_comparison import list_statement_objects, search_archive_gaps
from backfill_app.tracking.window import TimeWindow
from backfill_app.tracking.xapi_files import LoadResult, XapiFileLoader

# A statement-file run's manifest lists its objects: far larger is not one of ours.
MANIFEST_MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class RestoreRequest:
    location: StorageLocation
    destination: Destination  # ClickHouse
    window: TimeWindow | None = None
    gaps_only: bool = False
    dead_letter_path: str | None = None
    replace_drifted: bool = False


@dataclass
class RestoreSummary:
    into: str = ""
    listed: str = ""
    objects: list[LoadResult] = field(default_factory=list)
    other_objects: int = 0  # not statement objects: their first bytes read, nothing loaded
    gap_hours: int | None = None  # --gaps_only: hours found short
    dead_letter_path: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def inserted(self) -> int:
        return sum(result.inserted for result in self.objects)

    @property
    def already_present(self) -> int:
        return sum(result.already_present for result in self.objects)

    @property
    def replaced(self) -> int:
        return sum(len(result.replaced) for result in self.objects)

    def to_json(self) -> dict:
        """The summary as data: the ``--summary_json`` document's fields, and what ``lines_of_text`` prints."""
        bad = Counter(row.reason for result in self.objects for row in result.bad_rows)
        drift = Counter(
            (drift.kind, drift.verb, behind(drift.differs_at), replaced)
            for result in self.objects
            for replaced, found in ((False, result.drifted), (True, result.replaced))
            for drift in found
        )
        return {
            "destination": self.into,
            "listed": self.listed,
            "gap_hours": self.gap_hours,
            "files": {
                "loaded": len(self.objects),
                "other": self.other_objects,
                "cut_short": {result.name: result.cut for result in self.objects if result.cut},
            },
            "rows": {
                "inserted": self.inserted,
                "already_present": self.already_present,
                "set_aside": sum(bad.values()),
                "set_aside_by_reason": dict(sorted(bad.items())),
                "outside_window": sum(result.outside for result in self.objects),
                "held_otherwise": sum(len(result.drifted) for result in self.objects),
                "replaced": self.replaced,
                "compared_by_id_only": sum(result.compared_by_id_only for result in self.objects),
            },
            "drift": [
                {"class": kind, "verb": verb, "behaviour": behaviour, "replaced": replaced, "rows": count}
                for (kind, verb, behaviour, replaced), count in sorted(drift.items())
            ],
            "dead_letter_path": self.dead_letter_path,
            "notes": list(self.notes),
        }

    def lines_of_text(self) -> list[str]:
        data = self.to_json()
        files, rows = data["files"], data["rows"]
        text = [
            f"Files: {files['loaded']}",
            f"Rows inserted: {rows['inserted']}",
            f"Rows already present (not inserted again): {rows['already_present']}",
            f"Rows set aside (not statement rows): {rows['set_aside']}"
            + "".join(f"\n  {reason}: {count}" for reason, count in rows["set_aside_by_reason"].items()),
            f"Objects cut short (their whole rows loaded, the rest set aside): {len(files['cut_short'])}"
            + "".join(f"\n  {name}: {cut}" for name, cut in files["cut_short"].items()),
        ]
        if rows["outside_window"]:
            text.append(f"Rows outside the hours asked for (not loaded): {rows['outside_window']}")
        if files["other"]:
            text.append(f"Other objects (not statement rows, not loaded): {files['other']}")
        if data["drift"]:
            text.append(
                f"Rows held otherwise, by an older ERB: {rows['held_otherwise']} set aside, {rows['replaced']} replaced"
                + "".join(
                    f"\n  {entry['class']} ({entry['verb']}): {entry['rows']} "
                    f"{'replaced' if entry['replaced'] else 'set aside'}: {entry['behaviour']}"
                    for entry in data["drift"]
                )
            )
        if rows["compared_by_id_only"]:
            text.append(
                f"Rows compared by id only: {rows['compared_by_id_only']} (the table held more than it can read "
                "whole in their time range: an older ERB's statements there were not looked for)"
            )
        text.extend(data["notes"])
        text.extend(dead_letter_summary(data["dead_letter_path"]))
        return text


class XapiRestore:
    def __init__(self, request: RestoreRequest, announce: Callable[[str], None]):
        self.request = request
        self.announce = announce
        self.summary: RestoreSummary | None = None  # what was loaded so far, also when the destination fails

    def run(self) -> RestoreSummary:
        request = self.request
        xapi = request.destination.xapi_table
        store = LogStore(request.location)
        loader = XapiFileLoader.open(xapi, request.location, store.read_chunks)
        summary = self.summary = RestoreSummary(into=xapi.describe())
        self.announce(f"Into: {xapi.describe()}")
        objects, summary.listed = list_statement_objects(store, request.window)
        replacing = self._replacing_folders(store, objects)  # before --gaps_only keeps the gap hours' objects
        window = request.window
        if request.gaps_only:
            report = search_archive_gaps(store, objects, xapi, window)
            summary.gap_hours = len(report.gaps)
            if not report.gaps:
                self.announce("No gaps: the table holds every statement of these objects. Nothing to load.")
                return summary
            hours = frozenset(gap.hour for gap in report.gaps)
            # The objects holding those hours' statements, and those that could not be read whole (what
            # they lack may be of those hours): read again, so the summary and dead letters name them.
            contents = report.contents
            holding = {name for gap in report.gaps for name in contents.objects_per_hour[gap.hour]}
            holding |= set(contents.cut_objects) | contents.objects_with_bad_rows
            objects = [obj for obj in objects if obj.name in holding]
            window = TimeWindow(window.start if window else None, window.end if window else None, hours)
            self.announce(f"Hours to restore: {len(hours)}, in {len(objects)} objects")
        dead_letters = DeadLetterFile.for_command(request.dead_letter_path, "load_xapi_files")
        progress = ByteProgress(sum(obj.size for obj in objects), conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"))
        try:
            for obj in objects:
                progress.start_object(obj.name, obj.size)
                # Each object is read once here: whether it holds rows is told by its first bytes.
                try:
                    replace = request.replace_drifted or any(obj.name.startswith(folder) for folder in replacing)
                    result = loader.load(obj, window, replace) if XapiFileLoader.is_candidate(obj) else None
                except NotStatementObject:
                    result = None
                if result is None:
                    summary.other_objects += 1
                else:
                    self._set_aside(result, dead_letters)
                    summary.objects.append(result)
                    self.announce(
                        f"{obj.name}: {result.inserted} rows inserted, {result.already_present} already present"
                        + (f" ({len(result.replaced)} replacing an older ERB's)" if result.replaced else "")
                        + (f", {len(result.drifted)} held otherwise" if result.drifted else "")
                        + (f", {len(result.bad_rows)} set aside" if result.bad_rows else "")
                        + (f", {result.cut}" if result.cut else "")
                    )
                progress.advance(obj.size)
            if note := loader.replacement_note(summary.replaced):
                summary.notes.append(note)
        finally:
            progress.close()
            dead_letters.close()
            loader.close()
            summary.dead_letter_path = dead_letters.written_path
        return summary

    def _replacing_folders(self, store: LogStore, objects: list[LogObject]) -> list[str]:
        """The folders of statement-file runs whose manifest asks for --replace_drifted."""
        folders = []
        for obj in objects:
            if obj.name.rsplit("/", 1)[-1] != MANIFEST_NAME or obj.size > MANIFEST_MAX_BYTES:
                continue
            try:
                manifest = json.loads(b"".join(store.read_chunks(obj)))
            except ValueError:
                continue  # not our manifest: its objects are loaded as any
            except (LibcloudError, OSError) as exc:
                raise BackfillConfigError(
                    f"Cannot read {obj.name} (whether its run asked for --replace_drifted): {type(exc).__name__}"
                ) from None
            if isinstance(manifest, dict) and manifest.get("replace_drifted") is True:
                folder = obj.name[: -len(MANIFEST_NAME)]
                folders.append(folder)
                self.announce(f"{folder}: statement files of a run with --replace_drifted: replacing as it asked")
        return folders

    @staticmethod
    def _set_aside(result: LoadResult, dead_letters: DeadLetterFile) -> None:
        for drift in result.drifted:
            dead_letters.add(
                source=result.name,
                line_number=drift.line_number,
                reason=DRIFT_REASONS[drift.kind],
                detail=set_aside_detail(drift.found_id, drift.differs_at, drift.newer, "not inserted"),
                line=drift.json,
            )
        for row in result.bad_rows:
            dead_letters.add(
                source=result.name, line_number=row.line_number, reason=row.reason, detail=row.detail, line=row.line
            )
        if result.cut:
            dead_letters.add(
                source=result.name, line_number=None, reason="object_cut_short", detail=result.cut, line=None
            )
