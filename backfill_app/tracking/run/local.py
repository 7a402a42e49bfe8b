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
  Workers hand it statements, in order, then the position they cover; the parent commits a
  position once it has written the statements before it.

This module is imported by a spawned worker before Django is set up (to find the worker's
functions): it imports nothing that needs Django at its top.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import queue as queue_module
import signal
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backfill_app.reporting.summary import RunSummary
from backfill_app.sinks.base import WriteResult

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from backfill_app.tracking.run.shards import Shard

PR_SET_PDEATHSIG = 1  # linux/prctl.h
HANDOFF_STATEMENTS = 500  # statements per message: small enough to keep both sides busy
# Messages waiting for the parent: enough to keep it writing, few enough that a writer behind
# its workers (the embedded engine merging) does not hold tens of MB of statements.
HANDOFF_QUEUE_MESSAGES = 16
_handoff: Any = None  # the queue, in a worker process
_start_failure: BaseException | None = None  # reported by the first job: a Pool respawns failed starts forever


@dataclass(frozen=True)
class WorkerWrites:
    """What a worker needs to write its own batches: the run's destination and batching."""

    destination: Any  # sinks.destinations.Destination (imported once Django is set up)
    batch: Any  # pipeline.BatchOptions
    lms_root_url: str  # the one the command checked against the destination: the worker's ids match it
    file_run_folder: str | None = None  # statement files: the parent's run folder, where each worker adds its own


def writes_in_parallel(sink) -> bool:
    """True when several processes may write to ``sink``'s destination at once."""
    return bool(getattr(sink, "parallel_writers", False))


class WorkerFailed(Exception):
    """A worker could not go on; the message names the file and the cause."""


class HandoffSink:
    in_process = True  # a put on a queue: nothing to overlap

    def __init__(self, handoff):
        self.handoff = handoff

    def describe(self) -> str:
        return "the parent process"

    def identity(self) -> None:
        return None

    def write(self, statements) -> WriteResult:
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


def _die_with(parent_pid: int) -> None:
    """
    A worker ends with the command's process, even at a kill -9: one left running would go on
    writing batches whose positions nobody commits, and which a rerun writes again. Linux only
    (prctl); elsewhere a worker ends once its current object is done.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _start_worker(handoff, database_name, parent_pid) -> None:
    global _handoff, _start_failure
    _die_with(parent_pid)
    _handoff = handoff
    try:
        import django

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


def run_worker_job(job: Shard, index: int, writes: WorkerWrites | None) -> None:
    """In a worker: the pipeline on one shard; statements written here (``writes``) or handed over."""
    if _start_failure is not None:
        raise _start_failure
    if writes is None:
        _run_worker_job(job, index, None)
        return
    from backfill_app.tracking.statement_identity import lms_root_url_in_use

    with lms_root_url_in_use(writes.lms_root_url):
        _run_worker_job(job, index, writes)


def _run_worker_job(job: Shard, index: int, writes: WorkerWrites | None) -> None:
    from backfill_app.core.errors import ServiceUnavailable
    from backfill_app.sinks.base import StatementSink
    from backfill_app.sinks.files import StatementFileSink
    from backfill_app.sources.storage import LogStore
    from backfill_app.tracking.checkpoints import CheckpointStore
    from backfill_app.tracking.pipeline import BatchOptions, TrackingLogBackfill
    from backfill_app.transform.statements import StatementTransformer

    store = LogStore(job.location())
    whole, obj = job.find_object(store)
    # Positions reach the parent once the statements before them are durable: after the
    # parent's write (hand-off), or after this worker's own (``writes``).
    checkpoints = HandoffCheckpoints(_handoff, CheckpointStore(job.checkpoint_key) if job.checkpoint_key else None)
    if job.window is not None:
        job.window.prepare(store, [whole])
    sink: StatementSink
    if writes is None:
        sink = HandoffSink(_handoff)
        batch = BatchOptions(batch_size=HANDOFF_STATEMENTS, sleep_between_batches_secs=0, quiet=True)
    else:
        sink = writes.destination.open()
        if isinstance(sink, StatementFileSink) and writes.file_run_folder is not None:
            sink.add_to_run(writes.file_run_folder, f"xapi-{index:05d}")
        batch = replace(writes.batch, quiet=True)
    backfill = TrackingLogBackfill(
        store,
        StatementTransformer(job.transformer_type, job.verify_sample),
        sink,
        HandoffDeadLetters(_handoff),
        batch,
        checkpoints=checkpoints,
        event_filter=job.window,
    )
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

    def run(self) -> RunSummary:
        context = multiprocessing.get_context("spawn")  # no fork of the parent's engine threads
        handoff = context.Queue(maxsize=HANDOFF_QUEUE_MESSAGES)
        parent = self.backfill
        from django.db import connection

        database_name = connection.settings_dict["NAME"]
        pool = context.Pool(self.workers, initializer=_start_worker, initargs=(handoff, database_name, os.getpid()))
        try:
            results = [
                (job, pool.apply_async(run_worker_job, (job, index, self.writes)))
                for index, job in enumerate(self.jobs)
            ]
            pending = len(results)
            while pending:
                try:
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
            pool.close()
        except BaseException:
            pool.terminate()  # workers may be blocked on a full queue: do not wait for them
            raise
        finally:
            pool.join()
            parent.close_run()
        return parent.summary
