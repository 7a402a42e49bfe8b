"""Parsing of the JSON options that commands take (``--source_config``, ``--destination_config``)."""

from __future__ import annotations

import json
from pathlib import Path

from backfill_app.core.errors import BackfillConfigError


def parse_json_object(value: str | None, option: str) -> dict:
    """
    ``value`` as a dict ({} when empty), inline or read from ``@/path/config.json`` (out of
    the process list), or a BackfillConfigError naming ``option`` (and the file, never its content).
    """
    if not value:
        return {}
    text, source = value, option
    if value.startswith("@"):
        path = Path(value[1:]).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise BackfillConfigError(f"{option}: cannot read {path} ({exc.strerror or type(exc).__name__}).") from None
        source = f"{option} file {path}"
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BackfillConfigError(f"{source} is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if not isinstance(parsed, dict):
        raise BackfillConfigError(f"{source} must be a JSON object, not {type(parsed).__name__}.")
    return parsed
