"""
Model instance -> event_sink row, value for value as platform-plugin-aspects' serializers
make them (DRF renders datetimes as ISO 8601 with ``Z``; a missing value is an empty string).
"""

from __future__ import annotations

import json
from datetime import date, datetime

UTC_SUFFIX = "+00:00"


def text(value) -> str:
    """A value in a String column, as DRF + CSV would have written it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        rendered = value.isoformat()
        return rendered[: -len(UTC_SUFFIX)] + "Z" if rendered.endswith(UTC_SUFFIX) else rendered
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def user_profile_row(profile) -> dict:
    row = {"id": profile.id, "user_id": profile.user_id}
    for field in ("name",):
        row[field] = text(getattr(profile, field))
    row["username"] = text(profile.user.username)
    row["email"] = text(profile.user.email)
    for field in (
        "meta", "courseware", "language", "location", "year_of_birth", "gender", "level_of_education",
        "mailing_address", "city", "country", "state", "goals", "bio", "profile_image_uploaded_at", "phone_number",
    ):  # fmt: skip
        row[field] = text(getattr(profile, field))
    return row


def external_id_row(external_id) -> dict:
    return {
        "external_user_id": external_id.external_user_id,
        "external_id_type": text(external_id.external_id_type.name),
        "username": text(external_id.user.username),
        "user_id": external_id.user_id,
    }


def course_enrollment_row(enrollment) -> dict:
    return {
        "id": enrollment.id,
        "course_key": text(enrollment.course_id),
        "created": text(enrollment.created),
        "is_active": bool(enrollment.is_active),
        "mode": text(enrollment.mode),
        "username": text(enrollment.user.username),
        "user_id": enrollment.user_id,
    }


def tag_row(tag) -> dict:
    return {
        "id": tag.id,
        "taxonomy": tag.taxonomy_id or 0,
        "parent": tag.parent_id or 0,
        "value": text(tag.value),
        "external_id": text(tag.external_id),
        "lineage": json.dumps(tag.get_lineage()),
    }


def taxonomy_row(taxonomy) -> dict:
    return {"id": taxonomy.id, "name": text(taxonomy.name)}


def object_tag_row(object_tag) -> dict:
    return {
        "id": object_tag.id,
        "object_id": text(object_tag.object_id),
        "taxonomy": object_tag.taxonomy_id or 0,
        "tag": object_tag.tag_id or 0,
        "_value": text(object_tag._value),
        "_export_id": text(object_tag._export_id),
        "lineage": json.dumps(object_tag.get_lineage()),
    }
