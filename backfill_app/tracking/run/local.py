"""
--workers N: the CPU-heavy part (parsing and the transformation) in N processes, one work
unit (an object, or a byte range of one) at a time each, each unit read by the same
function as everywhere else (tracking/unit_runner.py). The command's process alone commits
checkpoints, so that one process writes this app's state, and it gathers the summary and
the lines set aside. Workers tell it what happens in typed messages (run/messages.py).

Who writes the statements depends on the destination:

- one that takes parallel writers (statement files on any storage, an LRS, a ClickHouse
  server, a dry run): each worker writes its own batches and reports the position a batch
  makes safe once that batch is durable; the command's process commits it. It touches no
  statement, so one command keeps many workers busy.
- the embedded ClickHouse (one process per data folder): the command's process is the only
  writer. Workers hand it rows ready to insert (sinks/row_binary.py), in order, then the
  position they cover; it commits a position once it has written the rows before it.

A worker is a process of our own (not a pool's): what it keeps between units lives in its
UnitRunner, and a worker that dies (killed, out of memory) is noticed and named, never
waited for.

This module is imported by a worker before Django is set up (to find the worker's
function): it imports nothing that needs Django at its top.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue as queue_module
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from backfill_app.reporting.cpu import WORKERS, add_seconds
from backfill_app.reporting.summary import RunSummary
from backfill_app.sinks.base import WriteResult
from backfill_app.tracking.run.fork_server import fork_server_cpu_seconds, worker_context
from backfill_app.tracking.run.messages import (
    LineSetAside,
    PositionReached,
    RowsHanded,
    StatementsHanded,
    UnitDone,
    UnitFailed,
    UnitStarted,
    WorkerCouldNotStart,
)
from backfill_app.tracking.run.parent_death import end_with_parent
from backfill_app.tracking.work import BatchOptions

if TYPE_CHECKING:
    from backfill_app.sinks.base import StatementSink
    from backfill_app.sinks.destinations import SinkForWorker
    from backfill_app.tracking.work import WorkUnit

log = logging.getLogger(__name__)

HANDOFF_STATEMENTS = 500  # statements per message: small enough to keep both sides busy
# Messages waiting for the parent: enough to keep it writing, few enough that a writer behind
# its workers (the embedded engine merging) does not hold tens of MB of statements.
HANDOFF_QUEUE_MESSAGES = 16
HANDOFF_BATCH = BatchOptions(batch_size=HANDOFF_STATEMENTS, sleep_between_batches_secs=0, quiet=True)


@dataclass(frozen=True)
class WorkerPlan:
    """How every worker of a run runs its units: given to each when it starts."""

    writes: SinkForWorker | None  # None: hand statements to the command's process, which writes
    hand_rows: bool  # hand over rows ready for the embedded ClickHouse, not statements
    lms_root_url: str  # the one the command checked against the destination: the worker's ids match it


@dataclass(frozen=True)
class WorkerStart:
    """What a worker needs before Django is set up (a spawned one unpickles its plan only after)."""

    database_name: str  # the command's database as it is now (a test run swaps it after settings are read)
    command_pid: int
    plan: bytes  # the WorkerPlan, pickled: its destination's classes need Django to import


class WorkerFailed(Exception):
    """A worker could not go on; the message names the file and the cause."""


class HandoffSink:
    in_process = True  # a put on a queue: nothing to overlap
    cpu_role = "handing off"

    def __init__(self, handoff, hand_rows: bool):
        self.handoff = handoff
        self.hand_rows = hand_rows

    def describe(self) -> str:
        return "the parent process"

    def identity(self) -> None:
        return None

    def write(self, statements) -> WriteResult:
        if self.hand_rows and statements:
            from backfill_app.sinks.row_binary import PreparedStatements

            self.handoff.put(RowsHanded(PreparedStatements.of(statements)))
        else:
            self.handoff.put(StatementsHanded(statements))
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
        self.handoff.put(PositionReached(replace(obj, handle=None), offset, line, completed))


class HandoffDeadLetters:
    def __init__(self, handoff):
        self.handoff = handoff
        self.written_path = None

    def add(self, **entry) -> None:
        self.handoff.put(LineSetAside(entry))

    def close(self) -> None:
        pass


def parallel_workers(requested: int, units: int) -> int:
    """Workers worth starting: no more than units to read, and one with an in-memory database."""
    from django.db import connection

    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        return 1  # other processes cannot see it
    return max(1, min(requested, units))


def worker_main(start: WorkerStart, worker: int, units, handoff) -> None:
    """A worker's whole life: set up, then read the units it takes from ``units`` until told to stop (None)."""
    end_with_parent(must_be_alive=start.command_pid)  # its parent: the command, or the fork server
    try:
        _set_up_django(start.database_name)
        from backfill_app.tracking.statement_identity import lms_root_url_in_use
        from backfill_app.tracking.unit_runner import UnitRunner

        plan: WorkerPlan = pickle.loads(start.plan)
    except BaseException as exc:
        handoff.put(WorkerCouldNotStart(f"{type(exc).__name__}: {exc}"))
        return
    runner = UnitRunner()
    with lms_root_url_in_use(plan.lms_root_url):
        while (taken := units.get()) is not None:
            index, unit = taken
            handoff.put(UnitStarted(index, worker))
            try:
                result = _run_unit(runner, unit, index, plan, handoff)
            except BaseException as exc:
                handoff.put(UnitFailed(index, f"{type(exc).__name__}: {_without_secrets(exc, unit, plan)}"))
                return
            handoff.put(UnitDone(index, result))


