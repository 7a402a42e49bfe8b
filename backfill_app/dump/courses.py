"""A course -> its course_blocks rows (course order, numbered) and its course_overviews row."""

from __future__ import annotations

import json
from datetime import datetime

from backfill_app.dump.olx import OlxCourse
from backfill_app.dump.rows import text


def _seconds(value) -> float:
    """A video's HH:MM:SS start or end time (an attribute, or a policy's value), in seconds (0.0 when unset)."""
    if not value:
        return 0.0
    try:
        parts = [float(part) for part in str(value).split(":")]
    except ValueError:
        return 0.0
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds


def _olx_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip('"'))
    except ValueError:
        return None


def _olx_bool(value: str | None) -> bool:
    return str(value).lower() == "true"


def course_block_rows(course: OlxCourse) -> list[dict]:
    """As platform-plugin-aspects' XBlockSink: course order, section/subsection/unit numbers."""
    rows = []
    section = subsection = unit = 0
    for order, block in enumerate(course.blocks_in_course_order(), start=1):
        detached = block in course.detached
        data: dict[str, object] = {
            "course": course.course,
            "run": course.run,
            "block_type": block.block_type,
            "detached": 1 if detached else 0,
            "graded": 1 if block.graded else 0,
            "completion_mode": block.completion_mode,
        }
        if block.block_type == "video":
            data["video_start_time"] = _seconds(block.attributes.get("start_time"))
            data["video_end_time"] = _seconds(block.attributes.get("end_time"))
        if detached:
            data.update(section=0, subsection=0, unit=0)
        else:
            if block.block_type == "chapter":
                section, subsection, unit = section + 1, 0, 0
            elif block.block_type == "sequential":
                subsection, unit = subsection + 1, 0
            elif block.block_type == "vertical":
                unit += 1
            data.update(section=section, subsection=subsection, unit=unit)
        data["tags"] = []
        rows.append(
            {
                "org": course.org,
                "course_key": course.course_key,
                "location": course.location(block),
                "display_name": block.display_name,
                "xblock_data_json": json.dumps(data),
                "order": order,
                "edited_on": block.attributes.get("edited_on", ""),
            }
        )
    return rows


def course_overview_row(course: OlxCourse) -> dict:
    """As platform-plugin-aspects' CourseOverviewSerializer."""
    if course.overview is not None:
        return overview_model_row(course.overview)
    attributes: dict = course.root.attributes
    start = _olx_datetime(attributes.get("start"))
    end = _olx_datetime(attributes.get("end"))
    max_enrollments = attributes.get("max_student_enrollments_allowed")
    data: dict[str, object] = {
        "advertised_start": attributes.get("advertised_start") or None,
        "announcement": text(_olx_datetime(attributes.get("announcement"))) or None,
        "lowest_passing_grade": course.lowest_passing_grade,
        "invitation_only": _olx_bool(attributes.get("invitation_only")),
        "max_student_enrollments_allowed": int(max_enrollments) if max_enrollments else None,
        "effort": course.about.get("effort") or None,
        "enable_proctored_exams": _olx_bool(attributes.get("enable_proctored_exams")),
        "entrance_exam_enabled": _olx_bool(course.about.get("entrance_exam_enabled")),
        "external_id": None,
        "language": attributes.get("language", ""),
        "tags": [],
    }
    return {
        "org": course.org,
        "course_key": course.course_key,
        "display_name": course.root.display_name,
        "course_start": str(start) if start else "",
        "course_end": str(end) if end else "",
        "enrollment_start": text(_olx_datetime(attributes.get("enrollment_start"))),
        "enrollment_end": text(_olx_datetime(attributes.get("enrollment_end"))),
        "self_paced": _olx_bool(attributes.get("self_paced")),
        "course_data_json": json.dumps(data),
        "created": text(course.created),
        "modified": text(course.modified),
    }


def overview_model_row(overview) -> dict:
    """The platform's CourseOverview, field for field as CourseOverviewSerializer renders it."""
    data: dict[str, object] = {
        "advertised_start": getattr(overview, "advertised_start", ""),
        "announcement": text(getattr(overview, "announcement", None)) or None,
        "lowest_passing_grade": float(getattr(overview, "lowest_passing_grade", 0.0) or 0.0),
        "invitation_only": getattr(overview, "invitation_only", ""),
        "max_student_enrollments_allowed": getattr(overview, "max_student_enrollments_allowed", None),
        "effort": getattr(overview, "effort", ""),
        "enable_proctored_exams": getattr(overview, "enable_proctored_exams", ""),
        "entrance_exam_enabled": getattr(overview, "entrance_exam_enabled", ""),
        "external_id": getattr(overview, "external_id", ""),
        "language": getattr(overview, "language", ""),
        "tags": [],
    }
    return {
        "org": text(overview.org),
        "course_key": str(overview.id),
        "display_name": text(overview.display_name),
        "course_start": str(overview.start) if overview.start else "",
        "course_end": str(overview.end) if overview.end else "",
        "enrollment_start": text(overview.enrollment_start),
        "enrollment_end": text(overview.enrollment_end),
        "self_paced": bool(overview.self_paced),
        "course_data_json": json.dumps(data, default=text),
        "created": text(overview.created),
        "modified": text(overview.modified),
    }
