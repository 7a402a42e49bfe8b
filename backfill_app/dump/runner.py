"""
One --object dumped into its event_sink table(s): keyset pages on the primary key, one
change query per page, rows validated against the column types, a course's blocks before
its overview.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import DatabaseError

from backfill_app.clickhouse.sql import chunks
from backfill_app.core import conf
from backfill_app.core.databases import stop_if_unreachable
from backfill_app.core.errors import BackfillConfigError
from backfill_app.dump import rows as row_builders
from backfill_app.dump.changes import latest_contents, unchanged
from backfill_app.dump.courses import course_block_rows, course_overview_row
from backfill_app.dump.modulestore import modulestore_available, modulestore_course_keys, modulestore_courses
from backfill_app.dump.olx import OlxCourse, UnreadableCourse, course_exports, read_export
from backfill_app.dump.platform_models import platform_model
from backfill_app.dump.tables import (
    COURSE_BLOCKS,
    COURSE_ENROLLMENT,
    COURSE_OVERVIEWS,
    EXTERNAL_ID,
    OBJECT_TAG,
    TAG,
    TAXONOMY,
    USER_PROFILE,
    EventSinkTable,
)
from backfill_app.dump.writer import BadRow, insert_rows, table_row
from backfill_app.reporting.dead_letter import DeadLetterFile, dead_letter_summary
from backfill_app.reporting.progress import ByteProgress


@dataclass(frozen=True)
class ModelObject:
    """An --object read from a platform model, one row per instance."""

    name: str
    table: EventSinkTable
    related: tuple[str, ...]
    build_row: Callable


MODEL_OBJECTS = {
    spec.name: spec
    for spec in (
        ModelObject("user_profile", USER_PROFILE, ("user",), row_builders.user_profile_row),
        ModelObject("external_id", EXTERNAL_ID, ("user", "external_id_type"), row_builders.external_id_row),
        ModelObject("course_enrollment", COURSE_ENROLLMENT, ("user",), row_builders.course_enrollment_row),
        ModelObject("tag", TAG, ("parent", "taxonomy"), row_builders.tag_row),
        ModelObject("taxonomy", TAXONOMY, (), row_builders.taxonomy_row),
        ModelObject("object_tag", OBJECT_TAG, ("tag", "taxonomy"), row_builders.object_tag_row),
    )
}
COURSE_OBJECT = "course_overviews"


@dataclass(frozen=True)
class DumpOptions:
    object_name: str
    ids: tuple[str, ...] = ()
    ids_to_skip: tuple[str, ...] = ()
    start_pk: int | None = None
    force: bool = False
    limit: int | None = None
    batch_size: int = 10_000
    sleep_time: float = 1.0


@dataclass
class DumpSummary:
    object_name: str
    destination: str
    read: int = 0
    written: int = 0
    skipped_unchanged: int = 0
    rows_written: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    dead_letter_path: str | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def set_aside(self) -> int:
        return sum(self.errors.values())

    def set_aside_sentence(self) -> str:
        """Why the command ends with a failure status though the other objects were dumped."""
        return (
            f"{self.set_aside} {self.object_name} objects were set aside (written to {self.dead_letter_path}, with "
            "why); every other one was dumped. Mend them and run the command again: unchanged objects are not "
            "written again."
        )

    def to_json(self) -> dict:
        """The summary as data: the ``--summary_json`` document's fields, and what ``lines_of_text`` prints."""
        elapsed = round(time.monotonic() - self.started_at, 3)
        rows = sum(self.rows_written.values())
        return {
            "object": self.object_name,
            "destination": self.destination,
            "objects": {
                "read": self.read,
                "written": self.written,
                "skipped_unchanged": self.skipped_unchanged,
                "set_aside": self.set_aside,
                "set_aside_by_reason": dict(sorted(self.errors.items())),
            },
            "rows_written": dict(sorted(self.rows_written.items())),
            "dead_letter_path": self.dead_letter_path,
            "elapsed_secs": elapsed,
            "rows_per_sec": round(rows / elapsed, 1) if elapsed > 0 else 0.0,
        }

    def lines_of_text(self) -> list[str]:
        data = self.to_json()
        objects = data["objects"]
        return [
            f"Object: {data['object']}, into {data['destination']}",
            f"Objects read: {objects['read']}",
            f"Objects written: {objects['written']}",
            f"Objects skipped as unchanged since their last dump: {objects['skipped_unchanged']}",
            "Rows written: " + (", ".join(f"{table} {count}" for table, count in data["rows_written"].items()) or "0"),
            f"Set aside (not dumped): {objects['set_aside']}"
            + "".join(f"\n  {reason}: {count}" for reason, count in objects["set_aside_by_reason"].items()),
            *dead_letter_summary(data["dead_letter_path"]),
            f"Elapsed: {data['elapsed_secs']:.1f} s, {data['rows_per_sec']:.0f} rows/s",
        ]


