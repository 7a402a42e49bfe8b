"""
The event_sink tables, with their columns in Aspects' order and ClickHouse types, as
tutor-contrib-aspects 6.1.0's migrations build them (tests/test_aspects_install.py holds them
equal); rows are inserted with these names and types.
"""

from __future__ import annotations

from dataclasses import dataclass

DUMP_COLUMNS = ("dump_id", "time_last_dumped")


@dataclass(frozen=True)
class EventSinkTable:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: str  # the column that identifies an object's row across dumps

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    @property
    def column_types(self) -> list[str]:
        return [kind for _, kind in self.columns]

    @property
    def content_columns(self) -> list[str]:
        """What a change is measured on: everything but the dump's own id and time."""
        return [name for name in self.column_names if name not in DUMP_COLUMNS]


def _table(name, key, *columns):
    return EventSinkTable(name, tuple(columns) + (("dump_id", "UUID"), ("time_last_dumped", "String")), key)


S = "String"
USER_PROFILE = _table(
    "user_profile", "id",
    ("id", "Int32"), ("user_id", "Int32"), ("name", S), ("username", S), ("email", S), ("meta", S),
    ("courseware", S), ("language", S), ("location", S), ("year_of_birth", S), ("gender", S),
    ("level_of_education", S), ("mailing_address", S), ("city", S), ("country", S), ("state", S),
    ("goals", S), ("bio", S), ("profile_image_uploaded_at", S), ("phone_number", S),
)  # fmt: skip
EXTERNAL_ID = _table(
    "external_id", "external_user_id",
    ("external_user_id", "UUID"), ("external_id_type", S), ("username", S), ("user_id", "Int32"),
)  # fmt: skip
COURSE_ENROLLMENT = _table(
    "course_enrollment", "id",
    ("id", "Int32"), ("course_key", S), ("created", S), ("is_active", "Bool"), ("mode", "LowCardinality(String)"),
    ("username", S), ("user_id", "Int32"),
)  # fmt: skip
TAG = _table(
    "tag", "id",
    ("id", "Int32"), ("taxonomy", "Int32"), ("parent", "Int32"), ("value", S), ("external_id", S), ("lineage", S),
)  # fmt: skip
TAXONOMY = _table("taxonomy", "id", ("id", "Int32"), ("name", S))
OBJECT_TAG = _table(
    "object_tag", "id",
    ("id", "Int32"), ("object_id", S), ("taxonomy", "Int32"), ("tag", "Int32"), ("_value", S), ("_export_id", S),
    ("lineage", S),
)  # fmt: skip
COURSE_OVERVIEWS = _table(
    "course_overviews", "course_key",
    ("org", S), ("course_key", S), ("display_name", S), ("course_start", S), ("course_end", S),
    ("enrollment_start", S), ("enrollment_end", S), ("self_paced", "Bool"), ("course_data_json", S),
    ("created", S), ("modified", S),
)  # fmt: skip
COURSE_BLOCKS = _table(
    "course_blocks", "location",
    ("org", S), ("course_key", S), ("location", S), ("display_name", S), ("xblock_data_json", S),
    ("order", "Int32"), ("edited_on", S),
)  # fmt: skip

WRITTEN_TABLES = (
    USER_PROFILE,
    EXTERNAL_ID,
    COURSE_ENROLLMENT,
    TAG,
    TAXONOMY,
    OBJECT_TAG,
    COURSE_OVERVIEWS,
    COURSE_BLOCKS,
)
EVENT_SINK_TABLES = frozenset(table.name for table in WRITTEN_TABLES)
