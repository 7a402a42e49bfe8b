"""
The pieces of an xAPI statement as plain dicts, serialized as tincan serializes the objects
ERB builds: keys in the order tincan's constructors set them, None left out (one level, as
tincan's ``_filter_none``), and every value checked or converted the way tincan's setters
do. A value a setter would refuse raises ``NotDirect``: ERB then fails on it in its own words.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from tincan.conversions.iso8601 import jsonify_timedelta, make_timedelta

from backfill_app.core.json_codec import write_json
from backfill_app.transform.direct.fields import NotDirect

# The timestamps ERB parses with aniso8601 that datetime.fromisoformat reads the same way
# (the differential test checks the formats around these); anything else goes to ERB.
PLAIN_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)\Z")


def language_map(mapping: dict) -> dict:
    for value in mapping.values():
        if not isinstance(value, str):
            raise NotDirect("a language map value is not a string")
    return mapping


def extensions(mapping: dict) -> dict:
    return {key: value for key, value in mapping.items() if value is not None}


def _text(value, what: str) -> str:
    # tincan refuses an empty string and str()s anything else.
    if value == "":
        raise NotDirect(f"{what} is empty")
    return value if isinstance(value, str) else str(value)


def definition(activity_type, name=None, description=None, interaction_type=None, extension_values=None) -> dict:
    made: dict[str, Any] = {}
    if name is not None:
        made["name"] = language_map(name)
    if description is not None:
        made["description"] = language_map(description)
    if activity_type is not None:
        made["type"] = _text(activity_type, "the activity type")
    if interaction_type is not None:
        made["interactionType"] = interaction_type
    if extension_values is not None:
        made["extensions"] = extensions(extension_values)
    return made


def activity(activity_id, activity_definition: dict | None, object_type: str = "Activity") -> dict:
    made: dict[str, Any] = {}
    if activity_id is not None:
        made["id"] = _text(activity_id, "the activity id")
    made["objectType"] = object_type
    if activity_definition is not None:
        made["definition"] = activity_definition
    return made


def _float(value):
    if value is None or isinstance(value, float):
        return value
    try:
        return float(value)
    except Exception:
        raise NotDirect("a score is not a number") from None


def score(minimum, maximum, raw, scaled) -> dict:
    made = {"scaled": _float(scaled), "raw": _float(raw), "min": _float(minimum), "max": _float(maximum)}
    return {key: value for key, value in made.items() if value is not None}


def result(
    score_values: dict | None = None,
    success=None,
    completion=None,
    duration=None,
    response=None,
    extension_values: dict | None = None,
) -> dict:
    made: dict[str, Any] = {}
    if score_values is not None:
        made["score"] = score_values
    if success is not None:
        made["success"] = bool(success)
    if completion is not None:
        made["completion"] = bool(completion)
    if duration is not None:
        try:
            made["duration"] = jsonify_timedelta(make_timedelta(duration))
        except Exception:
            raise NotDirect("a duration tincan cannot convert") from None
    if response is not None:
        made["response"] = response if isinstance(response, str) else str(response)
    if extension_values is not None:
        made["extensions"] = extensions(extension_values)
    return made


def list_response(value) -> str:
    """ERB's JSONEncodedResult: a list answer, as JSON that keeps non-ASCII characters."""
    if not isinstance(value, list):
        raise NotDirect("a list response that is not a list")
    return json.dumps(value, ensure_ascii=False)


def context_activities(parent: list | None = None, grouping: list | None = None) -> dict:
    made: dict[str, Any] = {}
    if parent is not None:
        made["parent"] = parent
    if grouping is not None:
        made["grouping"] = grouping
    return made


def context_json(extension_values: dict, activities_json: str | None, statement_id: str | None = None) -> str:
    """
    The statement's context as tincan writes it (context activities, the statement it refers to,
    extensions without their None values), around the context activities' JSON written once.
    """
    members = [] if activities_json is None else [f'"contextActivities": {activities_json}']
    if statement_id is not None:  # a uuid: nothing to escape
        members.append(f'"statement": {{"objectType": "StatementRef", "id": "{statement_id}"}}')
    members.append(f'"extensions": {write_json(extensions(extension_values))}')
    return "{" + ", ".join(members) + "}"


def timestamp(raw) -> tuple[str, datetime]:
    """The statement's timestamp as tincan writes it, and as a datetime."""
    if not isinstance(raw, str) or not PLAIN_TIMESTAMP.match(raw):
        raise NotDirect("a timestamp in a format the fast path does not read")
    moment = datetime.fromisoformat(raw)
    return moment.isoformat(), moment


def agent(account_name, home_page) -> dict:
    return {
        "objectType": "Agent",
        "account": {"name": _text(account_name, "the account name"), "homePage": _text(home_page, "the home page")},
    }
