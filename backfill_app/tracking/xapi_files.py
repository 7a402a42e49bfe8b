"""
Statement files (written by the file destination) -> ``xapi_events_all``, read by
ClickHouse itself through its ``s3()`` / ``file()`` table functions: no row passes through
Python. Rows whose ``event_id`` is already in the table are not inserted again.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from libcloud.storage.types import Provider

from backfill_app.clickhouse.connection import ClickHouseTarget, XapiTable
from backfill_app.clickhouse.schema import open_xapi_table
from backfill_app.clickhouse.sql import sql_string
from backfill_app.core.errors import BackfillConfigError, DestinationUnavailable
from backfill_app.core.redaction import short_reason
from backfill_app.core.secrets import secret_values
from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIXES
from backfill_app.sources.storage import LogObject, StorageLocation

log = logging.getLogger(__name__)

FILE_STRUCTURE = "event_id UUID, emission_time DateTime64(6, 'UTC'), event String"
S3_COMPATIBLE = {Provider.S3, Provider.MINIO, Provider.GOOGLE_STORAGE}


@dataclass
class LoadResult:
    name: str
    rows_in_file: int
    inserted: int

    @property
    def already_present(self) -> int:
        return self.rows_in_file - self.inserted


class XapiFileLoader:
    def __init__(self, client, xapi: XapiTable, location: StorageLocation):
        self.client = client
        self.xapi = xapi
        self.target = xapi.target
        self.database = xapi.database
        self.table = xapi.table
        self.location = location
        # Read once (a reference's variable or file, the AWS credentials), not for every object.
        self._options = location.resolved_driver_options()
        self._secrets = [*secret_values(self._options, location.provider), xapi.target.password]

    @classmethod
    def open(cls, xapi: XapiTable, location: StorageLocation) -> XapiFileLoader:
        """Checked before connecting: can that ClickHouse read files from there at all?"""
        cls.check_readable_by(location, xapi.target)
        client = open_xapi_table(xapi)
        return cls(client, xapi, location)

    @staticmethod
    def check_readable_by(location: StorageLocation, target: ClickHouseTarget) -> None:
        """Before connecting: can that ClickHouse read files from there at all?"""
        if location.provider == Provider.LOCAL and not target.embedded:
            raise BackfillConfigError(
                "LOCAL files can be loaded into the embedded ClickHouse only: a ClickHouse server cannot read "
                "this machine's disk. Write the statement files to S3 (or MinIO, GCS) instead."
            )
        if location.provider not in S3_COMPATIBLE | {Provider.LOCAL}:
            raise BackfillConfigError(
                f"ClickHouse reads statement files from S3, MINIO, GOOGLE_STORAGE or LOCAL, not {location.provider}."
            )

    @staticmethod
    def is_statement_file(obj: LogObject) -> bool:
        return obj.name.endswith(STATEMENT_FILE_SUFFIXES)

    def table_function(self, object_name: str) -> str:
        structure = sql_string(FILE_STRUCTURE)
        if self.location.provider == Provider.LOCAL:
            path = os.path.join(self.location.driver_options["key"], self.location.container, object_name)  # a folder
            return f"file({sql_string(os.path.abspath(path))}, 'JSONEachRow', {structure})"
        options = self._options
        credentials = ""
        if options.get("key"):
            credentials = f"{sql_string(str(options['key']))}, {sql_string(str(options.get('secret', '')))}, "
            if options.get("token"):  # temporary credentials (AWS_SESSION_TOKEN)
                credentials += f"{sql_string(str(options['token']))}, "
        return f"s3({sql_string(self.object_url(object_name))}, {credentials}'JSONEachRow', {structure})"

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

    def load(self, object_name: str) -> LoadResult:
        source = self.table_function(object_name)
        table = f"`{self.database}`.`{self.table}`"
        count, earliest, latest = self._query(
            f"SELECT count(), toString(min(emission_time)), toString(max(emission_time)) FROM {source}"
        )[0]
        if not count:
            return LoadResult(object_name, 0, 0)
        # Only ids not yet in the table, looked up within the file's time range (the sort key).
        new_rows = (
            f"SELECT event_id, emission_time, event FROM {source} "
            f"WHERE event_id NOT IN (SELECT event_id FROM {table} "
            f"WHERE emission_time BETWEEN toDateTime64('{earliest}', 6, 'UTC') AND toDateTime64('{latest}', 6, 'UTC')) "
            "LIMIT 1 BY event_id"
        )
        (inserted,) = self._query(f"SELECT count() FROM ({new_rows})")[0]
        if inserted:
            self._command(f"INSERT INTO {table} (event_id, emission_time, event) {new_rows}")
        return LoadResult(object_name, int(count), int(inserted))

    def _query(self, sql: str):
        try:
            return self.client.query(sql).result_rows
        except (ClickHouseError, OperationalError) as exc:
            raise DestinationUnavailable(self._explain(exc)) from None

    def _command(self, sql: str) -> None:
        try:
            self.client.command(sql)
        except (ClickHouseError, OperationalError) as exc:
            raise DestinationUnavailable(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        return f"{self.xapi.describe()} could not load the files: {short_reason(exc, self._secrets)}"
