"""
What a --workers process tells the command's process, one type per kind of message, in the
order it happens. Free of Django at import; the statements and rows they carry are pickled
by multiprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backfill_app.sinks.row_binary import PreparedStatements
    from backfill_app.sources.storage import LogObject
    from backfill_app.tracking.work import WorkResult


@dataclass(frozen=True)
class WorkerCouldNotStart:
    reason: str  # its set-up's error: the run stops, naming it


@dataclass(frozen=True)
class UnitStarted:
    index: int  # the unit a worker reads now: what the run names if that worker dies
    worker: int


@dataclass(frozen=True)
class StatementsHanded:
    """Statements for the command's process to write (a destination that takes one writer)."""

    statements: list[Any]  # transform.statements.Statement


@dataclass(frozen=True)
class RowsHanded:
    """Statements as rows ready to insert (the embedded ClickHouse), for the command's process to write."""

    rows: PreparedStatements


@dataclass(frozen=True)
class PositionReached:
    """How far a unit's reading has gone; durable once the statements before it are written."""

    obj: LogObject  # without its storage handle
    offset: int
    line: int
    completed: bool


@dataclass(frozen=True)
class LineSetAside:
    entry: dict  # the dead-letter entry: source, line number, reason, detail, line


@dataclass(frozen=True)
class UnitDone:
    index: int
    result: WorkResult  # its counts, why it stopped if it did, the objects it wrote


@dataclass(frozen=True)
class UnitFailed:
    """The unit raised what no summary can say (a bug, a broken install): the run stops."""

    index: int
    reason: str


WorkerMessage = (
    WorkerCouldNotStart | UnitStarted | StatementsHanded | RowsHanded | PositionReached | LineSetAside | UnitDone
    | UnitFailed
)  # fmt: skip
