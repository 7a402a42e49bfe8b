"""
The one function that reads a work unit (tracking/work.py), wherever it runs: the command's
own process, a --workers process, a Celery task. What differs between them is only where
the unit's output goes (its :class:`UnitOutlets`): the statements (the destination, or the
command's process), the positions made durable (the checkpoint store, or the command's
process, which commits them), the lines set aside (a file, a queue, a task's result).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from backfill_app.core.errors import ServiceUnavailable
from backfill_app.reporting.dead_letter import DeadLetters
from backfill_app.sinks.base import RowSink, StatementSink
from backfill_app.sources.storage import LogStore
from backfill_app.tracking.pipeline import TrackingLogBackfill
from backfill_app.tracking.work import WorkResult, WorkUnit
from backfill_app.transform.lookups import PlatformLookups
from backfill_app.transform.statements import DirectPathMismatch, StatementTransformer

# What ends a unit early with its summary saying why (where it stopped, what differed): the run
# stops with it, and a rerun continues from the positions made durable.
UNIT_ENDING = (ServiceUnavailable, DirectPathMismatch)


@dataclass
class UnitOutlets:
    """Where one unit's output goes."""

    sink: StatementSink
    checkpoints: object  # resume_point(obj) and commit(obj, offset, line, completed)
    dead_letters: DeadLetters
    dry_run: bool = False
    progress_listener: Callable[[int], None] | None = None
    row_sink: RowSink | None = None


class UnitRunner:
    """
    Reads units, one after the other, in one process. What it keeps from one unit to the next
    is its own: the transformer and the user look-ups (cold caches for every file cost 10 %
    more CPU per event), and whether this process's start-up was counted yet.
    """

    def __init__(self):
        self._transformer: StatementTransformer | None = None
        self._made_for: tuple[str, float] | None = None  # the transformer's type and verified share
        self._lookups: PlatformLookups | None = None
        self._startup_counted = False

    def run(self, unit: WorkUnit, outlets: UnitOutlets) -> WorkResult:
        store = LogStore(unit.location)
        objects = unit.objects(store)
        backfill = TrackingLogBackfill(
            store,
            self._transformer_for(unit),
            outlets.sink,
            outlets.dead_letters,
            unit.batch,
            dry_run=outlets.dry_run,
            checkpoints=outlets.checkpoints,
            event_filter=unit.window,
            progress_listener=outlets.progress_listener,
            startup_is_this_runs=not self._startup_counted,
            lookups=self._lookups,
            row_sink=outlets.row_sink,
        )
        self._startup_counted = True
        try:
            summary = backfill.run(objects)
        except UNIT_ENDING as exc:
            summary = backfill.summary
            summary.stopped = summary.stopped or str(exc)
        return WorkResult(unit.label, sum(obj.span for obj in objects), summary)

    def _transformer_for(self, unit: WorkUnit) -> StatementTransformer:
        wanted = (unit.transformer_type, unit.verify_sample)
        if self._transformer is None or self._made_for != wanted:
            self._transformer, self._made_for = StatementTransformer(*wanted), wanted
            self._lookups = PlatformLookups()
        return self._transformer
