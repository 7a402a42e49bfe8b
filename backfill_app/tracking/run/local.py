"""
--workers N: the CPU-heavy part (parsing and the transformation) in N processes, one source
object (or byte range) at a time each. The parent alone commits checkpoints, so that one
process writes this app's state, and it gathers the summary and the lines set aside.

Who writes the statements depends on the destination:

- one that takes parallel writers (statement files on any storage, an LRS, a ClickHouse
  server, a dry run): each worker writes its own batches and hands the parent the position
  a batch makes safe once that batch is durable; the parent commits it. The parent touches
  no statement, so one parent keeps many workers busy.
- the embedded ClickHouse (one process per data folder): the parent is the only writer.
  Workers hand it rows ready to insert (sinks/row_binary.py), in order, then the position
  they cover; the parent commits a position once it has written the rows before it.

This module is imported by a worker before Django is set up (to find the worker's
functions): it imports nothing that needs Django at its top.
"""

from __future__ import annotations

import logging
import os
import queue as queue_module
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backfill_app.reporting.cpu import WORKERS, add_seconds
from backfill_app.reporting.summary import RunSummary
from backfill_app.sinks.base import WriteResult
from backfill_app.tracking.run.fork_server import fork_server_cpu_seconds, worker_context
from backfill_app.tracking.run.parent_death import end_with_parent

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from backfill_app.tracking.run.shards import Shard

HANDOFF_STATEMENTS = 500  # statements per message: small enough to keep both sides busy
# Messages waiting for the parent: enough to keep it writing, few enough that a writer behind
# its workers (the embedded engine merging) does not hold tens of MB of statements.
HANDOFF_QUEUE_MESSAGES = 16
_handoff: Any = None  # the queue, in a worker process
_start_failure: BaseException | None = None  # reported by the first job: a Pool respawns failed starts forever
_startup_counted = False  # a worker's start-up goes into its first object's CPU account
# A worker's transformer and look-ups, kept from one object to the next as one process keeps
# them through all of a run's files: cold caches for every file cost 10 % more CPU per event.
_kept: dict = {}


@dataclass(frozen=True)
class WorkerWrites:
    """What a worker needs to write its own batches: the run's destination and batching."""

    sink: Any  # sinks.destinations.SinkForWorker (imported once Django is set up)
    batch: Any  # pipeline.BatchOptions


@dataclass(frozen=True)
class WorkerPlan:
    """How a worker runs every job of a run."""

    writes: WorkerWrites | None  # None: hand statements to the command's process, which writes
    lms_root_url: str  # the one the command checked against the destination: the worker's ids match it
    ready_rows: bool = False  # hand over rows ready for the embedded ClickHouse


def writes_in_parallel(sink) -> bool:
    """True when several processes may write to ``sink``'s destination at once."""
    return bool(getattr(sink, "parallel_writers", False))


class WorkerFailed(Exception):
    """A worker could not go on; the message names the file and the cause."""


class HandoffSink:
    in_process = True  # a put on a queue: nothing to overlap
    cpu_role = "handing off"

    def __init__(self, handoff, ready_rows: bool = False):
        self.handoff = handoff
        self.ready_rows = ready_rows  # hand over RowBinary rows (the embedded ClickHouse), not statements

    def describe(self) -> str:
        return "the parent process"

    def identity(self) -> None:
        return None

    def write(self, statements) -> WriteResult:
        if self.ready_rows and statements:
            from backfill_app.sinks.row_binary import PreparedStatements

            self.handoff.put(("statements", PreparedStatements.of(statements)))
        else:
            self.handoff.put(("statements", statements))
        return WriteResult(written=0)

    def close(self) -> None:
        pass


class HandoffCheckpoints:
    """Resume points read from the database; positions handed to the parent to commit."""

    def __init__(self, handoff, store):
        self.handoff = handoff
        self.store = store

    def resume_point(self, obj):
        from backfill_app.tracking.checkpoints import START

        return self.store.resume_point(obj) if self.store else START

    def commit(self, obj, offset: int, line: int, completed: bool) -> None:
        # Name, size and etag are what a checkpoint needs; the storage handle stays here.
        self.handoff.put(("position", (replace(obj, handle=None), offset, line, completed)))


class HandoffDeadLetters:
    def __init__(self, handoff):
        self.handoff = handoff
        self.written_path = None

    def add(self, **entry) -> None:
        self.handoff.put(("dead_letter", entry))

    def close(self) -> None:
        pass


def _start_worker(handoff, database_name, command_pid) -> None:
    global _handoff, _start_failure
    end_with_parent(must_be_alive=command_pid)  # its parent: the command, or the fork server
    _handoff = handoff
    try:
        import django
        from django.apps import apps

        if not apps.ready:  # a fork of the command (or of the server) has set Django up already
            django.setup()
        from django.db import connections

        # The parent's database as it is now (a test run swaps it after settings are read).
        connections["default"].settings_dict["NAME"] = database_name
    except BaseException as exc:
        _start_failure = exc


def parallel_workers(requested: int, objects: int) -> int:
    """Workers worth starting: no more than objects to read, and one with an in-memory database."""
    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        return 1  # other processes cannot see it
    return max(1, min(requested, objects))


def run_worker_job(job: Shard, index: int, plan: WorkerPlan) -> None:
    """In a worker: the pipeline on one shard; statements written here or handed over, as ``plan`` says."""
    if _start_failure is not None:
        raise _start_failure
    from backfill_app.tracking.statement_identity import lms_root_url_in_use

    with lms_root_url_in_use(plan.lms_root_url):
        _run_worker_job(job, index, plan)


