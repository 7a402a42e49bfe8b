"""
One ``transform_tracking_logs`` run, from its request to its summary: open the destination,
list the logs, choose the time window (the gap hours with --gaps_only), load the progress of
earlier runs, then run here (one or --workers processes) or on Celery. What the operator
should see on the way is handed to ``announce``; the command prints it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

from celery import current_app

from backfill_app.core import conf
from backfill_app.core.databases import require_databases
from backfill_app.core.errors import BackfillConfigError, Refused, RunStopped, ServiceUnavailable
from backfill_app.core.secrets import inline_secrets
from backfill_app.reporting.dead_letter import DeadLetterFile
from backfill_app.reporting.summary import RunSummary
from backfill_app.sources.storage import LogObject, LogStore
from backfill_app.tracking.checkpoints import checkpoints_for
from backfill_app.tracking.gap_finder.log_comparison import gap_window
from backfill_app.tracking.pipeline import TrackingLogBackfill
from backfill_app.tracking.request import TransformRequest
from backfill_app.tracking.run.capacity import default_worker_budget
from backfill_app.tracking.run.distributed import (
    DistributedBackfill,
    StoppedWaiting,
    require_consumers,
    require_shared_destination,
)
from backfill_app.tracking.run.fork_server import forks_safely, start_fork_server, stop_fork_server
from backfill_app.tracking.run.local import ParallelBackfill, WorkerFailed, parallel_workers
from backfill_app.tracking.statement_identity import ids_as_the_destination_holds
from backfill_app.tracking.unit_runner import UnitOutlets, UnitRunner
from backfill_app.tracking.window import TimeWindow
from backfill_app.tracking.work import UnitOptions, units_of, whole_run_unit
from backfill_app.transform.lookups import external_ids_creatable
from backfill_app.transform.statements import StatementTransformer


class TrackingLogJob:
    def __init__(self, request: TransformRequest, announce: Callable[[str], None]):
        self.request = request
        self.announce = announce

    def run(self) -> RunSummary | None:
        """The run's summary, or None when --gaps_only finds nothing to do (and says so)."""
        request = self.request
        require_databases()
        opened = request.destination.open()
        self.opened = opened
        try:
            writes = not request.destination.dry_run
            with ids_as_the_destination_holds(opened, writes, request.allow_other_statement_ids, self.announce):
                return self._run_into(opened.sink)
        finally:
            opened.close()

    def _run_into(self, sink) -> RunSummary | None:
        request = self.request
        queue, consumers = self._celery_queue(sink) if request.mode.distributed else (None, [])
        if queue is None and self._wanted_workers[0] > 1 and not forks_safely():
            start_fork_server()  # sets itself up on another core while this process lists the logs
        try:
            return self._list_and_run(sink, queue, consumers)
        finally:
            stop_fork_server()

    def _list_and_run(self, sink, queue: str | None, consumers: list[str]) -> RunSummary | None:
        request = self.request
        store = LogStore(request.source)
        objects = store.list_objects()
        if not objects:
            raise BackfillConfigError(f"No files found at {request.source.describe()}*.")
        window = self._window(store, objects)
        if window is not None and window.hours is not None and not window.hours:
            self.announce("No gaps: ClickHouse holds every statement the logs can give; nothing to do.")
            return None
        if window is not None:
            window.prepare(store, objects)
            self.announce(f"Time window: {window.describe()}")
        self.announce(f"Found {len(objects)} files at {request.source.describe()}*; writing to {sink.describe()}")
        if not external_ids_creatable():
            self.announce(
                f"The platform database is read-only here: users who have no {request.transformer_type} external "
                "id yet cannot get one, and their events are set aside as no_external_id (the summary says how "
                "to finish them)."
            )
        checkpoints = checkpoints_for(request.source, sink, request.transformer_type, window)
        if request.restart:
            self.announce(f"--restart: forgot the progress of {checkpoints.restart()} files from earlier runs")
        options = UnitOptions(request.transformer_type, request.verify_sample, request.batch, checkpoints.key, window)
        outlets = UnitOutlets(
            sink,
            checkpoints,
            DeadLetterFile.for_command(request.dead_letter_path, "transform_tracking_logs"),
            dry_run=request.destination.dry_run,
            row_sink=self.opened.row_sink,
        )
        units = units_of(
            request.source,
            objects,
            options,
            conf.get("BACKFILL_RANGE_BYTES"),
            self._time_ranges(store, objects, window, queue),
        )
        if queue is not None:
            self.announce(
                f"Queueing {len(units)} tasks on the Celery queue {queue!r}, consumed by {len(consumers)} workers"
            )
            summary = self._collect(outlets, objects, lambda parent: self._run_distributed(parent, units, queue))
        else:
            summary = self._run_here(outlets, objects, options, units)
        if note := self.opened.replacement_note(summary.statements_replaced):
            summary.notes.append(note)
        if summary.stopped:
            raise RunStopped(summary.stopped, summary)
        return summary

    def _time_ranges(self, store: LogStore, objects, window: TimeWindow | None, queue: str | None) -> dict | None:
        """Each object's time range where several processes will write at once (see work.units_of), else None."""
        several = queue is not None or (self.opened.parallel_writers and self._wanted_workers[0] > 1)
        if not several or len(objects) < 2:
            return None
        ranges = window or TimeWindow()
        ranges.prepare(store, objects)  # already done for a window: its ranges are kept
        return ranges.time_ranges

    def _celery_queue(self, sink) -> tuple[str, list[str]]:
        require_shared_destination(self.opened)
        self._keep_secrets_out_of_the_queue()
        queue = self.request.mode.queue or conf.get("BACKFILL_CELERY_QUEUE")
        return queue, require_consumers(current_app, queue)

    def _keep_secrets_out_of_the_queue(self) -> None:
        """Task messages carry the configs as given: references are fine, values sit in the broker."""
        request = self.request
        carried = [
            f"--source_config {key}" for key in inline_secrets(request.source.driver_options, request.source.provider)
        ]
        # A config read from @file travels as its path: the worker reads its own copy.
        carried += [f"--destination_config {key}" for key in request.destination.inline_secrets()]
        if not carried:
            return
        where = ", ".join(carried)
        if not request.mode.secrets_in_queue:
            raise Refused(
                f"--distributed would put secrets into the broker's task messages ({where}). Give them by reference, "
                'as {"env": "NAME"} or {"file": "/path"} that each worker reads itself (README: Credentials), or pass '
                "--allow_secrets_in_queue to send them anyway."
            )
        self.announce(
            f"WARNING: --allow_secrets_in_queue: the task messages carry secrets ({where}) through the broker."
        )

    def _window(self, store: LogStore, objects: list[LogObject]) -> TimeWindow | None:
        """--start/--end, narrowed to the gap hours with --gaps_only; None when neither is given."""
        time = self.request.time
        if time.gaps_only:
            return gap_window(time.window(), self.request.destination, store, objects)
        return time.window() if time.bounded else None

    def _run_here(self, outlets: UnitOutlets, objects, options: UnitOptions, units) -> RunSummary:
        wanted, why = self._wanted_workers
        workers = parallel_workers(wanted, len(units))
        if workers < wanted:
            why += f"; {len(units)} files or parts to read" if workers == len(units) else "; an in-memory database"
        if workers == 1:
            if len(units) > 1:
                self.announce(f"Transforming in this process ({why})")
            return UnitRunner().run(whole_run_unit(self.request.source, objects, options), outlets).summary
        writes = self.opened.for_workers
        who_writes = "each writes its own batches" if writes else "this process writes their statements"
        self.announce(f"Transforming in {workers} processes ({why}); {who_writes}")
        manifest = self.opened.manifest
        return self._collect(
            outlets, objects, lambda parent: ParallelBackfill(parent, units, workers, writes, manifest).run()
        )

    def _collect(self, outlets: UnitOutlets, objects, run: Callable[[TrackingLogBackfill], RunSummary]) -> RunSummary:
        """
        Units read elsewhere (--workers, --distributed): this process's pipeline only gathers their
        results, shows the progress, and writes or commits what they hand over.
        """
        parent = TrackingLogBackfill(
            LogStore(self.request.source),
            StatementTransformer(self.request.transformer_type, self.request.verify_sample),
            outlets.sink,
            outlets.dead_letters,
            self.request.batch,
            dry_run=outlets.dry_run,
            checkpoints=outlets.checkpoints,
            row_sink=outlets.row_sink,
        )
        parent.start_run(objects)
        try:
            return run(parent)
        except ServiceUnavailable as exc:  # the destination, or the platform's database
            parent.summary.stopped = parent.summary.stopped or f"{exc}. Rerun the same command to continue."
            return parent.summary
        except (WorkerFailed, StoppedWaiting) as exc:
            parent.summary.stopped = f"{exc}. What was written is kept; rerun the same command to continue."
            return parent.summary

    @cached_property
    def _wanted_workers(self) -> tuple[int, str]:
        """How many processes to transform in, and why (the CPUs and memory are read once)."""
        if self.request.mode.workers:
            return self.request.mode.workers, f"--workers {self.request.mode.workers}"
        if conf.get("BACKFILL_WORKERS"):
            return int(conf.get("BACKFILL_WORKERS")), f"BACKFILL_WORKERS = {conf.get('BACKFILL_WORKERS')}"
        budget = default_worker_budget()
        return budget.workers, f"the default: {budget.reason}; --workers sets another number"

    def _run_distributed(self, parent: TrackingLogBackfill, units, queue: str) -> RunSummary:
        distributed = DistributedBackfill(units, self.request.destination, queue, parent.summary, parent.dead_letters)
        try:
            return distributed.run(parent.progress)
        finally:
            parent.close_run()
