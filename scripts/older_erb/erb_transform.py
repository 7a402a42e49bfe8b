"""
Run by the Python of a virtualenv that holds one release of edx-event-routing-backends (ERB):
the tracking-log lines of INPUT through that release's own parser, allow-list and xAPI
processor, one JSON line per statement on OUTPUT.

    python erb_transform.py PLATFORM_JSON INPUT OUTPUT

Standard library, Django and ERB only: this file is not part of the backfill and imports
nothing of it. ERB asks edx-platform for three things (a user's external id, a course's
overview, a retired user); outside the LMS they are answered here, from PLATFORM_JSON, by
stand-in modules put where ERB imports them from (every release imports the same names;
8.x and 9.0 import them without a fallback). Users are real rows of Django's auth tables
(in memory), looked up by ERB's own ``get_user``.

Output, one JSON object a line:
- ``{"line": N, "event_name": ..., "id": ..., "statement": {...}}`` for each statement, in the
  order the release made them (N: the line's number in INPUT, from 1);
- ``{"line": N, "event_name": ..., "id": null, "statement": null, "note": ...}`` for a line
  of the allow-list that gave no statement (the release raised, or returned none).
Lines whose event is not in the release's allow-list are left out, as its
``transform_tracking_logs`` leaves them out. The last line of stdout is a JSON summary
(release, packages' versions, counts).
"""

from __future__ import annotations

import json
import sys
import types
import uuid
from importlib import metadata
from pathlib import Path

# Packages whose versions say what made the statements (the whole set: pip freeze of the venv).
REPORTED_PACKAGES = (
    "edx-event-routing-backends",
    "Django",
    "tincan",
    "edx-opaque-keys",
    "openedx-filters",
    "event-tracking",
    "edx-toggles",
)


def platform_modules(platform: dict) -> dict[str, types.ModuleType]:
    """The three edx-platform modules ERB imports, answering from ``platform``."""
    external_ids = {int(user["id"]): uuid.UUID(user["xapi_external_id"]) for user in platform["users"]}
    course_names = dict(platform["courses"])

    def get_potentially_retired_user_by_username(username):
        # No retirement records here: a username lookup (what the backfill's standalone project does too).
        from django.contrib.auth import get_user_model

        return get_user_model().objects.get(username=username)

    def get_course_overviews(course_ids):
        keys = [str(course_id) for course_id in course_ids]
        return [
            {"id": key, "display_name": course_names[key], "org": key.split(":")[1].split("+")[0]}
            for key in keys
            if key in course_names
        ]

    class ExternalIdType:
        LTI = "lti"
        XAPI = "xapi"
        CALIPER = "caliper"

    class ExternalId:
        def __init__(self, user, external_user_id):
            self.user = user
            self.external_user_id = external_user_id

        @classmethod
        def add_new_user_id(cls, user, type_name):
            """The platform's contract: ``(external_id, created)``; every user here has one already."""
            if type_name != ExternalIdType.XAPI:
                return None, False
            return cls(user, external_ids[user.id]), False

    modules = {}
    for name in (
        "common",
        "common.djangoapps",
        "common.djangoapps.student",
        "openedx",
        "openedx.core",
        "openedx.core.djangoapps",
        "openedx.core.djangoapps.content",
        "openedx.core.djangoapps.content.course_overviews",
        "openedx.core.djangoapps.external_user_ids",
    ):
        modules[name] = types.ModuleType(name)
    student = modules["common.djangoapps.student.models"] = types.ModuleType("common.djangoapps.student.models")
    student.get_potentially_retired_user_by_username = get_potentially_retired_user_by_username
    api_name = "openedx.core.djangoapps.content.course_overviews.api"
    overviews = modules[api_name] = types.ModuleType(api_name)
    overviews.get_course_overviews = get_course_overviews
    ids_name = "openedx.core.djangoapps.external_user_ids.models"
    ids = modules[ids_name] = types.ModuleType(ids_name)
    ids.ExternalId = ExternalId
    ids.ExternalIdType = ExternalIdType
    return modules


