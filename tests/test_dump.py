"""dump_data_to_clickhouse into the embedded ClickHouse: the Open edX demo course, users, enrollments, tags."""

from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from backfill_app.core.errors import DestinationUnavailable
from backfill_app.dump import runner as dump_runner
from backfill_app.standalone.models import (
    CourseEnrollment,
    ExternalId,
    ExternalIdType,
    ObjectTag,
    Tag,
    Taxonomy,
    UserProfile,
)
from tests.commands import failing_with_summary, summary_value, with_summary
from tests.platform_data import DEMO_COURSE, EVENT_SINK_TABLES, make_profiles

DEMO_KEY = "course-v1:OpenedX+DemoX+DemoCourse"


def dump(*args) -> str:
    out = io.StringIO()
    call_command("dump_data_to_clickhouse", *args, "--sleep_time=0", stdout=out)
    return out.getvalue()


def dumped(*args) -> dict:
    """A dump's --summary_json document."""
    return with_summary(dump, *args)[1]


def rows_written(*args) -> dict:
    """The rows a dump wrote, per table, as its --summary_json document counts them."""
    summary = dumped(*args)
    assert (summary["outcome"], summary["exit_code"]) == ("completed", 0)
    return summary["rows_written"]


def dump_setting_aside(*args) -> tuple[dict, str]:
    """A dump that set objects aside: its --summary_json document, and the error it ends with (a failure status)."""
    error, summary = failing_with_summary(dump, *args)
    assert (summary["outcome"], summary["exit_code"], summary["message"]) == ("completed", 1, error)
    return summary, error


@pytest.fixture
def event_sink(clickhouse, db):  # a dump checks the databases it reads before it starts
    for table in EVENT_SINK_TABLES:
        clickhouse.command(f"TRUNCATE TABLE event_sink.{table}")

    def rows(sql):
        return clickhouse.query(sql).result_rows

    return rows


@pytest.fixture
def courses_dir(tmp_path):
    folder = tmp_path / "courses"
    shutil.copytree(DEMO_COURSE, folder / "demo")
    with override_settings(BACKFILL_COURSES_DIR=str(folder)):
        yield folder


def test_the_demo_course_gives_its_overview_and_every_block_in_course_order(courses_dir, event_sink):
    output, summary = with_summary(dump, "--object=course_overviews")
    assert summary["rows_written"] == {"course_blocks": 413, "course_overviews": 1}
    assert summary["objects"] == {
        "read": 1, "written": 1, "skipped_unchanged": 0, "set_aside": 0, "set_aside_by_reason": {},
    }  # fmt: skip
    assert (summary["command"], summary["outcome"], summary["object"], summary["dead_letter_path"]) == (
        "dump_data_to_clickhouse", "completed", "course_overviews", None
    )  # fmt: skip
    assert summary["destination"].startswith("event_sink in the embedded ClickHouse at ")
    assert summary_value(output, "Rows written") == "course_blocks 413, course_overviews 1"  # printed from the same

    (overview,) = event_sink(
        "SELECT org, course_key, display_name, course_start, self_paced FROM event_sink.course_overviews"
    )
    assert overview == ("OpenedX", DEMO_KEY, "Open edX Demo Course", "2020-01-01 00:00:00+00:00", True)

    blocks = event_sink("SELECT location, xblock_data_json, `order` FROM event_sink.course_blocks ORDER BY `order`")
    data = [json.loads(row[1]) | {"location": row[0], "order": row[2]} for row in blocks]
    assert [block["order"] for block in data] == list(range(1, 414))
    per_type = {}
    for block in data:
        per_type[block["block_type"]] = per_type.get(block["block_type"], 0) + 1
    # The OLX's own counts (tests/fixtures/demo-course/README.md, and one file per block).
    assert per_type["chapter"] == 6 and per_type["sequential"] == 17 and per_type["vertical"] == 58
    assert per_type["problem"] == 29 and per_type["video"] == 11 and per_type["html"] == 266
    assert per_type["lti"] == 2 and per_type["library_content"] == 1 and per_type["annotatable"] == 1
    assert data[0]["block_type"] == "course" and data[0]["location"].endswith("type@course+block@course")

    # Course order: chapters in course.xml's order, numbered 1..6; subsections and units restart inside.
    chapter_order = re.findall(r'<chapter url_name="(\w+)"', (DEMO_COURSE / "course" / "DemoCourse.xml").read_text())
    chapters = [block for block in data if block["block_type"] == "chapter"]
    assert [block["location"].rsplit("@", 1)[1] for block in chapters] == chapter_order
    assert [block["section"] for block in chapters] == [1, 2, 3, 4, 5, 6]
    first_chapter_sequentials = [b for b in data if b["block_type"] == "sequential" and b["section"] == 1]
    assert [block["subsection"] for block in first_chapter_sequentials] == [1, 2]
    units = [b for b in data if b["block_type"] == "vertical" and b["section"] == 1 and b["subsection"] == 1]
    assert [block["unit"] for block in units] == list(range(1, len(units) + 1))

    graded_files = {
        path.stem for path in (DEMO_COURSE / "sequential").glob("*.xml") if 'graded="true"' in path.read_text()
    }
    graded_sequentials = {
        b["location"].rsplit("@", 1)[1] for b in data if b["block_type"] == "sequential" and b["graded"]
    }
    assert graded_sequentials == graded_files and len(graded_files) == 3
    # graded is inherited, as in the platform: the problems of a graded subsection are graded.
    graded_sections = {(b["section"], b["subsection"]) for b in data if b["block_type"] == "sequential" and b["graded"]}
    assert all(
        b["graded"] for b in data if b["block_type"] == "problem" and (b["section"], b["subsection"]) in graded_sections
    )
    assert {b["block_type"] for b in data if b["detached"]} == {"about", "course_info"}
    assert all(b["section"] == 0 for b in data if b["detached"])


