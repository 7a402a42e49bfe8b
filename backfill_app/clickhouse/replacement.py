"""
``--replace_drifted`` in ClickHouse: a statement an older ERB made live (stale, or the same event
under another id) is deleted, from the raw table and from every table Aspects' materialized views
fed with it that has an ``event_id``, and today's is inserted in the same batch, after the delete.

Why delete and insert rather than a newer row: ``xapi_events_all`` is a ReplacingMergeTree on
(emission_time, event_id), so a newer row would replace a stale one only at a merge (both are
read until then), and a statement under another id would never be replaced; the views downstream
would keep the old rows either way. Deleting first keeps each event once: a run stopped between
the delete and the insert leaves the event missing, and the run, resumed, writes it (its batch
was not committed); the other order could leave it twice, with nothing left to pair it with.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from backfill_app.clickhouse.downstream import DownstreamTable, downstream_tables
from backfill_app.clickhouse.sql import chunks, datetime64
from backfill_app.clickhouse.xapi_queries import XapiTableQueries

DBT_REBUILD = 'tutor local do dbt --only_changed False -c "run --full-refresh --select {models}"'


class StatementReplacement:
    def __init__(self, client, queries: XapiTableQueries):
        self.client = client
        self.queries = queries
        xapi = queries.xapi
        self.downstream = queries.retrying(
            lambda: downstream_tables(client, xapi.database, xapi.table), "read of the tables fed from it"
        )

    @property
    def cleaned(self) -> list[DownstreamTable]:
        """Downstream tables a replaced statement's rows are deleted from."""
        return [table for table in self.downstream if table.by_event_id]

    @property
    def left_as_they_are(self) -> list[DownstreamTable]:
        """Downstream tables that keep a replaced statement's share (no event id to delete it by)."""
        return [table for table in self.downstream if not table.by_event_id]

    def delete(self, ids: list[str], first: datetime, last: datetime) -> None:
        """The statements of ``ids`` (held between ``first`` and ``last``) and their rows downstream."""
        # Whole seconds around the range: the views downstream keep emission_time as a DateTime.
        earliest = first.replace(microsecond=0)
        latest = last.replace(microsecond=0) + timedelta(seconds=1)
        during = f"emission_time BETWEEN {datetime64(earliest)} AND {datetime64(latest)}"
        # Downstream first, the raw table last: a delete that fails stops the run with the held statement
        # still in the raw table, so the run, resumed, finds it again and deletes what is left.
        tables = [
            *((table.qualified, table.has_emission_time) for table in self.cleaned),
            (self.queries.qualified, True),
        ]
        for chunk in chunks(ids):
            id_list = ",".join(f"'{uuid.UUID(statement_id)}'" for statement_id in chunk)
            for qualified, timed in tables:
                where = f"event_id IN ({id_list})" + (f" AND {during}" if timed else "")
                sql = f"DELETE FROM {qualified} WHERE {where}"
                self.queries.retrying(lambda sql=sql: self.client.command(sql), "delete of replaced statements")

    def note(self, replaced: int) -> str:
        """What the operator must know after ``replaced`` statements were replaced."""
        raw = self.queries.xapi.describe()
        cleaned = ", ".join(table.name for table in self.cleaned) or "none"
        text = (
            f"Replaced {replaced} statements an older ERB made in {raw}; their rows were also deleted from "
            f"the tables fed from it that have an event id ({cleaned})."
        )
        kept = self.left_as_they_are
        if kept:
            text += (
                f" These {len(kept)} tables fed from it keep what the replaced statements added (counts, a learner's "
                f"latest state; they have no event id): {', '.join(table.name for table in kept)}. Aspects' dbt "
                "builds them again from the corrected tables: "
                + DBT_REBUILD.format(models=" ".join(sorted({table.table for table in kept})))
            )
        return text
