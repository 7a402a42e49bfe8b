"""
Statements -> statement files (``statement_file_format``) on any libcloud storage, one
object per batch, that ClickHouse loads itself (``load_xapi_files``). A run with
``--replace_drifted`` says so in its manifest, and ``load_xapi_files`` replaces with the run's
statements those the table holds of an older ERB (clickhouse/replacement.py).

Object names carry a run id and a sequence number, so two runs, or two batches in the same
second, never overwrite each other; ``manifest.json`` lists what the run wrote. With
--workers each worker writes its own objects into the run's folder, named after the part of
the logs it reads; the command's process writes the manifest.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from libcloud.common.types import LibcloudError
from libcloud.storage.types import Provider

from backfill_app.core.errors import DestinationUnavailable
from backfill_app.core.private_files import write_private_file_whole
from backfill_app.core.retry import call_with_retries
from backfill_app.sinks.base import WriteResult, first_of_each_id
from backfill_app.sinks.statement_file_format import FORMAT_DESCRIPTION, STATEMENT_FILE_SUFFIX, statement_file_content
from backfill_app.sources.storage import StorageLocation, connect_driver, get_container

if TYPE_CHECKING:
    from backfill_app.transform.statements import Statement

MANIFEST_NAME = "manifest.json"


class StatementFileSink:
    in_process = False
    cpu_role = "writing"  # several may write at once: every writer has object names of its own

    def __init__(self, location: StorageLocation, replace_drifted: bool = False):
        self.location = location
        # Said in the manifest: load_xapi_files then replaces what the table holds of an older ERB.
        self.replace_drifted = replace_drifted
        self.driver = connect_driver(location)
        self.container = get_container(self.driver, location)
        self.run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        self.folder = "/".join(part for part in (location.prefix.strip("/"), self.run_id) if part)
        self.object_stem = "xapi"
        self.writes_manifest = True
        self.written_objects: list[dict] = []

    def add_to_run(self, folder: str, object_stem: str) -> None:
        """Write into another process's run folder, objects named ``object_stem-N``; it writes the manifest."""
        self.folder = folder
        self.object_stem = object_stem
        self.writes_manifest = False

    def identity(self) -> str:
        return f"files|{self.location.provider}|{self.location.container}|{self.location.prefix}"

    def describe(self) -> str:
        return f"files in {self.location.provider}:{self.location.container}/{self.folder}/"

    def write(self, statements: list[Statement]) -> WriteResult:
        unique = first_of_each_id(statements)
        if not unique:
            return WriteResult(written=0)
        name = f"{self.folder}/{self.object_stem}-{len(self.written_objects) + 1:06d}{STATEMENT_FILE_SUFFIX}"
        data = statement_file_content(unique)
        self._upload(name, data)
        self.written_objects.append({"name": name, "statements": len(unique), "bytes": len(data)})
        return WriteResult(written=len(unique), already_present=len(statements) - len(unique))

    def _upload(self, name: str, data: bytes) -> None:
        def upload():
            if self.location.provider == Provider.LOCAL:
                self._write_local_object(name, data)
            else:  # an object store's PUT is all or nothing
                self.driver.upload_object_via_stream(iter([data]), self.container, name)

        try:
            call_with_retries(
                upload,
                retry_on=(LibcloudError, OSError),
                what=f"upload of {name}",
            )
        except (LibcloudError, OSError) as exc:
            raise DestinationUnavailable(f"{self.describe()}: upload of {name} failed: {type(exc).__name__}") from None

    def _write_local_object(self, name: str, data: bytes) -> None:
        """
        Not through the driver, which writes in place and then makes the file 0664: a run killed
        mid-write would leave half a statement file that stops ``load_xapi_files``, and the file
        would be readable by others until made private. Private from its first byte, and whole
        under its name or not there (a leftover ``.partial`` is no statement file to the loader).
        """
        write_private_file_whole(Path(self.driver.get_container_cdn_url(self.container)) / name, data)

    def close(self) -> None:
        if not self.written_objects or not self.writes_manifest:
            return
        manifest = {
            "run_id": self.run_id,
            "written_at": datetime.now(UTC).isoformat(),
            "format": FORMAT_DESCRIPTION,
            "objects": self.written_objects,
            "statements": sum(entry["statements"] for entry in self.written_objects),
            "replace_drifted": self.replace_drifted,
        }
        self._upload(f"{self.folder}/{MANIFEST_NAME}", json.dumps(manifest, indent=2).encode())