def olx_tree_in_course_order(folder: Path) -> list[str]:
    """
    The course tree as its files spell it: each definition file's children, depth first, a
    child's own file read when it has one (pointer tags), inline children as they stand.
    """
    order = []

    def walk(block_type, url_name, element=None):
        order.append(f"{block_type}+block@{url_name}")
        definition = folder / block_type / f"{url_name}.xml"
        if element is None or (len(element) == 0 and definition.is_file()):
            element = ElementTree.parse(definition).getroot()
        if block_type in ("course", "chapter", "sequential", "vertical", "library_content"):
            for child in element:
                if child.get("url_name"):
                    walk(child.tag, child.get("url_name"), child)

    walk("course", "DemoCourse")
    return ["course+block@course", *order[1:]]


def test_the_attached_blocks_are_exactly_the_course_tree_and_the_wiki_setting_is_no_block(courses_dir, event_sink):
    dump("--object=course_overviews")

    rows = event_sink("SELECT location, xblock_data_json FROM event_sink.course_blocks ORDER BY `order`")
    attached = [location for location, data in rows if not json.loads(data)["detached"]]
    assert [location.split("type@", 1)[1] for location in attached] == olx_tree_in_course_order(DEMO_COURSE)
    assert not [location for location, _ in rows if location.endswith("block@") or "type@wiki" in location]


def test_textbooks_policies_and_unnamed_inline_blocks_are_read_as_the_platform_imports_them(courses_dir, event_sink):
    demo = courses_dir / "demo"
    course_xml = demo / "course" / "DemoCourse.xml"
    course_xml.write_text(
        course_xml.read_text().replace(
            "</course>", '  <textbook title="Atlas" book_url="https://example.com/atlas/"/>\n</course>'
        )
    )
    first_chapter = re.findall(r'<chapter url_name="(\w+)"', course_xml.read_text())[0]
    policy_path = demo / "policies" / "DemoCourse" / "policy.json"
    policy = json.loads(policy_path.read_text())
    policy[f"chapter/{first_chapter}"] = {"display_name": "Renamed by the policy"}
    policy_path.write_text(json.dumps(policy))
    vertical = next(path for path in sorted((demo / "vertical").glob("*.xml")) if "<html url_name" in path.read_text())
    vertical.write_text(
        vertical.read_text().replace("</vertical>", '  <html display_name="An inline note">Hi</html>\n</vertical>')
    )

    dump("--object=course_overviews")

    names = dict(event_sink("SELECT location, display_name FROM event_sink.course_blocks"))
    assert names[f"{DEMO_KEY.replace('course-v1', 'block-v1')}+type@chapter+block@{first_chapter}"] == (
        "Renamed by the policy"
    )
    # The platform names an unnamed block by its display name, cleaned for a location.
    assert names[f"{DEMO_KEY.replace('course-v1', 'block-v1')}+type@html+block@An_inline_note"] == "An inline note"
    assert not [location for location in names if "textbook" in location or location.endswith("block@")]
    assert len(names) == 414  # the demo course's 413 and the inline note


