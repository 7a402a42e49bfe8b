"""Resume points of a backfill, per source object, in the Django database."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.db import DatabaseError

from backfill_app.core.errors import BackfillConfigError
from backfill_app.models import SourceCheckpoint
from backfill_app.sources.storage import LogObject, StorageLocation


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_key(source: StorageLocation, destination_identity: str, transformer_type: str) -> str:
    """The same source, destination and transformer type resume each other; anything else starts anew."""
    return _digest(f"{source.provider}|{source.container}|{source.prefix}|{destination_identity}|{transformer_type}")


@dataclass(frozen=True)
class ResumePoint:
    offset: int = 0  # bytes already done (plain files), where a range read starts
    line: int = 0  # lines already done, skipped when the object is read from its start
    completed: bool = False


START = ResumePoint()


class CheckpointStore:
    def __init__(self, key: str):
        self.key = key
        self._require_table()

    @staticmethod
    def _require_table() -> None:
        try:
            SourceCheckpoint.objects.exists()
        except DatabaseError:
            raise BackfillConfigError(
                "The backfill_app tables are missing from this database: run `./manage.py migrate backfill_app` "
                "(in the LMS: `./manage.py lms migrate backfill_app`)."
            ) from None

    def restart(self) -> int:
        deleted, _ = SourceCheckpoint.objects.filter(run_key=self.key).delete()
        return deleted

    def resume_point(self, obj: LogObject) -> ResumePoint:
        row = SourceCheckpoint.objects.filter(run_key=self.key, object_key=_digest(obj.label)).first()
        if row is None:
            return START
        if row.object_size != obj.size or (row.object_etag or "") != (obj.etag or ""):
            row.delete()  # the object changed since: read it again from its start
            return START
        return ResumePoint(offset=row.committed_offset, line=row.committed_line, completed=row.completed)

    def commit(self, obj: LogObject, offset: int, line: int, completed: bool) -> None:
        SourceCheckpoint.objects.update_or_create(
            run_key=self.key,
            object_key=_digest(obj.label),
            defaults={
                "object_name": obj.label,
                "object_size": obj.size,
                "object_etag": obj.etag or "",
                "committed_offset": offset,
                "committed_line": line,
                "completed": completed,
            },
        )


def checkpoints_for(source: StorageLocation, sink, transformer_type: str, window=None):
    """A time window is part of what a run does: runs with another window keep their own progress."""
    identity = sink.identity()
    if identity is None:
        return NoCheckpoints()
    if window is not None:
        identity = f"{identity}|window:{window.identity()}"
    return CheckpointStore(run_key(source, identity, transformer_type))


class NoCheckpoints:
    """Dry runs write nothing, so they record no progress either."""

    key = None

    def restart(self) -> int:
        return 0

    def resume_point(self, obj: LogObject) -> ResumePoint:
        return START

    def commit(self, obj: LogObject, offset: int, line: int, completed: bool) -> None:
        pass
