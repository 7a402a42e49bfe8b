from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # importing ERB needs Django set up: workers import this module before that
    from backfill_app.transform.statements import Statement


@dataclass(frozen=True)
class Rejected:
    """A statement the destination refused, with its answer (kept in the dead-letter file)."""

    statement: Statement
    reason: str


@dataclass(frozen=True)
class WriteResult:
    written: int
    already_present: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def first_of_each_id(statements: list[Statement]) -> list[Statement]:
    """The statements without a later one of an id already met: the first in log order is kept."""
    unique: dict[str, Statement] = {}
    for statement in statements:
        unique.setdefault(statement.id, statement)
    return list(unique.values())


class StatementSink(Protocol):
    """A destination of statements. ``write`` is all-or-nothing for its batch, or raises
    :class:`~backfill_app.core.errors.DestinationUnavailable` once its retries are spent."""

    @property
    def in_process(self) -> bool:
        """True when writing is Python in this process (nothing to overlap): it is not moved to a thread."""

    # Optional: ``parallel_writers = True`` when several processes may write at once (--workers
    # then write their own batches); without it, one process writes.

    def describe(self) -> str: ...

    def identity(self) -> str | None:
        """Stable across runs, without secrets: what checkpoints are kept for (None: keep none)."""

    def write(self, statements: list[Statement]) -> WriteResult: ...

    def close(self) -> None: ...


class DryRunSink:
    """``--dry_run``: everything is transformed and counted, nothing is written."""

    in_process = True
    parallel_writers = True

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