def test_a_course_export_archive_is_read_like_a_folder(tmp_path, event_sink):
    folder = tmp_path / "archives"
    folder.mkdir()
    with tarfile.open(folder / "demo.tar.gz", "w:gz") as archive:
        archive.add(DEMO_COURSE, arcname="course")
    with override_settings(BACKFILL_COURSES_DIR=str(folder)):
        assert rows_written("--object=course_overviews") == {"course_blocks": 413, "course_overviews": 1}


def test_a_second_dump_writes_nothing_and_force_writes_again_without_visible_duplicates(courses_dir, event_sink):
    dump("--object=course_overviews")
    again = dumped("--object=course_overviews")
    assert again["rows_written"] == {"course_blocks": 0, "course_overviews": 0}
    assert again["objects"]["skipped_unchanged"] == 1
    assert rows_written("--object=course_overviews", "--force") == {"course_blocks": 413, "course_overviews": 1}
    # Aspects' readers keep, per block, the rows of its latest dump: one each.
    latest_rows_per_block = event_sink(
        "SELECT location, count() FROM (SELECT location, time_last_dumped, "
        "max(time_last_dumped) OVER (PARTITION BY location) AS latest FROM event_sink.course_blocks) "
        "WHERE time_last_dumped = latest GROUP BY location"
    )
    assert len(latest_rows_per_block) == 413 and {count for _, count in latest_rows_per_block} == {1}


def test_a_course_is_written_blocks_first_so_a_failed_overview_is_dumped_again(courses_dir, event_sink, monkeypatch):
    real_insert = dump_runner.insert_rows

    def overview_insert_fails(client, database, table, rows):
        if table.name == "course_overviews":
            raise DestinationUnavailable("insert into event_sink.course_overviews failed: injected")
        return real_insert(client, database, table, rows)

    monkeypatch.setattr(dump_runner, "insert_rows", overview_insert_fails)
    error, stopped = failing_with_summary(dump, "--object=course_overviews")
    assert "Rerun the same command" in error
    assert (stopped["outcome"], stopped["exit_code"], stopped["message"]) == ("stopped", 1, error)
    assert stopped["rows_written"] == {"course_blocks": 413} and stopped["objects"]["written"] == 0
    assert event_sink("SELECT count() FROM event_sink.course_overviews") == [(0,)]
    monkeypatch.setattr(dump_runner, "insert_rows", real_insert)
    assert rows_written("--object=course_overviews") == {"course_blocks": 413, "course_overviews": 1}


@pytest.mark.django_db
def test_profiles_are_dumped_once_and_a_changed_profile_alone_again(event_sink):
    make_profiles(30)
    assert rows_written("--object=user_profile", "--batch_size=7") == {"user_profile": 30}
    row = event_sink(
        "SELECT id, user_id, name, username, email, year_of_birth, country FROM event_sink.user_profile WHERE id = 3"
    )
    assert row == [(3, 3, "Learner 3", "learner3", "learner3@example.com", "1990", "FR")]

    assert rows_written("--object=user_profile", "--batch_size=7") == {"user_profile": 0}
    UserProfile.objects.filter(user_id=12).update(city="Lyon")
    changed = dumped("--object=user_profile", "--batch_size=7")
    assert changed["rows_written"] == {"user_profile": 1}
    assert (changed["objects"]["read"], changed["objects"]["skipped_unchanged"]) == (30, 29)


@pytest.mark.django_db
def test_limit_is_exact_and_ids_start_pk_and_skips_select_objects(event_sink):
    make_profiles(25)
    assert rows_written("--object=user_profile", "--limit=7", "--batch_size=5") == {"user_profile": 7}
    selected = ("--object=user_profile", "--force", "--ids", "20", "21", "22", "--ids_to_skip", "21")
    assert rows_written(*selected) == {"user_profile": 2}
    assert rows_written("--object=user_profile", "--start_pk=24") == {"user_profile": 2}
    error, refused = failing_with_summary(dump, "--object=user_profile", "--limit=3", "--force")
    assert error == "--limit cannot be used with --force."
    assert (refused["outcome"], refused["exit_code"], refused["message"]) == ("refused", 1, error)
    assert "rows_written" not in refused  # nothing ran