def configure_django(platform: dict) -> None:
    """Django with ERB's own defaults (its ``plugin_settings``, as the LMS applies them) and the users."""
    import django
    from django.conf import settings
    from event_routing_backends.settings import common as erb_settings

    values = types.SimpleNamespace(LMS_ROOT_URL=platform["lms_root_url"], EVENT_TRACKING_BACKENDS={})
    erb_settings.plugin_settings(values)
    values.XAPI_EVENT_LOGGING_ENABLED = False  # one log line per statement otherwise
    settings.configure(
        **{name: value for name, value in vars(values).items() if name.isupper()},
        # ERB's app registers its transformers when ready; its models need config_models.
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "config_models",
            "event_routing_backends",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        USE_TZ=True,
        TIME_ZONE="UTC",
        SECRET_KEY="older-erb-fixtures",
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        LOGGING_CONFIG=None,
    )
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    User = get_user_model()
    User.objects.bulk_create(
        [User(id=user["id"], username=user["username"], email=user["email"]) for user in platform["users"]]
    )


def allowed_xapi_events(settings) -> set[str]:
    """
    The release's own allow-list of xAPI events: a setting since 9.3; before, only the name
    filters (``NameWhitelistProcessor``) of the tracking backends its ``plugin_settings``
    configured, which an event passes on its way to the xAPI processor (all of them).
    """
    if hasattr(settings, "EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS"):
        return set(settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS)
    found: list[set[str]] = []

    def walk(backend: dict, filters: list[set[str]]) -> None:
        options = backend.get("OPTIONS", {})
        processors = options.get("processors", [])
        filters = filters + [
            set(processor["OPTIONS"]["whitelist"]) for processor in processors if "Whitelist" in processor["ENGINE"]
        ]
        if any(processor["ENGINE"].endswith("XApiProcessor") for processor in processors):
            found.append(set.intersection(*filters))
        for child in options.get("backends", {}).values():
            walk(child, filters)

    for backend in settings.EVENT_TRACKING_BACKENDS.values():
        walk(backend, [])
    if len(found) != 1:
        raise RuntimeError(f"expected one xAPI processor behind ERB's tracking backends, found {len(found)}")
    return found[0]


def transform(lines: list[str]):
    """(line number, event name, statements or None, note) for each line of the allow-list."""
    from django.conf import settings
    from event_routing_backends.management.commands.helpers.event_log_parser import parse_json_event
    from event_routing_backends.processors.xapi.transformer_processor import XApiProcessor

    allowed = allowed_xapi_events(settings)
    processor = XApiProcessor()
    for number, line in enumerate(lines, start=1):
        event = parse_json_event(line)
        if event is None or event.get("name") not in allowed:
            continue
        try:
            statements = processor.transform_event(event)
        except Exception as exc:  # noqa: BLE001 - what the release does with the line is the data
            yield number, event["name"], None, f"{type(exc).__name__}: {exc}"
            continue
        yield number, event["name"], statements or None, None if statements else "no statement"


def versions() -> dict[str, str]:
    found = {}
    for name in REPORTED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def main(platform_path: str, input_path: str, output_path: str) -> None:
    import logging

    # ERB logs every failed transform with its traceback: the note in the output says it once.
    logging.disable(logging.CRITICAL)
    platform = json.loads(Path(platform_path).read_text(encoding="utf-8"))
    sys.modules.update(platform_modules(platform))
    configure_django(platform)
    lines = Path(input_path).read_text(encoding="utf-8").splitlines()
    counts = {"lines": len(lines), "statements": 0, "lines_without_statement": 0}
    with open(output_path, "w", encoding="utf-8") as output:
        for number, event_name, statements, note in transform(lines):
            if statements is None:
                counts["lines_without_statement"] += 1
                record = {"line": number, "event_name": event_name, "id": None, "statement": None, "note": note}
                output.write(json.dumps(record, ensure_ascii=False) + "\n")
                continue
            for statement in statements:
                counts["statements"] += 1
                record = {"line": number, "event_name": event_name, "id": statement["id"], "statement": statement}
                output.write(json.dumps(record, ensure_ascii=False) + "\n")
    import event_routing_backends

    summary = {"release": event_routing_backends.__version__, "python": sys.version.split()[0], **counts}
    print(json.dumps(dict(summary, packages=versions())))


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