def _run_worker_job(job: Shard, index: int, plan: WorkerPlan) -> None:
    global _startup_counted
    from backfill_app.core.errors import ServiceUnavailable
    from backfill_app.sinks.base import StatementSink
    from backfill_app.sinks.files import StatementFileSink
    from backfill_app.sources.storage import LogStore
    from backfill_app.tracking.checkpoints import CheckpointStore
    from backfill_app.tracking.pipeline import BatchOptions, TrackingLogBackfill
    from backfill_app.transform.lookups import PlatformLookups
    from backfill_app.transform.statements import StatementTransformer

    store = LogStore(job.location())
    whole, obj = job.find_object(store)
    # Positions reach the parent once the statements before them are durable: after the
    # parent's write (hand-off), or after this worker's own (``writes``).
    checkpoints = HandoffCheckpoints(_handoff, CheckpointStore(job.checkpoint_key) if job.checkpoint_key else None)
    if job.window is not None:
        job.window.prepare(store, [whole])
    writes = plan.writes
    sink: StatementSink
    if writes is None:
        sink = HandoffSink(_handoff, ready_rows=plan.ready_rows)
        batch = BatchOptions(batch_size=HANDOFF_STATEMENTS, sleep_between_batches_secs=0, quiet=True)
    else:
        sink = writes.sink.open(f"xapi-{index:05d}")
        batch = replace(writes.batch, quiet=True)
    if "transformer" not in _kept:  # a run's jobs share one transformer type and sample
        _kept["transformer"] = StatementTransformer(job.transformer_type, job.verify_sample)
        _kept["lookups"] = PlatformLookups()
    backfill = TrackingLogBackfill(
        store,
        _kept["transformer"],
        sink,
        HandoffDeadLetters(_handoff),
        batch,
        checkpoints=checkpoints,
        event_filter=job.window,
        startup_is_this_runs=not _startup_counted,
        lookups=_kept["lookups"],
    )
    _startup_counted = True
    try:
        summary = backfill.run([obj])
    except ServiceUnavailable:
        summary = backfill.summary  # says where it stopped; the parent stops the run with it
    finally:
        if writes is not None:
            sink.close()
    summary.dead_letter_path = None
    if isinstance(sink, StatementFileSink) and sink.written_objects:
        _handoff.put(("written_objects", sink.written_objects))
    _handoff.put(("summary", summary))


class ParallelBackfill:
    """
    The parent: hands out objects; commits the positions workers report, after their statements
    are written (by the workers themselves when ``writes`` is given, else by the parent).
    """

    def __init__(self, backfill, jobs: list[Shard], workers: int, writes: WorkerWrites | None = None):
        self.backfill = backfill  # the parent's TrackingLogBackfill: sink, batching, checkpoints
        self.jobs = jobs
        self.workers = workers
        self.writes = writes
        self.plan: WorkerPlan | None = None

    def run(self) -> RunSummary:
        from django.conf import settings
        from django.db import connection, connections

        context = worker_context()
        if context.get_start_method() == "fork":
            connections.close_all()  # a fork of this process opens connections of its own
        handoff = context.Queue(maxsize=HANDOFF_QUEUE_MESSAGES)
        parent = self.backfill

        from backfill_app.sinks.clickhouse import ClickHouseSink

        ready_rows = self.writes is None and isinstance(parent.sink, ClickHouseSink)
        self.plan = WorkerPlan(self.writes, settings.LMS_ROOT_URL, ready_rows)

        database_name = connection.settings_dict["NAME"]
        pool = context.Pool(self.workers, initializer=_start_worker, initargs=(handoff, database_name, os.getpid()))
        try:
            with parent.cpu.role("coordinating"):
                self._gather(pool, handoff)
            pool.close()
            # Every worker's start-up was done once, by the server they were forked from (if any).
            add_seconds(parent.summary.cpu_by_process[WORKERS], {"start-up": fork_server_cpu_seconds()})
        except BaseException:
            pool.terminate()  # workers may be blocked on a full queue: do not wait for them
            raise
        finally:
            pool.join()
            parent.close_run()
        return parent.summary

    def _gather(self, pool, handoff) -> None:
        """Hand every job out; take what the workers send back until each has sent its summary."""
        parent = self.backfill
        results = [
            (job, pool.apply_async(run_worker_job, (job, index, self.plan))) for index, job in enumerate(self.jobs)
        ]
        pending = len(results)
        while pending:
            try:
                with parent.cpu.role("handing off"):
                    kind, payload = handoff.get(timeout=1)
            except queue_module.Empty:
                for job, result in results:
                    if result.ready() and not result.successful():
                        try:
                            result.get()
                        except Exception as exc:
                            raise WorkerFailed(
                                f"the worker reading {job.object_name} failed: {type(exc).__name__}: {exc}"
                            ) from None
                continue
            if kind == "summary":
                parent.merge_worker_summary(payload, written_by_worker=self.writes is not None)
                pending -= 1
            elif self.writes is not None and kind == "position":
                parent.commit_worker_position(payload)
            elif kind == "written_objects":
                parent.sink.written_objects.extend(payload)  # listed in the parent's manifest
            else:
                parent.take_handoff(kind, payload)
        parent.finish_handoffs()
