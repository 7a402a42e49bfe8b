"""
Objects of xAPI rows -> ``xapi_events_all``: Aspects' own archive (Vector's ``aws_s3`` sink) and
the statement files of the file destination, told apart from other objects by their content
(sources/statement_objects.py). Into a ClickHouse server, ClickHouse reads each object itself
(``s3()``): no row passes through Python; an object it cannot read whole (cut short, a row that
is not a statement row) is then read here, row by row, so that only the bad rows are set aside.
Into the embedded engine this process reads every object. Either way, rows whose ``event_id``
the table holds, or that an earlier object of the run gave, are not inserted again: no
``OPTIMIZE`` is needed for the table to hold each statement once. An object that may hold a
statement the table holds otherwise (an older ERB's: sinks/drift.py) is read here, where its
rows are compared by event, set aside or, with ``replace_drifted``, replaced.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from libcloud.storage.types import Provider

from backfill_app.clickhouse.connection import XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.clickhouse.sql import datetime64, sql_string
from backfill_app.core.errors import BackfillConfigError, DestinationUnavailable
from backfill_app.core.redaction import short_reason
from backfill_app.core.secrets import secret_values
from backfill_app.sinks.base import Drifted
from backfill_app.sinks.clickhouse import ClickHouseSink
from backfill_app.sources.statement_objects import BadRow, ObjectCut, compression_and_lines, statement_rows
from backfill_app.sources.storage import LogObject, StorageLocation
from backfill_app.tracking.window import TimeWindow
from backfill_app.transform.statements import Statement

log = logging.getLogger(__name__)

FILE_STRUCTURE = "event_id UUID, emission_time DateTime64(6, 'UTC'), event String"
S3_COMPATIBLE = {Provider.S3, Provider.MINIO, Provider.GOOGLE_STORAGE}
# Rows read here are inserted in blocks of this many (ids already held are looked up per block).
ROWS_PER_INSERT = 10_000
# A file destination's object while it is written (a killed run leaves it): never loaded.
IN_PROGRESS_SUFFIX = ".partial"


def window_condition(window: TimeWindow | None) -> str:
    """The window as a ClickHouse condition on ``emission_time`` ("1" without one)."""
    if window is None:
        return "1"
    conditions = []
    if window.start is not None:
        conditions.append(f"emission_time >= {datetime64(window.start)}")
    if window.end is not None:
        conditions.append(f"emission_time < {datetime64(window.end)}")
    if window.hours is not None:
        hours = ", ".join(datetime64(hour) for hour in sorted(window.hours)) or "NULL"
        conditions.append(f"toStartOfHour(emission_time) IN ({hours})")
    return " AND ".join(conditions) or "1"


@dataclass
class LoadResult:
    name: str
    rows_in_file: int  # statement rows read (in the filter)
    inserted: int
    bad_rows: list[BadRow] = field(default_factory=list)
    cut: str | None = None  # why the object could not be read to its end
    outside: int = 0  # statement rows outside the window asked for
    drifted: list[Drifted] = field(default_factory=list)  # the table holds their event otherwise: not inserted
    replaced: list[Drifted] = field(default_factory=list)  # inserted in place of what the table held (replace_drifted)
    compared_by_id_only: int = 0  # the table held too many in their time range to read them whole

    @property
    def already_present(self) -> int:
        return self.rows_in_file - self.inserted - len(self.drifted)


class XapiFileLoader:
    """
    Loads objects of xAPI rows from one location into one table. ``clickhouse_reads``: whether
    ClickHouse reads the objects itself (a server, from S3-compatible storage); otherwise, or
    for an object ClickHouse cannot read whole, this process reads them (``read_chunks``).
    """

    def __init__(
        self,
        client,
        xapi: XapiTable,
        location: StorageLocation,
        read_chunks: Callable[[LogObject], Iterator[bytes]] | None = None,
        clickhouse_reads: bool | None = None,
    ):
        self.client = client
        self.xapi = xapi
        self.target = xapi.target
        self.database = xapi.database
        self.table = xapi.table
        self.location = location
        self.read_chunks = read_chunks
        if clickhouse_reads is None:
            clickhouse_reads = not xapi.target.embedded and location.provider in S3_COMPATIBLE
        self.clickhouse_reads = clickhouse_reads
        # Read once (a reference's variable or file, the AWS credentials), not for every object.
        self._options = location.resolved_driver_options()
        self._secrets = [*secret_values(self._options, location.provider), xapi.target.password]
        self._sinks: dict[bool, ClickHouseSink] = {}  # this process's inserts, by replace_drifted, made on first use

    @classmethod
    def open(
        cls, xapi: XapiTable, location: StorageLocation, read_chunks: Callable[[LogObject], Iterator[bytes]]
    ) -> XapiFileLoader:
        client = open_xapi_table(xapi)
        return cls(client, xapi, location, read_chunks)

    @staticmethod
    def is_candidate(obj: LogObject) -> bool:
        """Worth opening: not a file destination's object still being written (a killed run's)."""
        return not obj.name.endswith(IN_PROGRESS_SUFFIX) and obj.size > 0

    def table_function(self, object_name: str, compression: str = "auto") -> str:
        structure = sql_string(FILE_STRUCTURE)
        if self.location.provider == Provider.LOCAL:
            path = os.path.join(self.location.driver_options["key"], self.location.container, object_name)  # a folder
            return f"file({sql_string(os.path.abspath(path))}, 'JSONEachRow', {structure}, {sql_string(compression)})"
        options = self._options
        credentials = ""
        if options.get("key"):
            credentials = f"{sql_string(str(options['key']))}, {sql_string(str(options.get('secret', '')))}, "
            if options.get("token"):  # temporary credentials (AWS_SESSION_TOKEN)
                credentials += f"{sql_string(str(options['token']))}, "
        url = sql_string(self.object_url(object_name))
        return f"s3({url}, {credentials}'JSONEachRow', {structure}, {sql_string(compression)})"

    def object_url(self, object_name: str) -> str:
        options, bucket = self._options, self.location.container
        if options.get("host"):
            scheme = "https" if options.get("secure", True) else "http"
            port = f":{options['port']}" if options.get("port") else ""
            return f"{scheme}://{options['host']}{port}/{bucket}/{object_name}"
        if self.location.provider == Provider.GOOGLE_STORAGE:
            return f"https://storage.googleapis.com/{bucket}/{object_name}"
        region = options.get("region") or "us-east-1"
        return f"https://{bucket}.s3.{region}.amazonaws.com/{object_name}"

    def load(self, obj: LogObject, window: TimeWindow | None = None, replace_drifted: bool = False) -> LoadResult:
        """
        One object into the table: its rows in ``window``. Raises NotStatementObject, before
        inserting anything, when it is not compressed rows. ``replace_drifted``: rows the table
        holds otherwise replace what it holds.
        """
        if self.clickhouse_reads and self.read_chunks is not None:
            try:
                # Whole, and every line a row ClickHouse took? Else read here, row by row: a cut object
                # or a bad row is then set aside alone (ClickHouse reads a zstd object cut early as empty).
                compression, lines = compression_and_lines(self.read_chunks(obj))
                result = self._load_by_clickhouse(obj.name, compression, window, lines)
                if result is not None:
                    return result
            except ObjectCut:
                pass
            except ClickHouseError as exc:
                log.info("%s: read row by row (%s)", obj.name, short_reason(exc, self._secrets))
        return self._load_by_reading(obj, window, replace_drifted)

    def _load_by_clickhouse(
        self, object_name: str, compression: str, window: TimeWindow | None, lines: int
    ) -> LoadResult | None:
        """None, having inserted nothing, when ClickHouse does not read ``lines`` rows in the object."""
        source = self.table_function(object_name, compression)
        table = f"`{self.database}`.`{self.table}`"
        # RFC 3339 times (Vector's) and ClickHouse's own both parse.
        parse = "SETTINGS date_time_input_format = 'best_effort'"
        kept = window_condition(window)
        count, earliest, latest, outside = self._query(
            f"SELECT countIf({kept}), toString(min(emission_time)), toString(max(emission_time)), "
            f"countIf(NOT ({kept})) FROM {source} {parse}"
        )[0]
        if count + outside != lines:
            log.info("%s: ClickHouse read %d of its %d rows: read row by row", object_name, count + outside, lines)
            return None
        if not count:
            return LoadResult(object_name, 0, 0, outside=int(outside))
        during = f"emission_time BETWEEN toDateTime64('{earliest}', 6, 'UTC') AND toDateTime64('{latest}', 6, 'UTC')"
        if self._may_hold_drift(source, kept, table, during, parse):
            log.info(
                "%s: the table holds statements of its moments otherwise: compared by event, row by row", object_name
            )
            return None
        # Only ids not yet in the table, looked up within the object's time range (the sort key).
        new_rows = (
            f"SELECT event_id, emission_time, event FROM {source} "
            f"WHERE ({kept}) AND event_id NOT IN (SELECT event_id FROM {table} "
            f"WHERE emission_time BETWEEN toDateTime64('{earliest}', 6, 'UTC') AND toDateTime64('{latest}', 6, 'UTC')) "
            "LIMIT 1 BY event_id"
        )
        (inserted,) = self._query(f"SELECT count() FROM ({new_rows}) {parse}")[0]
        if inserted:
            self._command(f"INSERT INTO {table} (event_id, emission_time, event) {new_rows} {parse}")
        return LoadResult(object_name, int(count), int(inserted), outside=int(outside))

    def _may_hold_drift(self, source: str, kept: str, table: str, during: str, parse: str) -> bool:
        """
        Whether a row may be of an event the table holds otherwise, by the rule of
        ``drift.compare_narrowed``: its id is held with another JSON, or it is at the moment of a
        held statement whose id no row of the object has. None: the ids alone decide, here.
        """
        held = f"(SELECT event_id, lower(hex(MD5(event))) AS digest, emission_time FROM {table} WHERE {during})"
        (suspects,) = self._query(
            f"WITH held AS {held}, rows AS (SELECT event_id, lower(hex(MD5(event))) AS digest, emission_time "
            f"FROM {source} WHERE {kept}) "
            "SELECT count() FROM rows WHERE "
            "(event_id IN (SELECT event_id FROM held) "
            "AND (event_id, digest) NOT IN (SELECT event_id, digest FROM held)) "
            "OR emission_time IN (SELECT emission_time FROM held WHERE event_id NOT IN (SELECT event_id FROM rows)) "
            f"{parse}"
        )[0]
        return bool(suspects)

    def _load_by_reading(self, obj: LogObject, window: TimeWindow | None, replace_drifted: bool) -> LoadResult:
        if self.read_chunks is None:
            raise BackfillConfigError(f"{obj.name} cannot be read by this process here.")
        result = LoadResult(obj.name, 0, 0)
        block: list[Statement] = []
        try:
            for row in statement_rows(self.read_chunks(obj)):
                if isinstance(row, BadRow):
                    result.bad_rows.append(row)
                elif window is not None and not window.contains(row.emission_time):
                    result.outside += 1
                else:
                    block.append(Statement(row.event_id, row.emission_time, row.event, obj.name, row.line_number))
                    if len(block) >= ROWS_PER_INSERT:
                        self._insert(block, result, replace_drifted)
                        block = []
        except ObjectCut as exc:
            result.cut = str(exc)
        self._insert(block, result, replace_drifted)
        return result

    def _insert(self, statements: list[Statement], result: LoadResult, replace_drifted: bool) -> None:
        if not statements:
            return
        written = self._sink(replace_drifted).write(statements)
        result.rows_in_file += len(statements)
        result.inserted += written.written
        result.drifted.extend(written.drifted)
        result.replaced.extend(written.replaced)
        result.compared_by_id_only += written.compared_by_id_only

    def _sink(self, replace_drifted: bool) -> ClickHouseSink:
        if replace_drifted not in self._sinks:
            self._sinks[replace_drifted] = ClickHouseSink(self.xapi, replace_drifted)
        return self._sinks[replace_drifted]

    def replacement_note(self, replaced: int) -> str | None:
        sink = self._sinks.get(True)
        return sink.replacement_note(replaced) if sink is not None else None

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()

    def _query(self, sql: str):
        try:
            return self.client.query(sql).result_rows
        except OperationalError as exc:
            raise DestinationUnavailable(self._explain(exc)) from None

    def _command(self, sql: str) -> None:
        try:
            self.client.command(sql)
        except OperationalError as exc:
            raise DestinationUnavailable(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        return f"{self.xapi.describe()} could not load the files: {short_reason(exc, self._secrets)}"
