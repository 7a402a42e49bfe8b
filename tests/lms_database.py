"""
An LMS database in a real MariaDB: the platform's tables (tests/fixtures/lms/schema.sql),
a few thousand learners with profiles, xAPI external ids (not all of them: new learners get
theirs at their first event), enrollments, courses and tags; the backfill's account may only
read, the LMS's may write.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from demo.seed import FIXTURE_COURSES

SCHEMA = Path(__file__).parent / "fixtures" / "lms" / "schema.sql"
DATABASE = "edxapp"
READER = ("backfill", "reader-secret")  # SELECT only: a read replica's account
WRITER = ("lms", "writer-secret")  # the LMS's own account, on the primary
EXTERNAL_ID_TYPES = ("xapi", "caliper", "lti", "mb_coaching")
DEMO_COURSE_KEY = "course-v1:OpenedX+DemoX+DemoCourse"
# The tables the backfill reads: their checksums must not change.
PLATFORM_TABLES = (
    "auth_user", "auth_userprofile", "external_user_ids_externalidtype", "external_user_ids_externalid",
    "course_overviews_courseoverview", "student_courseenrollment", "oel_tagging_taxonomy", "oel_tagging_tag",
    "oel_tagging_objecttag",
)  # fmt: skip


@dataclass
class LmsData:
    users: list[tuple[int, str]]
    xapi_ids: dict[int, uuid.UUID]  # user id -> xAPI external id
    without_xapi_id: set[int] = field(default_factory=set)
    enrollments: int = 0


def database_url(port: int, account: tuple[str, str]) -> str:
    return f"mysql://{account[0]}:{account[1]}@127.0.0.1:{port}/{DATABASE}"


def load_lms(connection, learners: int = 3000, without_id_every: int = 40, seed: int = 11) -> LmsData:
    rng = random.Random(seed)
    cursor = connection.cursor()
    cursor.execute(f"CREATE DATABASE {DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    cursor.execute(f"USE {DATABASE}")
    ddl = "\n".join(line for line in SCHEMA.read_text().splitlines() if not line.startswith("--"))
    for statement in ddl.split(";"):
        if statement.strip():
            cursor.execute(statement)
    now = datetime(2026, 1, 5, 9, 30, tzinfo=UTC).replace(tzinfo=None)
    users = [(user_id, f"learner{user_id}") for user_id in range(1, learners + 1)]
    cursor.executemany(
        "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff, "
        "is_active, date_joined) VALUES (%s, '!', 0, %s, '', '', %s, 0, 1, %s)",
        [(user_id, name, f"{name}@example.com", now) for user_id, name in users],
    )
    countries = ("FR", "US", "IN", "BR", "NG", "DE", None)
    cursor.executemany(
        "INSERT INTO auth_userprofile (user_id, name, meta, courseware, language, location, year_of_birth, gender, "
        "level_of_education, country, city, goals) VALUES (%s, %s, '', 'course.xml', '', '', %s, %s, %s, %s, %s, %s)",
        [
            (user_id, f"Léa Learner {user_id} 😀", rng.choice([None, *range(1960, 2008)]),
             rng.choice([None, "m", "f", "o"]), rng.choice([None, "b", "m", "hs", "p"]), rng.choice(countries),
             rng.choice([None, "Lyon", "Lagos"]), rng.choice([None, "Learn", ""]))
            for user_id, _ in users
        ],
    )  # fmt: skip
    cursor.executemany(
        "INSERT INTO external_user_ids_externalidtype (id, created, modified, name, description) "
        "VALUES (%s, %s, %s, %s, '')",
        [(index, now, now, name) for index, name in enumerate(EXTERNAL_ID_TYPES, start=1)],
    )
    data = LmsData(users, {})
    for user_id, _ in users:
        if user_id % without_id_every == 0:  # joined recently: no event yet, so no id yet
            data.without_xapi_id.add(user_id)
        else:
            data.xapi_ids[user_id] = uuid.UUID(int=rng.getrandbits(128), version=4)
    cursor.executemany(
        "INSERT INTO external_user_ids_externalid (created, modified, external_user_id, external_id_type_id, user_id) "
        "VALUES (%s, %s, %s, 1, %s)",
        [(now, now, external_id.hex, user_id) for user_id, external_id in data.xapi_ids.items()],
    )
    courses = {**FIXTURE_COURSES, DEMO_COURSE_KEY: "Open edX Demo Course"}
    cursor.executemany(
        "INSERT INTO course_overviews_courseoverview (created, modified, version, id, _location, org, display_name, "
        "display_number_with_default, display_org_with_default, start, banner_image_url, course_image_url, "
        "certificates_show_before_end, cert_html_view_enabled, has_any_active_web_certificate, cert_name_short, "
        "cert_name_long, lowest_passing_grade, mobile_available, visible_to_staff_only, _pre_requisite_courses_json, "
        "invitation_only, self_paced, eligible_for_financial_aid, enable_proctored_exams, allow_proctoring_opt_out, "
        "entrance_exam_enabled, entrance_exam_id, entrance_exam_minimum_score_pct, "
        "force_on_flexible_peer_openassessments) VALUES (%s, %s, 19, %s, %s, %s, %s, %s, %s, %s, '', '', 0, 1, 0, "
        "'', '', 0.50, 1, 0, '[]', 0, %s, 1, 0, 0, 0, '', 0.65, 0)",
        [
            (now, now, key, key.replace("course-v1:", "block-v1:") + "+type@course+block@course",
             key.split(":")[1].split("+")[0], name, key.split("+")[1], key.split(":")[1].split("+")[0],
             datetime(2020, 1, 1), key == DEMO_COURSE_KEY)
            for key, name in courses.items()
        ],
    )  # fmt: skip
    enrollments = [
        (key, now, rng.random() > 0.1, rng.choice(["audit", "verified", "honor"]), user_id)
        for user_id, _ in users
        for key in rng.sample(sorted(courses), rng.randint(0, 2))
    ]
    cursor.executemany(
        "INSERT INTO student_courseenrollment (course_id, created, is_active, mode, user_id) "
        "VALUES (%s, %s, %s, %s, %s)",
        enrollments,
    )
    data.enrollments = len(enrollments)
    cursor.execute(
        "INSERT INTO oel_tagging_taxonomy (id, name, description, enabled, allow_multiple, allow_free_text, "
        "visible_to_authors, export_id) VALUES (1, 'Subjects', '', 1, 1, 0, 1, 'subjects')"
    )
    cursor.execute("INSERT INTO oel_tagging_tag (id, value, taxonomy_id) VALUES (1, 'Science', 1)")
    cursor.execute("INSERT INTO oel_tagging_tag (id, value, parent_id, taxonomy_id) VALUES (2, 'Biology', 1, 1)")
    cursor.executemany(
        "INSERT INTO oel_tagging_objecttag (object_id, _export_id, _value, tag_id, taxonomy_id) "
        "VALUES (%s, 'subjects', %s, %s, 1)",
        [(DEMO_COURSE_KEY, "Biology", 2), ("course-v1:edX+DemoX+Demo_Course", "Science", 1)],
    )
    for (name, password), grant in ((READER, "SELECT"), (WRITER, "ALL PRIVILEGES")):
        cursor.execute(f"CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'")
        cursor.execute(f"GRANT {grant} ON {DATABASE}.* TO '{name}'@'%'")
    connection.commit()
    return data


def checksums(server) -> dict[str, int]:
    """
    The platform tables' checksums now, on a connection of its own: a connection kept open
    without committing reads InnoDB's snapshot of when it began, blind to later writes.
    """
    connection = server.root_connect()
    try:
        cursor = connection.cursor()
        cursor.execute(f"CHECKSUM TABLE {', '.join(f'{DATABASE}.{table}' for table in PLATFORM_TABLES)}")
        return dict(cursor.fetchall())
    finally:
        connection.close()


def xapi_ids_in(connection) -> dict[int, uuid.UUID]:
    cursor = connection.cursor()
    cursor.execute(f"SELECT user_id, external_user_id FROM {DATABASE}.external_user_ids_externalid")
    return {user_id: uuid.UUID(hex_id) for user_id, hex_id in cursor.fetchall()}
