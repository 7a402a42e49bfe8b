"""
The platform models behind each --object: Aspects' ``EVENT_SINK_CLICKHOUSE_MODEL_CONFIG``
when the platform has it (inside the LMS/CMS), our standalone models otherwise.
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from backfill_app.core.errors import BackfillConfigError

STANDALONE = {
    "auth_user": ("django.contrib.auth.models", "User"),
    "user_profile": ("backfill_app.standalone.models", "UserProfile"),
    "external_id": ("backfill_app.standalone.models", "ExternalId"),
    "course_overviews": ("backfill_app.standalone.models", "CourseOverview"),
    "course_enrollment": ("backfill_app.standalone.models", "CourseEnrollment"),
    "tag": ("backfill_app.standalone.models", "Tag"),
    "taxonomy": ("backfill_app.standalone.models", "Taxonomy"),
    "object_tag": ("backfill_app.standalone.models", "ObjectTag"),
}


def platform_model(name: str):
    configured = (getattr(settings, "EVENT_SINK_CLICKHOUSE_MODEL_CONFIG", None) or {}).get(name)
    module_name, model_name = (
        (configured["module"], configured["model"]) if configured else STANDALONE.get(name, ("", ""))
    )
    if not module_name or not model_name:
        raise BackfillConfigError(f"No model is configured for {name!r} in EVENT_SINK_CLICKHOUSE_MODEL_CONFIG.")
    try:
        return getattr(import_module(module_name), model_name)
    except (ImportError, AttributeError):
        raise BackfillConfigError(
            f"The model for {name!r} ({module_name}.{model_name}) cannot be imported: is its app installed?"
        ) from None
