"""
Any value in a course export (property-based): the demo course with any JSON value in its
policy.json and any text in its course.xml attributes, or a file cut short anywhere. The dump
ends normally with the course dumped, or ends with a failure status, the course set aside and
named in the dead-letter file: never a traceback, never a course half written.
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.test import override_settings
from hypothesis import event, given
from hypothesis import strategies as st

from tests.commands import summary_value
from tests.fuzzing import examples, json_values
from tests.platform_data import DEMO_COURSE, EVENT_SINK_TABLES

COURSE_SETTINGS = (
    "start", "end", "enrollment_start", "enrollment_end", "announcement", "advertised_start", "display_name",
    "max_student_enrollments_allowed", "invitation_only", "self_paced", "language", "graded",
)  # fmt: skip
# Text an XML attribute can hold: no control characters but tab, line feed and carriage return.
XML_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")) | st.sampled_from("\t\n\r"), max_size=40)


@st.composite
def damaged_exports(draw) -> dict:
    return {
        "policy": draw(st.dictionaries(st.sampled_from(COURSE_SETTINGS), json_values(), max_size=3)),
        "attribute": draw(st.sampled_from(COURSE_SETTINGS)),
        "text": draw(st.none() | XML_TEXT),
        "cut": draw(st.none() | st.tuples(st.sampled_from(["course.xml", "chapter", "policy"]), st.floats(0, 1))),
    }


def _damaged_copy(damage: dict) -> Path:
    root = Path(tempfile.mkdtemp(prefix="courses-", dir=django_settings.BACKFILL_VAR_DIR))
    course = root / "demo"
    shutil.copytree(DEMO_COURSE, course)
    policy_path = course / "policies" / "DemoCourse" / "policy.json"
    policy = json.loads(policy_path.read_text())
    policy["course/DemoCourse"].update(damage["policy"])
    policy_path.write_text(json.dumps(policy))  # NaN, Infinity, lone surrogates as Python writes them
    if damage["text"] is not None:
        root_file = course / "course" / "DemoCourse.xml"
        escaped = damage["text"].replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        root_file.write_text(
            root_file.read_text().replace("<course ", f'<course {damage["attribute"]}="{escaped}" ', 1)
        )
    if damage["cut"] is not None:
        which, share = damage["cut"]
        path = {
            "course.xml": course / "course.xml",
            "chapter": sorted((course / "chapter").glob("*.xml"))[0],
            "policy": policy_path,
        }[which]
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * share)])
    return root


@pytest.fixture
def event_sink_tables(clickhouse, db):
    return clickhouse


def dump_damaged_copy(clickhouse, damage: dict) -> bool:
    """Dump a damaged copy of the demo course and check what became of it; True when it was set aside."""
    for table in EVENT_SINK_TABLES:
        clickhouse.command(f"TRUNCATE TABLE event_sink.{table}")
    out = io.StringIO()
    dead = Path(tempfile.mkdtemp(dir=django_settings.BACKFILL_VAR_DIR)) / "dead.jsonl"
    with override_settings(BACKFILL_COURSES_DIR=str(_damaged_copy(damage))):
        try:
            call_command(
                "dump_data_to_clickhouse", "--object=course_overviews", "--sleep_time=0",
                f"--dead_letter_path={dead}", stdout=out,
            )  # fmt: skip
            set_aside = None
        except CommandError as error:
            set_aside = str(error)
    output = out.getvalue()
    overviews = clickhouse.query("SELECT count() FROM event_sink.course_overviews").result_rows[0][0]
    blocks = clickhouse.query("SELECT count() FROM event_sink.course_blocks").result_rows[0][0]
    if set_aside is None:
        assert (overviews, summary_value(output, "Rows written")) == (1, f"course_blocks {blocks}, course_overviews 1")
        assert blocks > 0
        return False
    assert set_aside.startswith("1 course_overviews objects were set aside")
    assert (overviews, blocks) == (0, 0), "a course set aside is not half written"
    (entry,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert entry["reason"] in ("unreadable_course", "bad_row") and entry["detail"]
    return True


@examples(25)
@given(damage=damaged_exports())
def test_any_value_in_a_course_export_dumps_the_course_or_sets_it_aside(event_sink_tables, damage):
    event("set aside" if dump_damaged_copy(event_sink_tables, damage) else "dumped")


@pytest.mark.parametrize(
    "damage",
    [
        {"policy": {"display_name": "\ud800"}, "attribute": "start", "text": None, "cut": None},
        {"policy": {"start": 5}, "attribute": "start", "text": None, "cut": None},
        {"policy": {}, "attribute": "max_student_enrollments_allowed", "text": "many", "cut": None},
        {"policy": {}, "attribute": "start", "text": None, "cut": ("chapter", 0.5)},
    ],
    ids=["a lone surrogate in a name", "a number for a date", "words for a number", "a chapter cut short"],
)
def test_an_export_found_failing_is_set_aside(event_sink_tables, damage):
    assert dump_damaged_copy(event_sink_tables, damage)
