"""Parsing of the JSON options that commands take (``--source_config``, ``--destination_config``)."""

from __future__ import annotations

import json

from backfill_app.core.errors import BackfillConfigError


def parse_json_object(value: str | None, option: str) -> dict:
    """``value`` as a dict ({} when empty), or a BackfillConfigError naming ``option``."""
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise BackfillConfigError(f"{option} is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    if not isinstance(parsed, dict):
        raise BackfillConfigError(f"{option} must be a JSON object, not {type(parsed).__name__}.")
    return parsed
