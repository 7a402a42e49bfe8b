from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # importing ERB needs Django set up: workers import this module before that
    from backfill_app.sinks.row_binary import PreparedStatements
    from backfill_app.transform.statements import Statement


@dataclass(frozen=True)
class Rejected:
    """A statement the destination refused, with its answer (kept in the dead-letter file)."""

    statement: Statement
    reason: str


@dataclass(frozen=True)
class Drifted:
    """A statement not written: the destination holds its event otherwise (sinks/drift.py)."""

    kind: str  # drift.STALE or drift.OTHER_ID
    found_id: str
    differs_at: str
    verb: str
    source: str
    line_number: int
    json: str
    newer: bool = False  # ours comes from a later ERB release than the statement found: it may replace it


@dataclass(frozen=True)
class WriteResult:
    written: int
    already_present: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    drifted: list[Drifted] = field(default_factory=list)  # not written
    # Written in place of the statement found (counted in written too).
    replaced: list[Drifted] = field(default_factory=list)
    # Of the batch, compared with the destination by id only: it held too many in the batch's time range.
    compared_by_id_only: int = 0


def first_of_each_id(statements: list[Statement]) -> list[Statement]:
    """The statements without a later one of an id already met: the first in log order is kept."""
    unique: dict[str, Statement] = {}
    for statement in statements:
        unique.setdefault(statement.id, statement)
    return list(unique.values())


class StatementSink(Protocol):
    """A destination of statements. ``write`` is all-or-nothing for its batch, or raises
    :class:`~backfill_app.core.errors.DestinationUnavailable` once its retries are spent."""

    # True when writing is Python in this process (nothing to overlap): it is not moved to a thread.
    in_process: bool
    cpu_role: str  # what its time is counted as: "writing", or "handing off" for a worker's queue

    def describe(self) -> str: ...

    def identity(self) -> str | None:
        """Stable across runs, without secrets: what checkpoints are kept for (None: keep none)."""

    def write(self, statements: list[Statement]) -> WriteResult: ...

    def close(self) -> None: ...


class RowSink(Protocol):
    """A destination that takes rows other processes made ready to insert (one writer, many workers)."""

    def write_rows(self, batches: list[PreparedStatements]) -> WriteResult: ...


class ActorSample(Protocol):
    """A destination that can tell whose statements it holds: (actor kind, homePage) of its latest ones."""

    def latest_actors(self, limit: int) -> Counter | None:
        """None: it cannot list them (a write-only LRS key)."""


class DryRunSink:
    """``--dry_run``: everything is transformed and counted, nothing is written."""

    in_process = True
    cpu_role = "writing"

    def __init__(self, would_write_to: str = ""):
        self.would_write_to = would_write_to

    def describe(self) -> str:
        return (
            f"nowhere (dry run; would write to {self.would_write_to})" if self.would_write_to else "nowhere (dry run)"
        )

    def identity(self) -> None:
        return None  # a dry run records no progress

    def write(self, statements: list[Statement]) -> WriteResult:
        return WriteResult(written=len(statements))

    def close(self) -> None:
        pass
