"""
``--summary_json PATH``: a command's summary as data, for operators' scripts and the Tutor
jobs. Every command writes one document of the same outer shape (README: Summary as JSON):

    {"command": ..., "schema": 1,
     "outcome": "completed" | "stopped" | "nothing_to_do" | "refused",
     "exit_code": 0 | 1, "message": the sentence the command ended with, or null,
     ...the command's own fields}

The file is written whole or not at all (a reader never sees half a document), owner-only:
it may name files that hold personal data. A file an earlier run left at the path is removed
when the command starts, so a run that never ended (killed) leaves no document, never an
earlier run's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from django.core.management.base import CommandError

from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.private_files import make_private_folders, write_private_file_whole

SCHEMA_VERSION = 1
COMPLETED, STOPPED, NOTHING_TO_DO, REFUSED = "completed", "stopped", "nothing_to_do", "refused"
FAILING_OUTCOMES = (STOPPED, REFUSED)


class SummaryData(Protocol):
    def to_json(self) -> dict: ...


def summary_document(
    command: str, outcome: str, fields: dict, message: str | None = None, exit_code: int | None = None
) -> dict:
    """
    The outer shape around a command's ``fields``. ``exit_code``: the command's exit status, 1 for a
    stopped or refused run unless given (dump_data_to_clickhouse ends with 1 when it set objects aside).
    """
    return {
        "command": command,
        "schema": SCHEMA_VERSION,
        "outcome": outcome,
        "exit_code": (1 if outcome in FAILING_OUTCOMES else 0) if exit_code is None else exit_code,
        "message": message,
        **fields,
    }


def write_summary_json(path: str | None, document: dict) -> None:
    """Write ``document`` to ``path`` (nothing when None); a path that cannot be written is a clear error."""
    if not path:
        return
    try:
        write_private_file_whole(path, json.dumps(document, indent=2, sort_keys=True, default=str).encode())
    except OSError as exc:
        raise _cannot_write(path, exc) from None


def _cannot_write(path: str, exc: OSError) -> BackfillConfigError:
    return BackfillConfigError(f"--summary_json: cannot write {path} ({exc.strerror or type(exc).__name__}).")


def add_summary_json_option(parser) -> None:
    """Every command's ``--summary_json PATH`` (a Django command's parser)."""
    parser.add_argument(
        "--summary_json",
        metavar="PATH",
        help="also write the run's summary as JSON to PATH, whatever its outcome (README: Summary as JSON)",
    )


class SummaryJsonFile:
    """The ``--summary_json`` file of one run of ``command``: nothing at all when no path is given."""

    def __init__(self, command: str, path: str | None):
        self.command = command
        self.path = path
        self.written = False
        if path:
            self._clear_the_way(path)

    @staticmethod
    def _clear_the_way(path: str) -> None:
        """Before the run: an earlier run's document removed, and a path that cannot be written said now."""
        folder = Path(path).absolute().parent
        try:
            make_private_folders(folder)
            Path(path).unlink(missing_ok=True)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise BackfillConfigError(f"--summary_json: cannot write {path} (Permission denied).")

    def write(
        self, outcome: str, summary: SummaryData | None = None, message: str | None = None, exit_code: int | None = None
    ) -> None:
        """The run's document: ``summary``'s fields (none when the run did not begin) in the outer shape."""
        fields = summary.to_json() if summary is not None else {}
        write_summary_json(self.path, summary_document(self.command, outcome, fields, message, exit_code))
        self.written = True


@contextmanager
def summary_json_file(command: str, path: str | None) -> Iterator[SummaryJsonFile]:
    """
    Around a command's ``handle``: its ``--summary_json`` file, where a CommandError the command did
    not write a document for (an option refused, a setting missing) is written as ``refused`` with
    its message; a path that cannot be written ends the command with a CommandError saying so.
    """
    try:
        report = SummaryJsonFile(command, path)
        try:
            yield report
        except CommandError as exc:
            if not report.written:
                report.write(REFUSED, message=str(exc))
            raise
    except BackfillConfigError as exc:
        raise CommandError(str(exc)) from None
