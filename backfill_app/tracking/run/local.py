"""
--workers N: the CPU-heavy part (parsing and ERB's transformers) in N processes, one source
object at a time each; the parent stays the only writer and the only one to commit
checkpoints, so exactly-once holds as with one process, and the embedded ClickHouse (one
process only) works too.

This module is imported by a spawned worker before Django is set up (to find the worker's
functions): it imports nothing that needs Django at its top.

A worker runs the ordinary pipeline on one object, with a sink, checkpoints and dead
letters that hand everything to the parent, in order, through a queue: statements, then
the position they cover. The parent commits a position only once it has written the
statements before it.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue as queue_module
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from backfill_app.reporting.summary import RunSummary
from backfill_app.sinks.base import WriteResult

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from backfill_app.tracking.run.shards import Shard

HANDOFF_STATEMENTS = 500  # statements per message: small enough to keep both sides busy
# Messages waiting for the parent: enough to keep it writing, few enough that a writer behind
# its workers (the embedded engine merging) does not hold tens of MB of statements.
HANDOFF_QUEUE_MESSAGES = 16
_handoff: Any = None  # the queue, in a worker process
_start_failure: BaseException | None = None  # reported by the first job: a Pool respawns failed starts forever


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


def _start_worker(handoff, database_name) -> None:
    global _handoff, _start_failure
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


def run_worker_job(job: Shard) -> None:
    """In a worker: the pipeline on one shard, everything handed to the parent."""
    if _start_failure is not None:
        raise _start_failure
    from backfill_app.sources.storage import LogStore
    from backfill_app.tracking.checkpoints import CheckpointStore
    from backfill_app.tracking.pipeline import BatchOptions, TrackingLogBackfill
    from backfill_app.transform.statements import StatementTransformer

    store = LogStore(job.location())
    whole, obj = job.find_object(store)
    checkpoints = HandoffCheckpoints(_handoff, CheckpointStore(job.checkpoint_key) if job.checkpoint_key else None)
    if job.window is not None:
        job.window.prepare(store, [whole])
    backfill = TrackingLogBackfill(
        store,
        StatementTransformer(job.transformer_type, job.verify_sample),
        HandoffSink(_handoff),
        HandoffDeadLetters(_handoff),
        BatchOptions(batch_size=HANDOFF_STATEMENTS, sleep_between_batches_secs=0, quiet=True),
        checkpoints=checkpoints,
        event_filter=job.window,
    )
    summary = backfill.run([obj])
    summary.dead_letter_path = None
    _handoff.put(("summary", summary))


class ParallelBackfill:
    """The parent: hands out objects, writes what comes back, commits positions after writes."""

    def __init__(self, backfill, jobs: list[Shard], workers: int):
        self.backfill = backfill  # the parent's TrackingLogBackfill: sink, batching, checkpoints
        self.jobs = jobs
        self.workers = workers

    def run(self) -> RunSummary:
        context = multiprocessing.get_context("spawn")  # no fork of the parent's engine threads
        handoff = context.Queue(maxsize=HANDOFF_QUEUE_MESSAGES)
        parent = self.backfill
        from django.db import connection

        database_name = connection.settings_dict["NAME"]
        pool = context.Pool(self.workers, initializer=_start_worker, initargs=(handoff, database_name))
        try:
            results = [(job, pool.apply_async(run_worker_job, (job,))) for job in self.jobs]
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
                    parent.merge_worker_summary(payload)
                    pending -= 1
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
