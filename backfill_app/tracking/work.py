"""
The unit of work of a ``transform_tracking_logs`` run and its result: the same two types
whether the unit is read in the command's process, in a --workers process or by a Celery
task (tracking/unit_runner.py runs it, in all three). A unit is one or more tracking-log
objects, or byte ranges of a large plain one, read in order by one process, with everything
that process needs: where they are, which transformer and how much of the fast path to
verify, the time window, the batching, and which checkpoints to keep.

Free of Django at import: a --workers process imports it before setting Django up.
"""

from __future__ import annotations

import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backfill_app.reporting.summary import RunSummary
    from backfill_app.sources.storage import LogObject, LogStore, StorageLocation
    from backfill_app.tracking.window import TimeWindow


@dataclass(frozen=True)
class BatchOptions:
    batch_size: int = 10_000
    sleep_between_batches_secs: float = 10.0
    progress_log_interval_secs: float = 30.0
    quiet: bool = False  # no progress of its own: a worker, whose parent shows it


@dataclass(frozen=True)
class ObjectPart:
    """One object, or the byte range of one (the lines that start in it)."""

    name: str
    range_start: int = 0
    range_end: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.range_end is None else f"{self.name}@{self.range_start}-{self.range_end}"


@dataclass(frozen=True)
class WorkUnit:
    location: StorageLocation
    parts: tuple[ObjectPart, ...]  # read in this order, by one process
    transformer_type: str
    verify_sample: float  # share of the fast path's events also transformed by ERB: no default, never forgotten
    batch: BatchOptions
    checkpoint_key: str | None  # None: no progress kept (a dry run)
    window: TimeWindow | None = None
    # The objects as this process listed them (the command's own unit): not looked up again, never sent.
    listed: tuple[LogObject, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        first = self.parts[0].label
        return first if len(self.parts) == 1 else f"{first} and {len(self.parts) - 1} more"

    def objects(self, store: LogStore) -> list[LogObject]:
        """The parts as objects of ``store`` (looked up now unless listed), their time window prepared."""
        if self.listed is not None:
            return list(self.listed)
        wholes = [store.get_object(part.name) for part in self.parts]
        if self.window is not None:
            self.window.prepare(store, wholes)
        return [
            replace(whole, range_start=part.range_start, range_end=part.range_end)
            for whole, part in zip(wholes, self.parts, strict=True)
        ]

    def to_json(self) -> dict:
        """The unit as a Celery message carries it (JSON): the source's secrets stay references."""
        return {
            "location": asdict(self.location),
            "parts": [asdict(part) for part in self.parts],
            "transformer_type": self.transformer_type,
            "verify_sample": self.verify_sample,
            "batch": asdict(self.batch),
            "checkpoint_key": self.checkpoint_key,
            "window": self.window.to_json() if self.window is not None else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> WorkUnit:
        from backfill_app.sources.storage import StorageLocation
        from backfill_app.tracking.window import TimeWindow

        return cls(
            location=StorageLocation(**data["location"]),
            parts=tuple(ObjectPart(**part) for part in data["parts"]),
            transformer_type=data["transformer_type"],
            verify_sample=data["verify_sample"],
            batch=BatchOptions(**data["batch"]),
            checkpoint_key=data["checkpoint_key"],
            window=TimeWindow.from_json(data["window"]) if data.get("window") else None,
        )


@dataclass(frozen=True)
class UnitOptions:
    """What every unit of a run shares."""

    transformer_type: str
    verify_sample: float
    batch: BatchOptions
    checkpoint_key: str | None
    window: TimeWindow | None


def whole_run_unit(location: StorageLocation, objects: list[LogObject], options: UnitOptions) -> WorkUnit:
    """Every object of the run as one unit, read by the command's own process in listing order."""
    parts = tuple(ObjectPart(obj.name, obj.range_start, obj.range_end) for obj in objects)
    return _unit(location, parts, options, listed=tuple(objects))


def units_of(
    location: StorageLocation,
    objects: list[LogObject],
    options: UnitOptions,
    range_bytes: int,
    time_ranges: dict[str, tuple[datetime | None, datetime | None]] | None = None,
) -> list[WorkUnit]:
    """
    Units for other processes: a unit per object, a large plain file as a unit per range of
    ``range_bytes``. Given each object's ``time_ranges`` (when several processes write at
    once), objects whose ranges overlap are one unit, read whole and in order by one process:
    two copies of a log (logrotate's copytruncate, an archive restored twice) then meet in one
    process, whose check of the ids the destination holds sees the first copy's statements
    before it writes the second's.
    """
    quiet = replace(options, batch=replace(options.batch, quiet=True))  # the command's process shows the progress
    units = []
    for run in overlapping_runs(objects, time_ranges) if time_ranges is not None else [[obj] for obj in objects]:
        if len(run) > 1:
            units.append(_unit(location, tuple(ObjectPart(obj.name) for obj in run), quiet))
            continue
        units += [
            _unit(location, (ObjectPart(part.name, part.range_start, part.range_end),), quiet)
            for part in run[0].split(range_bytes)
        ]
    return units


def overlapping_runs(objects: list[LogObject], time_ranges: dict) -> list[list[LogObject]]:
    """
    The objects in runs whose time ranges overlap, each run in the order of its first events. An
    object whose range is not known overlaps everything after its start (or everything, without one).
    """
    never = datetime.min.replace(tzinfo=UTC)
    ever = datetime.max.replace(tzinfo=UTC)

    def bounds(obj: LogObject) -> tuple[datetime, datetime]:
        first, last = time_ranges.get(obj.name, (None, None))
        return first or never, last or ever

    runs: list[list[LogObject]] = []
    run_end = never
    for obj in sorted(objects, key=lambda obj: (bounds(obj), obj.name)):
        first, last = bounds(obj)
        if runs and first < run_end:
            runs[-1].append(obj)
            run_end = max(run_end, last)
        else:
            runs.append([obj])
            run_end = last
    return runs


def _unit(location, parts, options: UnitOptions, listed=None) -> WorkUnit:
    return WorkUnit(
        location, parts, options.transformer_type, options.verify_sample, options.batch,
        options.checkpoint_key, options.window, listed,
    )  # fmt: skip


@dataclass
class WorkResult:
    """What reading a unit gave: its counts, why it stopped if it did, and what it wrote where."""

    label: str
    bytes: int  # of the logs the unit covered, done or not: for the progress bar
    summary: RunSummary
    written_objects: list[dict] = field(default_factory=list)  # statement files: for the run's manifest
    # A Celery task's lines set aside travel back with its result (the first ones; all stay on the worker).
    dead_letters: list[dict] = field(default_factory=list)
    dead_letters_total: int = 0
    dead_letter_file: str | None = None
    host: str = field(default_factory=socket.gethostname)

    @property
    def stopped(self) -> str | None:
        return self.summary.stopped

    def to_json(self) -> dict:
        # The lines set aside hold personal data: last, where the worker's "succeeded" log line,
        # cut at tasks.RESULT_LOGGED_CHARS, never reaches (the counts alone are longer than that).
        return {
            "unit": self.label,
            "bytes": self.bytes,
            "stopped": self.summary.stopped,
            "counts": self.summary.counts_to_json(),
            "written_objects": self.written_objects,
            "dead_letters_total": self.dead_letters_total,
            "dead_letter_file": self.dead_letter_file,
            "host": self.host,
            "dead_letters": self.dead_letters,
        }

    @classmethod
    def from_json(cls, data: dict) -> WorkResult:
        from backfill_app.reporting.summary import RunSummary

        summary = RunSummary.from_counts(data["counts"])
        summary.stopped = data["stopped"]
        return cls(
            data["unit"], data["bytes"], summary, data["written_objects"], data["dead_letters"],
            data["dead_letters_total"], data["dead_letter_file"], data["host"],
        )  # fmt: skip
