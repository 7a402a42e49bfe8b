"""
Statements -> Aspects' raw xAPI table (``openedx.xapi_events_all`` under Vector, ``xapi``'s
under Ralph), as Ralph and Vector store them (event_id = statement id, emission_time =
statement timestamp, event = statement JSON); ids already in the table are dropped before
each insert, and statements it holds otherwise (an older ERB's: sinks/drift.py) are set aside,
or replaced with ``replace_drifted`` (clickhouse/replacement.py).
"""

from __future__ import annotations

from datetime import datetime

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.replacement import StatementReplacement
from backfill_app.clickhouse.schema import RAW_XAPI_COLUMNS, open_xapi_table
from backfill_app.clickhouse.xapi_queries import XapiTableQueries
from backfill_app.sinks.base import Drifted, WriteResult
from backfill_app.sinks.row_binary import PreparedStatements
from backfill_app.transform.statements import Statement

COLUMNS = [name for name, _ in RAW_XAPI_COLUMNS]


class ClickHouseSink:
    """Statements, or rows other processes made ready (``write_rows``), inserted once each."""

    # Written from a thread even when embedded: the engine lets go of the GIL while it inserts,
    # so the insert overlaps the transformation (measured: 9.2 s -> 8.6 s for 100,000 lines).
    in_process = False
    cpu_role = "writing"

    def __init__(self, xapi: XapiTable, replace_drifted: bool = False):
        self.xapi = xapi
        self.target = xapi.target
        self.client = open_xapi_table(xapi)
        self.queries = XapiTableQueries(self.client, xapi)
        self.replacement = StatementReplacement(self.client, self.queries) if replace_drifted else None

    def describe(self) -> str:
        return self.xapi.describe()

    def identity(self) -> str:
        # Without why the table was chosen: checkpoints follow the table, however it is named.
        return f"clickhouse|{self.xapi.name} in {self.target.describe()}"

    def write(self, statements: list[Statement]) -> WriteResult:
        # RowBinary, as a worker hands them over: clickhouse-connect's own insert converts column by
        # column (and imports pandas on first use) for about twice the CPU.
        return self.write_rows([PreparedStatements.of(statements)]) if statements else WriteResult(written=0)

    def write_rows(self, batches: list[PreparedStatements]) -> WriteResult:
        """Rows made ready by workers: those of ids already stored (or met earlier in the batch) left out."""
        if not batches:
            return WriteResult(written=0)
        ids = [statement_id for batch in batches for statement_id in batch.ids]
        first, last = min(batch.earliest for batch in batches), max(batch.latest for batch in batches)
        present, drifted, by_id_only = self._held(batches, ids, first, last)
        # Replaced: only a statement an earlier ERB release made (never one as new as ours, which may be
        # another learner's event at the same moment), deleted here and below before ours goes in.
        replacement = self.replacement
        replacing = {position: drift for position, drift in drifted.items() if replacement and drift.newer}
        if replacement is not None and replacing:
            replacement.delete([drift.found_id for drift in replacing.values()], first, last)
        drifted = {position: drift for position, drift in drifted.items() if position not in replacing}
        held_out = present | drifted.keys()
        seen: set[str] = set()
        blocks, written, position = [], 0, 0
        for batch in batches:
            left_out = set()
            for index, statement_id in enumerate(batch.ids):
                if position in held_out or statement_id in seen:
                    left_out.add(index)
                seen.add(statement_id)
                position += 1
            blocks.append(batch.rows_except(left_out))
            written += len(batch) - len(left_out)
        if written:
            rows = b"".join(blocks)
            qualified = self.queries.qualified
            self.queries.retrying(lambda: self.client.raw_insert(qualified, COLUMNS, rows, fmt="RowBinary"), "insert")
        return WriteResult(
            written=written,
            already_present=len(ids) - written - len(drifted),
            drifted=list(drifted.values()),
            replaced=list(replacing.values()),
            compared_by_id_only=len(ids) if by_id_only else 0,
        )

    def replacement_note(self, replaced: int) -> str | None:
        return self.replacement.note(replaced) if self.replacement is not None and replaced else None

    def _held(
        self, batches: list[PreparedStatements], ids: list[str], first: datetime, last: datetime
    ) -> tuple[set[int], dict[int, Drifted], bool]:
        """
        Positions (in the batches' order) held as they are, those held otherwise (stale, or the same
        event under another id: ``Drifted``), and whether only ids could be compared. One query for
        the batches' time range.
        """
        located = [(batch, index) for batch in batches for index in range(len(batch))]

        def text_of(position: int) -> str:
            batch, index = located[position]
            return batch.text_at(index)

        micros = [moment for batch in batches for moment in batch.micros()]
        comparison, by_id_only = self.queries.compare_by_event(ids, micros, text_of, first, last)
        first_of_id: dict[str, int] = {}
        for position, statement_id in enumerate(ids):
            first_of_id.setdefault(statement_id, position)
        drifted = {
            drift.position: Drifted(
                drift.kind,
                drift.found_id,
                drift.differs_at,
                drift.verb,
                *located[drift.position][0].origins[located[drift.position][1]],
                text_of(drift.position),
                drift.newer,
            )
            for drift in comparison.drifted
            if first_of_id[ids[drift.position]] == drift.position  # a repeated line is already present
        }
        return comparison.present, drifted, by_id_only

    def close(self) -> None:
        # The embedded client is shared by the process (chdb opens one folder per process).
        if not self.target.embedded:
            self.client.close()