@pytest.mark.django_db
def test_a_value_that_does_not_fit_its_column_is_named_and_set_aside_never_dropped(event_sink, tmp_path):
    make_profiles(3)
    User = get_user_model()
    UserProfile.objects.create(id=3_000_000_000, user=User.objects.create(id=99, username="big"), name="Too big")
    dead = tmp_path / "dead.jsonl"
    summary, error = dump_setting_aside("--object=user_profile", f"--dead_letter_path={dead}")
    assert error.startswith(f"1 user_profile objects were set aside (written to {dead}")
    assert summary["rows_written"] == {"user_profile": 3}
    assert summary["objects"]["set_aside_by_reason"] == {"bad_id": 1}
    assert summary["dead_letter_path"] == str(dead)
    (entry,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (
        entry["source"] == "user_profile 3000000000"
        and entry["detail"] == "user_profile.id: 3000000000 is not an Int32"
    )


@pytest.mark.django_db
def test_a_profile_the_database_driver_cannot_read_is_set_aside_and_the_others_are_dumped(event_sink, tmp_path):
    make_profiles(5)
    with connection.cursor() as cursor:  # a date no datetime holds, as an old MySQL export leaves it
        cursor.execute("UPDATE auth_userprofile SET profile_image_uploaded_at = '0000-00-00 00:00:00' WHERE id = 3")
    with pytest.raises(ValueError):
        list(UserProfile.objects.all())
    dead = tmp_path / "dead.jsonl"
    summary, error = dump_setting_aside("--object=user_profile", "--batch_size=2", f"--dead_letter_path={dead}")
    assert error.startswith("1 user_profile objects were set aside")
    assert summary["rows_written"] == {"user_profile": 4}
    assert summary["objects"]["set_aside_by_reason"] == {"unreadable_row": 1}
    assert sorted(row[0] for row in event_sink("SELECT id FROM event_sink.user_profile")) == [1, 2, 4, 5]
    (entry,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert (entry["source"], entry["reason"]) == ("user_profile 3", "unreadable_row")
    assert "ValueError" in entry["detail"]


def test_a_broken_course_export_is_set_aside_and_the_other_courses_are_dumped(courses_dir, event_sink, tmp_path):
    broken = courses_dir / "broken"
    shutil.copytree(DEMO_COURSE, broken)
    course_xml = broken / "course.xml"
    course_xml.write_text(course_xml.read_text().replace('course="DemoX"', 'course="BrokenX"'))
    chapter = sorted((broken / "chapter").glob("*.xml"))[0]
    chapter.write_bytes(chapter.read_bytes()[: len(chapter.read_bytes()) // 2])  # cut short, as a failed copy
    dead = tmp_path / "dead.jsonl"
    summary, error = dump_setting_aside("--object=course_overviews", f"--dead_letter_path={dead}")
    assert summary["rows_written"] == {"course_blocks": 413, "course_overviews": 1}
    assert summary["objects"]["read"] == 2 and summary["objects"]["written"] == 1
    assert summary["objects"]["set_aside"] == 1 and summary["objects"]["set_aside_by_reason"] == {
        "unreadable_course": 1
    }
    assert error.startswith(f"1 course_overviews objects were set aside (written to {dead}")
    assert event_sink("SELECT course_key FROM event_sink.course_overviews") == [(DEMO_KEY,)]
    (entry,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert entry["source"] == f"course_overviews {broken}" and entry["reason"] == "unreadable_course"
    assert str(chapter) in entry["detail"] and "not valid OLX XML" in entry["detail"]

    # Mended, the next run dumps it and leaves the demo course alone (unchanged).
    shutil.copy(DEMO_COURSE / "chapter" / chapter.name, chapter)
    mended = dumped("--object=course_overviews")
    assert mended["rows_written"] == {"course_blocks": 413, "course_overviews": 1}
    assert mended["objects"]["skipped_unchanged"] == 1


# What tutor-contrib-aspects renders into the LMS/CMS settings, PII on or off.
TUTOR_ASPECTS_PII_MODELS = ["user_profile", "external_id", "auth_user"]


@pytest.mark.django_db
@override_settings(
    EVENT_SINK_CLICKHOUSE_PII_MODELS=TUTOR_ASPECTS_PII_MODELS,
    EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED=False,
    EVENT_SINK_CLICKHOUSE_EXTERNAL_ID_ENABLED=False,
)
def test_with_tutor_aspects_pii_off_personal_data_is_refused_and_the_setting_to_turn_it_on_is_named(event_sink):
    make_profiles(2)
    for model in ("user_profile", "external_id"):
        error, refused = failing_with_summary(dump, f"--object={model}")
        assert f"{model} holds personal data and its sink is off here" in error
        assert f"EVENT_SINK_CLICKHOUSE_{model.upper()}_ENABLED = True" in error
        assert (refused["outcome"], refused["exit_code"], refused["message"]) == ("refused", 1, error)
    assert event_sink("SELECT count() FROM event_sink.user_profile") == [(0,)]
    assert rows_written("--object=user_profile", "--force_pii") == {"user_profile": 2}
    # Not personal data: dumped whatever the switch.
    assert dumped("--object=course_enrollment")["outcome"] == "completed"


@pytest.mark.django_db
@override_settings(EVENT_SINK_CLICKHOUSE_PII_MODELS=TUTOR_ASPECTS_PII_MODELS)
def test_with_tutor_aspects_pii_on_every_profile_is_dumped(event_sink):
    make_profiles(3)
    with override_settings(EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED=True):
        assert rows_written("--object=user_profile") == {"user_profile": 3}


@pytest.mark.django_db
@override_settings(
    EVENT_SINK_CLICKHOUSE_PII_MODELS=TUTOR_ASPECTS_PII_MODELS, EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED=False
)
def test_the_waffle_flag_of_the_sink_turns_personal_data_on_as_platform_plugin_aspects_reads_it(event_sink):
    from waffle.models import Flag

    make_profiles(2)
    with pytest.raises(CommandError, match="waffle flag event_sink_clickhouse.user_profile.enabled"):
        dump("--object=user_profile")
    Flag.objects.create(name="event_sink_clickhouse.user_profile.enabled", everyone=True)
    assert rows_written("--object=user_profile") == {"user_profile": 2}


@pytest.mark.django_db
def test_external_ids_enrollments_and_tags_are_dumped_with_their_names(event_sink):
    profiles = make_profiles(3)
    xapi = ExternalIdType.objects.get(name="xapi")
    external = ExternalId.objects.create(user=profiles[0].user, external_id_type=xapi)
    CourseEnrollment.objects.create(user=profiles[1].user, course_id=DEMO_KEY, mode="verified")
    taxonomy = Taxonomy.objects.create(name="Subjects")
    science = Tag.objects.create(taxonomy=taxonomy, value="Science")
    biology = Tag.objects.create(taxonomy=taxonomy, parent=science, value="Biology")
    ObjectTag.objects.create(
        object_id=DEMO_KEY, taxonomy=taxonomy, tag=biology, _value="Biology", _export_id="subjects"
    )

    for name in ("external_id", "course_enrollment", "taxonomy", "tag", "object_tag"):
        assert dumped(f"--object={name}")["objects"]["written"] > 0, name
    assert event_sink("SELECT toString(external_user_id), external_id_type, username FROM event_sink.external_id") == [
        (str(external.external_user_id), "xapi", "learner1")
    ]
    assert event_sink("SELECT course_key, is_active, mode, username FROM event_sink.course_enrollment") == [
        (DEMO_KEY, True, "verified", "learner2")
    ]
    assert event_sink("SELECT value, lineage FROM event_sink.tag ORDER BY id") == [
        ("Science", '["Science"]'),
        ("Biology", '["Science", "Biology"]'),
    ]
    assert event_sink("SELECT object_id, lineage FROM event_sink.object_tag") == [(DEMO_KEY, '["Science", "Biology"]')]


@pytest.mark.django_db
def test_retired_users_personal_rows_are_shown_first_and_deleted_only_when_confirmed(event_sink):
    make_profiles(4)
    User = get_user_model()
    User.objects.filter(id=2).update(username="retired__user_7f3a")
    dump("--object=user_profile")
    error, shown = failing_with_summary(dump, "--object=auth_user")
    assert error.startswith("Nothing deleted: pass --confirm_delete")
    assert (shown["outcome"], shown["exit_code"], shown["message"], shown["deleted"]) == ("refused", 1, error, False)
    assert (shown["object"], shown["retired_users"], shown["rows_per_table"]["user_profile"]) == ("auth_user", 1, 1)
    assert event_sink("SELECT count() FROM event_sink.user_profile") == [(4,)]
    output, deleted = with_summary(dump, "--object=auth_user", "--confirm_delete")
    assert "Retired users whose personal data rows would be deleted: 1" in output
    assert "event_sink.user_profile: 1 rows" in output
    assert (deleted["outcome"], deleted["exit_code"], deleted["deleted"], deleted["retired_users"]) == (
        "completed", 0, True, 1
    )  # fmt: skip
    assert event_sink("SELECT user_id FROM event_sink.user_profile ORDER BY user_id") == [(1,), (3,), (4,)]


@override_settings(BACKFILL_COURSES_DIR=None)
def test_without_course_exports_or_a_cms_the_course_source_is_asked_for(event_sink):
    with pytest.raises(CommandError, match="No course source: set BACKFILL_COURSES_DIR"):
        dump("--object=course_overviews")