class Dump:
    def __init__(self, client, database: str, options: DumpOptions, dead_letters: DeadLetterFile, destination: str):
        self.client = client
        self.database = database
        self.options = options
        self.dead_letters = dead_letters
        self.summary = DumpSummary(options.object_name, destination)
        self._pages = 0

    def run(self) -> DumpSummary:
        progress = ByteProgress(None, conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"), unit="objects")
        try:
            if self.options.object_name == COURSE_OBJECT:
                self._dump_courses(progress)
            else:
                self._dump_models(MODEL_OBJECTS[self.options.object_name], progress)
        finally:
            progress.close()
            self.dead_letters.close()
            self.summary.dead_letter_path = self.dead_letters.written_path
        return self.summary

    # -- model objects ------------------------------------------------------------------

    def _dump_models(self, spec: ModelObject, progress: ByteProgress) -> None:
        model = platform_model(spec.name)
        queryset = model.objects.select_related(*spec.related).order_by("pk")
        if self.options.ids:
            queryset = queryset.filter(pk__in=[self._pk(value, spec.name) for value in self.options.ids])
        if self.options.ids_to_skip:
            queryset = queryset.exclude(pk__in=[self._pk(value, spec.name) for value in self.options.ids_to_skip])
        if self.options.start_pk is not None:
            queryset = queryset.filter(pk__gte=self.options.start_pk)
        last_pk = None
        while not self._limit_reached():
            read_before = self.summary.read
            page, last_pk = self._read_page(queryset if last_pk is None else queryset.filter(pk__gt=last_pk))
            if last_pk is None:
                return
            rows = []
            for instance in page:
                try:
                    rows.append((instance.pk, spec.build_row(instance)))
                except Exception as exc:  # one object's odd value: that object only
                    self._set_aside_object(instance.pk, "unreadable_row", f"{type(exc).__name__}: {exc}")
            self._write_page(spec.table, rows)
            progress.advance(self.summary.read - read_before, f"{self.summary.written} written")

    def _read_page(self, queryset) -> tuple[list, object]:
        """
        The next page of objects and the last key it covers (None: no more). A page the database
        driver cannot read (one row with a date no datetime holds...) is read again one object
        at a time, and the objects that cannot be read are set aside.
        """
        size = self.options.batch_size
        try:
            page = list(queryset[:size])
        except Exception as exc:
            if isinstance(exc, DatabaseError):
                stop_if_unreachable()
        else:
            self.summary.read += len(page)
            return page, page[-1].pk if page else None
        keys = list(queryset.values_list("pk", flat=True)[:size])
        page = []
        for key in keys:
            self.summary.read += 1
            try:
                page.append(queryset.get(pk=key))
            except Exception as exc:
                if isinstance(exc, DatabaseError):
                    stop_if_unreachable()
                self._set_aside_object(key, "unreadable_row", f"{type(exc).__name__}: {exc}")
        return page, keys[-1] if keys else None

    @staticmethod
    def _pk(value: str, object_name: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise BackfillConfigError(f"{value!r} is not an id of {object_name} (ids are numbers).") from None

    def _write_page(self, table: EventSinkTable, rows: list[tuple]) -> None:
        rows = self._changed_only(table, rows)
        rows = rows[: self._room_left()]
        stamp = self._dump_stamp()
        checked = []
        for key, row in rows:
            try:
                checked.append(table_row(table, {**row, **stamp}))
            except BadRow as bad:
                self._set_aside(table, key, bad, row)
        self._sleep_between_pages()
        insert_rows(self.client, self.database, table, checked)
        self.summary.written += len(checked)
        self.summary.rows_written[table.name] += len(checked)

    # -- courses ------------------------------------------------------------------------

    def _course_pages(self) -> Iterator[list[OlxCourse | UnreadableCourse]]:
        """Pages of courses: from course exports when BACKFILL_COURSES_DIR is set, else the CMS's modulestore."""
        directory = conf.get("BACKFILL_COURSES_DIR")
        if directory:
            for page in chunks(course_exports(directory), self.options.batch_size):
                yield [read_export(path) for path in page]
        elif modulestore_available():
            keys = [key for key in modulestore_course_keys() if not self.options.ids or key in self.options.ids]
            for page in chunks(keys, self.options.batch_size):
                yield list(modulestore_courses(page))
        else:
            raise BackfillConfigError(
                "No course source: set BACKFILL_COURSES_DIR to a folder of course exports (OLX folders or .tar.gz), "
                "or run the command in the CMS."
            )

    def _dump_courses(self, progress: ByteProgress) -> None:
        if self.options.start_pk is not None:
            raise BackfillConfigError("--start_pk applies to numbered objects; courses are chosen with --ids.")
        for page in self._course_pages():
            if self._limit_reached():
                return
            courses = []
            for course in page:
                if isinstance(course, UnreadableCourse):  # its key is unknown: reported whatever --ids says
                    self.summary.read += 1
                    self._set_aside_object(course.name, "unreadable_course", course.reason)
                elif (not self.options.ids or course.course_key in self.options.ids) and (
                    course.course_key not in self.options.ids_to_skip
                ):
                    courses.append(course)
            self.summary.read += len(courses)
            overviews = self._changed_only(COURSE_OVERVIEWS, self._overview_rows(courses))
            overviews = overviews[: self._room_left()]
            changed = {key: row for key, row in overviews}
            stamp = self._dump_stamp()
            blocks, overview_rows = [], []
            for course in courses:
                if course.course_key in changed and (
                    rows := self._course_rows(course, changed[course.course_key], stamp)
                ):
                    blocks.extend(rows[0])
                    overview_rows.append(rows[1])
            self._sleep_between_pages()
            # Blocks first, overview last: a failure in between leaves no overview, so a rerun
            # dumps the course again instead of skipping it with its blocks missing.
            # Each counted once written: the summary of a run stopped between them says what is there.
            insert_rows(self.client, self.database, COURSE_BLOCKS, blocks)
            self.summary.rows_written[COURSE_BLOCKS.name] += len(blocks)
            insert_rows(self.client, self.database, COURSE_OVERVIEWS, overview_rows)
            self.summary.written += len(overview_rows)
            self.summary.rows_written[COURSE_OVERVIEWS.name] += len(overview_rows)
            progress.advance(len(courses), f"{self.summary.written} written")

    def _overview_rows(self, courses: list[OlxCourse]) -> list[tuple[str, dict]]:
        rows = []
        for course in courses:
            try:
                rows.append((course.course_key, course_overview_row(course)))
            except Exception as exc:  # one course's odd settings (a count that is no number...): that course only
                self._set_aside_object(course.course_key, "unreadable_course", f"{type(exc).__name__}: {exc}")
        return rows

    def _course_rows(self, course: OlxCourse, overview: dict, stamp: dict) -> tuple[list, list] | None:
        """The course's block rows and overview row, checked against the columns; None when it is set aside."""
        try:
            blocks = [table_row(COURSE_BLOCKS, {**block, **stamp}) for block in course_block_rows(course)]
            return blocks, table_row(COURSE_OVERVIEWS, {**overview, **stamp})
        except BadRow as bad:
            self._set_aside_object(
                course.course_key, "bad_row", f"{bad.field}: {bad.reason}", counted_as=f"bad_{bad.field}"
            )
        except Exception as exc:
            self._set_aside_object(course.course_key, "unreadable_course", f"{type(exc).__name__}: {exc}")
        return None

    # -- shared -------------------------------------------------------------------------

    def _changed_only(self, table: EventSinkTable, rows: list[tuple]) -> list[tuple]:
        if self.options.force or not rows:
            return rows
        stored = latest_contents(self.client, self.database, table, [row[table.key] for _, row in rows])
        changed = [(key, row) for key, row in rows if not unchanged(row, table, stored)]
        self.summary.skipped_unchanged += len(rows) - len(changed)
        return changed

    def _room_left(self) -> int | None:
        return None if self.options.limit is None else max(0, self.options.limit - self.summary.written)

    def _limit_reached(self) -> bool:
        return self.options.limit is not None and self.summary.written >= self.options.limit

    @staticmethod
    def _dump_stamp() -> dict:
        # One dump id and time per page, as Aspects' readers take the latest time_last_dumped.
        return {"dump_id": uuid.uuid4(), "time_last_dumped": str(datetime.now(UTC))}

    def _sleep_between_pages(self) -> None:
        if self._pages and self.options.sleep_time > 0:
            time.sleep(self.options.sleep_time)
        self._pages += 1

    def _set_aside(self, table: EventSinkTable, key, bad: BadRow, row: dict) -> None:
        self._set_aside_object(
            key, "bad_row", f"{table.name}.{bad.field}: {bad.reason}", counted_as=f"bad_{bad.field}", row=row
        )

    def _set_aside_object(self, key, reason: str, detail: str, counted_as: str | None = None, row=None) -> None:
        """One object not dumped, the others are: counted, and kept in the dead-letter file."""
        self.summary.errors[counted_as or reason] += 1
        self.dead_letters.add(
            source=f"{self.options.object_name} {key}",
            line_number=None,
            reason=reason,
            detail=detail,
            line=repr(row) if row is not None else None,
        )