def _without_secrets(exc: BaseException, unit: WorkUnit, plan: WorkerPlan) -> str:
    """The error's first line, the source's and the destination's credentials taken out: the command prints it."""
    from backfill_app.core.redaction import first_line_without

    secrets = unit.location.secrets() + (plan.writes.destination.secret_values() if plan.writes else [])
    return first_line_without(str(exc), secrets)


def _set_up_django(database_name: str) -> None:
    import django
    from django.apps import apps

    if not apps.ready:  # a fork of the command (or of the server) has set Django up already
        django.setup()
    from django.db import connections

    connections["default"].settings_dict["NAME"] = database_name


def _run_unit(runner, unit: WorkUnit, index: int, plan: WorkerPlan, handoff):
    from backfill_app.tracking.checkpoints import CheckpointStore
    from backfill_app.tracking.unit_runner import UnitOutlets

    # Positions reach the parent once the statements before them are durable: after the
    # parent's write (hand-off), or after this worker's own (``writes``).
    checkpoints = HandoffCheckpoints(handoff, CheckpointStore(unit.checkpoint_key) if unit.checkpoint_key else None)
    sink: StatementSink
    if plan.writes is None:
        sink, unit = HandoffSink(handoff, plan.hand_rows), replace(unit, batch=HANDOFF_BATCH)
    else:
        sink = plan.writes.open(f"xapi-{index:05d}")
    try:
        result = runner.run(unit, UnitOutlets(sink, checkpoints, HandoffDeadLetters(handoff)))
    finally:
        sink.close()
    if plan.writes is not None:
        result.written_objects = plan.writes.objects_written_by(sink)
    return result


class ParallelBackfill:
    """
    The parent: hands out units; commits the positions workers report, after their statements
    are written (by the workers themselves when ``writes`` is given, else by the parent).
    """

    def __init__(self, backfill, units: list[WorkUnit], workers: int, writes: SinkForWorker | None, manifest):
        self.backfill = backfill  # the parent's TrackingLogBackfill: sink, batching, checkpoints
        self.units = units
        self.workers = workers
        self.writes = writes
        self.manifest = manifest  # statement files: the list of objects the run's manifest names

    def run(self) -> RunSummary:
        from django.conf import settings
        from django.db import connection, connections

        parent = self.backfill
        context = worker_context()
        if context.get_start_method() == "fork":
            connections.close_all()  # a fork of this process opens connections of its own
        plan = WorkerPlan(
            self.writes,
            hand_rows=self.writes is None and parent.row_sink is not None,
            lms_root_url=settings.LMS_ROOT_URL,
        )
        start = WorkerStart(connection.settings_dict["NAME"], os.getpid(), pickle.dumps(plan))
        units, handoff = context.Queue(), context.Queue(maxsize=HANDOFF_QUEUE_MESSAGES)
        for index, unit in enumerate(self.units):
            units.put((index, unit))
        for _ in range(self.workers):
            units.put(None)
        processes = [
            context.Process(target=worker_main, args=(start, worker, units, handoff), name=f"backfill-worker-{worker}")
            for worker in range(self.workers)
        ]
        for process in processes:
            process.start()
        try:
            with parent.cpu.role("coordinating"):
                self._gather(processes, handoff)
            for process in processes:
                process.join()
            # Every worker's start-up was done once, by the server they were forked from (if any).
            add_seconds(parent.summary.cpu_by_process[WORKERS], {"start-up": fork_server_cpu_seconds()})
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()  # a failed run: workers may be blocked on a full queue
                process.join()
            parent.close_run()
        return parent.summary

    def _gather(self, processes, handoff) -> None:
        """Take what the workers send until every unit is done; a failed or vanished worker ends the run."""
        parent = self.backfill
        reading: dict[int, int] = {}  # worker -> the unit it reads
        left = len(self.units)
        while left:
            try:
                with parent.cpu.role("handing off"):
                    message = handoff.get(timeout=1)
            except queue_module.Empty:
                self._check_alive(processes, reading)
                continue
            match message:
                case StatementsHanded(statements):
                    parent.take_statements(statements)
                case RowsHanded(rows):
                    parent.take_rows(rows)
                case PositionReached(obj, offset, line, completed) if self.writes is not None:
                    parent.checkpoints.commit(obj, offset, line, completed)  # the worker saw its batch durable
                case PositionReached(obj, offset, line, completed):
                    parent.take_position(obj, offset, line, completed)
                case LineSetAside(entry):
                    parent.dead_letters.add(**entry)
                case UnitStarted(index, worker):
                    reading[worker] = index
                case UnitDone(index, result):
                    self.manifest.extend(result.written_objects)
                    parent.merge_result(result, written_by_worker=self.writes is not None)
                    left -= 1
                case UnitFailed(index, reason):
                    raise WorkerFailed(f"the worker reading {self.units[index].label} failed: {reason}")
                case WorkerCouldNotStart(reason):
                    raise WorkerFailed(f"a worker could not start: {reason}")
        parent.finish_handoffs()

    def _check_alive(self, processes, reading: dict[int, int]) -> None:
        for worker, process in enumerate(processes):
            if process.exitcode is not None and process.exitcode != 0:
                doing = f"reading {self.units[reading[worker]].label}" if worker in reading else "starting"
                raise WorkerFailed(f"a worker ended while {doing} (exit code {process.exitcode})")
