"""
What the backfill asks of Aspects' raw xAPI table besides inserting: which of some ids it
holds, how it holds a batch's statements (by id and by event: ``compare_by_event``), and whose
statements its latest ones are. Used by the ClickHouse sink (ids already present are not
inserted again), by ``find_xapi_gaps`` and by the run's checks before it writes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.sql import chunks, datetime64
from backfill_app.core.errors import DestinationUnavailable
from backfill_app.core.redaction import short_reason
from backfill_app.core.retry import call_with_retries
from backfill_app.sinks.drift import Comparison, compare_narrowed

# Statements already in a batch's time range up to which their ids are read whole, rather
# than looked for in lists of the batch's ids.
IDS_READ_WHOLE = 50_000


class XapiTableQueries:
    def __init__(self, client, xapi: XapiTable):
        self.client = client
        self.xapi = xapi
        self.qualified = f"`{xapi.database}`.`{xapi.table}`"

    def present_ids_among(self, ids: list[str], first: datetime, last: datetime) -> set[str]:
        """Those of ``ids`` (of statements between ``first`` and ``last``) that the table already holds."""
        # A backfill of hours the table lacks (the usual case after an outage) finds none there:
        # one count says so, instead of a list of every id to look for.
        held = self._count(first, last)
        if not held:
            return set()
        if held <= IDS_READ_WHOLE:
            rows = self.retrying(
                lambda: self.client.query(f"SELECT toString(event_id) {self._in_range(first, last)}"), "read ids"
            )
            return {row[0] for row in rows.result_rows} & set(ids)
        return self._ids_listed(ids, first, last)

    def compare_by_event(
        self, ids: list[str], micros: list[int], text_of: Callable[[int], str], first: datetime, last: datetime
    ) -> tuple[Comparison, bool]:
        """
        Statements (their ids, times, and JSON on demand) between ``first`` and ``last`` against what
        the table holds there, by id and by event (sinks/drift.py), and whether only ids could be
        compared (more than IDS_READ_WHOLE held). One count, then one read of ids, digests and times.
        """
        held_count = self._count(first, last)
        if not held_count:
            return Comparison(set(), []), False
        if held_count > IDS_READ_WHOLE:
            present = self._ids_listed(ids, first, last)
            return Comparison(
                {position for position, statement_id in enumerate(ids) if statement_id in present}, []
            ), True
        query = (
            "SELECT toString(event_id), lower(hex(MD5(event))), toUnixTimestamp64Micro(emission_time) "
            + self._in_range(first, last)
        )
        held = [(statement_id, digest, int(moment)) for statement_id, digest, moment in self.retrying(
            lambda: self.client.query(query).result_rows, "read ids")]  # fmt: skip
        comparison = compare_narrowed(ids, micros, text_of, held, lambda wanted: self.events_of(wanted, first, last))
        return comparison, False

    def _count(self, first: datetime, last: datetime) -> int:
        return int(
            self.retrying(
                lambda: self.client.command(f"SELECT count() {self._in_range(first, last)}"), "count statements"
            )
        )

    def _ids_listed(self, ids: list[str], first: datetime, last: datetime) -> set[str]:
        """Those of ``ids`` held, looked up in lists (within the range: the sort key's granules only)."""
        present: set[str] = set()
        for chunk in chunks(ids):
            id_list = ",".join(f"'{uuid.UUID(statement_id)}'" for statement_id in chunk)
            query = f"SELECT toString(event_id) {self._in_range(first, last)} AND event_id IN ({id_list})"
            present |= self.retrying(
                lambda query=query: {row[0] for row in self.client.query(query).result_rows}, "look up existing ids"
            )
        return present

    def events_of(self, ids: list[str], first: datetime, last: datetime) -> dict[str, str]:
        """id -> the statement JSON the table holds, for those of ``ids`` between ``first`` and ``last``."""
        events: dict[str, str] = {}
        for chunk in chunks(ids):
            id_list = ",".join(f"'{uuid.UUID(statement_id)}'" for statement_id in chunk)
            query = f"SELECT toString(event_id), event {self._in_range(first, last)} AND event_id IN ({id_list})"
            events.update(self.retrying(lambda query=query: dict(self.client.query(query).result_rows), "read events"))
        return events

    def _in_range(self, first: datetime, last: datetime) -> str:
        return f"FROM {self.qualified} WHERE emission_time BETWEEN {datetime64(first)} AND {datetime64(last)}"

    def latest_actors(self, limit: int) -> Counter:
        """(actor identifier kind, account homePage) of the table's latest ``limit`` statements, counted."""
        query = (
            "SELECT multiIf(JSONHas(event, 'actor', 'account'), 'account', JSONHas(event, 'actor', 'mbox'), 'mbox', "
            "JSONHas(event, 'actor', 'mbox_sha1sum'), 'mbox_sha1sum', '') AS kind, "
            "JSONExtractString(event, 'actor', 'account', 'homePage') AS home_page, count() "
            f"FROM (SELECT event FROM {self.qualified} ORDER BY emission_time DESC LIMIT {int(limit)}) "
            "GROUP BY kind, home_page"
        )
        rows = self.retrying(lambda: self.client.query(query).result_rows, "read of its latest statements")
        return Counter({(kind, home_page): count for kind, home_page, count in rows})

    def retrying(self, action, what: str):
        try:
            return call_with_retries(action, retry_on=(OperationalError,), what=f"ClickHouse {what}")
        except (OperationalError, ClickHouseError) as exc:
            reason = short_reason(exc, [self.xapi.target.password])
            raise DestinationUnavailable(f"{self.xapi.describe()}: {what} failed: {reason}") from None
