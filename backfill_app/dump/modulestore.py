"""
Inside the CMS: each course's published tree from the modulestore, in the shape the OLX
reader gives (OlxCourse/OlxBlock), so one row builder serves both. The traversal is
platform-plugin-aspects': the course tree depth first, then the detached blocks.

Not exercised by this project's tests, which run without edx-platform; the OLX path is.
"""

from __future__ import annotations

from collections.abc import Iterator

from backfill_app.dump.olx import OlxBlock, OlxCourse, UnreadableCourse
from backfill_app.dump.platform_models import platform_model

PUBLISHED_ONLY = "rev-opt-published-only"


def modulestore_available() -> bool:
    try:
        import xmodule.modulestore.django  # noqa: F401
    except ImportError:
        return False
    return True


def _as_block(item, detached_types) -> OlxBlock:
    block_type = item.scope_ids.block_type
    attributes = {
        "display_name": item.display_name_with_default,
        "edited_on": str(getattr(item, "edited_on", "")),
    }
    if block_type == "video":
        for name in ("start_time", "end_time"):
            value = getattr(item, name, None)
            attributes[name] = str(value) if value else ""
    block = OlxBlock(
        block_type,
        item.location.block_id,
        attributes,
        graded=bool(getattr(item, "graded", False)),
        completion=str(getattr(item, "completion_mode", "") or ""),
    )
    if block_type not in detached_types:
        block.children = [_as_block(child, detached_types) for child in item.get_children()]
    return block


def modulestore_courses(course_keys: list[str]) -> Iterator[OlxCourse | UnreadableCourse]:
    """The courses' published trees; a course the modulestore fails on is set aside, not the page."""
    from xmodule.modulestore.django import modulestore

    store = modulestore()
    overviews = {str(o.id): o for o in platform_model("course_overviews").objects.filter(id__in=course_keys)}
    for key in course_keys:
        if key not in overviews:
            continue
        try:
            course = _published_course(store, key, overviews[key])
        except Exception as exc:  # one course's broken tree: that course only
            yield UnreadableCourse(key, f"{type(exc).__name__}: {exc}")
            continue
        if course is not None:
            yield course


def _published_course(store, key: str, overview) -> OlxCourse | None:
    from opaque_keys.edx.keys import CourseKey
    from xmodule.modulestore.store_utilities import DETACHED_XBLOCK_TYPES

    course_key = CourseKey.from_string(key)
    course_block = store.get_course(course_key, revision=PUBLISHED_ONLY)
    if course_block is None:
        return None
    root = _as_block(course_block, DETACHED_XBLOCK_TYPES)
    root.url_name = "course"
    detached = [
        _as_block(item, DETACHED_XBLOCK_TYPES)
        for item in store.get_items(course_key, revision=PUBLISHED_ONLY)
        if item.scope_ids.block_type in DETACHED_XBLOCK_TYPES
    ]
    return OlxCourse(
        org=str(course_key.org),
        course=str(course_key.course),
        run=str(course_key.run),
        root=root,
        detached=detached,
        modified=overview.modified,
        created=overview.created,
        lowest_passing_grade=float(getattr(overview, "lowest_passing_grade", 0.0) or 0.0),
        about={},
        overview=overview,
    )


def modulestore_course_keys() -> list[str]:
    return [str(key) for key in platform_model("course_overviews").objects.order_by("id").values_list("id", flat=True)]
