"""
``--summary_json PATH``: a command's summary as data, for operators' scripts and the Tutor
jobs. Every command writes one document of the same outer shape (README: Summary as JSON):

    {"command": ..., "schema": 1, "outcome": "completed" | "stopped" | "nothing_to_do",
     "exit_code": 0 | 1, ...the command's own fields}

The file is written whole or not at all (a reader never sees half a document), owner-only:
it may name files that hold personal data.
"""

from __future__ import annotations

import json

from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.private_files import write_private_file_whole

SCHEMA_VERSION = 1
COMPLETED, STOPPED, NOTHING_TO_DO = "completed", "stopped", "nothing_to_do"


def summary_document(command: str, outcome: str, fields: dict) -> dict:
    return {
        "command": command,
        "schema": SCHEMA_VERSION,
        "outcome": outcome,
        "exit_code": 1 if outcome == STOPPED else 0,
        **fields,
    }


def write_summary_json(path: str | None, document: dict) -> None:
    """Write ``document`` to ``path`` (nothing when None); a path that cannot be written is a clear error."""
    if not path:
        return
    try:
        write_private_file_whole(path, json.dumps(document, indent=2, sort_keys=True, default=str).encode())
    except OSError as exc:
        raise BackfillConfigError(
            f"--summary_json: cannot write {path} ({exc.strerror or type(exc).__name__})."
        ) from None
