"""
The tracking-log lines every ERB release is given, and the platform data they refer to,
built from the fixtures the tests already use: ERB's own fixture events
(``tests/fixtures/erb/current``, the ones the live pipeline turns into statements:
``demo.corpus.usable_templates``), re-targeted to learners as ``demo.corpus`` does, the
courses of ``demo.seed.FIXTURE_COURSES``, written as Tutor's LMS writes a line.

Three kinds of lines (``kind`` in the index):

- ``learner``: each template event, once for each of two learners, the learner acting;
- ``staff_acted``: an event about a learner (``event.user_id``) emitted in a staff member's
  request (``context.user_id`` and the top-level ``username`` are the staff's): an enrollment
  made from the instructor dashboard, a grade computed during an instructor's rescore;
- ``non_ascii``: ``problem_check`` (server) with the learner's answers in non-ASCII text.

A tracking-log line always carries the requesting user's ``username`` at the top level
(the LMS's legacy field mapping); ERB's fixtures in the processed shape lack it, so it is
added (the acting user's) where missing.
"""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta

from demo.corpus import as_log_record, retarget, tutor_line, usable_templates

LMS_ROOT_URL = "http://localhost:18000"  # tests/settings.py's BACKFILL_LMS_ROOT_URL
LEARNERS = [(user_id, f"learner{user_id}") for user_id in range(1, 9)]  # demo.seed.seed_users' names
STAFF = (101, "staff")  # enrolls learners from the instructor dashboard
INSTRUCTOR = (102, "instructor")  # rescored a problem: grades computed in their request
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

# Events about a learner that a staff member's request can emit (ERB transforms them all).
STAFF_ACTED = {
    "edx.course.enrollment.activated": STAFF,
    "edx.course.enrollment.deactivated": STAFF,
    "edx.course.enrollment.mode_changed": STAFF,
    "edx.completion.block_completion.changed": INSTRUCTOR,
    "edx.grades.subsection.grade_calculated": INSTRUCTOR,
    "edx.grades.course.grade_calculated": INSTRUCTOR,
    "edx.course.grade.passed.first_time": INSTRUCTOR,
    "edx.course.grade.now_passed": INSTRUCTOR,
    "edx.course.grade.now_failed": INSTRUCTOR,
}
# Answers a learner may type or pick: accents, a non-Latin script, an emoji (outside the BMP).
NON_ASCII_ANSWERS = ["crème brûlée", "Zürich", "naïve café", "日本語の答え", "Ελληνικά", "smile 😀"]


def external_id(user_id: int) -> str:
    """A fixed xAPI external id per user (the platform would draw a uuid4 once): the same in every release."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{LMS_ROOT_URL}/older-erb-fixtures/user/{user_id}"))


def platform_data(courses: dict[str, str]) -> dict:
    users = [*LEARNERS, STAFF, INSTRUCTOR]
    return {
        "lms_root_url": LMS_ROOT_URL,
        "users": [
            {"id": user_id, "username": name, "email": f"{name}@example.com", "xapi_external_id": external_id(user_id)}
            for user_id, name in users
        ],
        "courses": courses,
    }


def payload(record: dict) -> dict:
    value = record.get("event")
    return value if isinstance(value, dict) else {}


def learner_line(template: dict, learner: tuple[int, str]) -> dict:
    record = as_log_record(retarget(template, *learner))
    record.setdefault("username", learner[1])
    return record


def staff_acted_line(template: dict, learner: tuple[int, str], staff: tuple[int, str]) -> dict:
    """The learner in the event's payload; the staff member in the request's fields."""
    record = as_log_record(retarget(template, *learner))
    record["username"] = staff[1]
    context = record.setdefault("context", {})
    context["user_id"] = staff[0]
    if "username" in context:
        context["username"] = staff[1]
    return record


def non_ascii_line(template: dict, learner: tuple[int, str]) -> dict | None:
    """The learner's answers (``submission.*.answer``) in non-ASCII text; None if the event holds none."""
    record = learner_line(template, learner)
    submission = payload(record).get("submission")
    if not isinstance(submission, dict):
        return None
    answers = iter(NON_ASCII_ANSWERS * 4)
    for question in submission.values():
        answer = question.get("answer") if isinstance(question, dict) else None
        if isinstance(answer, list):
            question["answer"] = [next(answers) for _ in answer]
        elif isinstance(answer, str):
            question["answer"] = next(answers)
    return record


def build(allowed_events: set[str]) -> list[tuple[dict, dict]]:
    """(index entry, log record) for every line, in time order, deterministic."""
    templates = {name: event for name, event in usable_templates().items() if event["name"] in allowed_events}
    entries: list[tuple[dict, dict]] = []

    def add(kind: str, template: str, record: dict, actor: tuple[int, str], learner: tuple[int, str]) -> None:
        entries.append(
            (
                {
                    "kind": kind,
                    "template": template,
                    "event_name": record["name"],
                    "acting_user_id": actor[0],
                    "learner_user_id": learner[0],
                },
                copy.deepcopy(record),
            )
        )

    for number, (name, template) in enumerate(templates.items()):
        for learner in (LEARNERS[number % len(LEARNERS)], LEARNERS[(number + 3) % len(LEARNERS)]):
            add("learner", name, learner_line(template, learner), learner, learner)
    for number, (name, template) in enumerate(templates.items()):
        staff = STAFF_ACTED.get(template["name"])
        learner = LEARNERS[(number + 5) % len(LEARNERS)]
        if staff and payload(as_log_record(template)).get("user_id"):
            add("staff_acted", name, staff_acted_line(template, learner, staff), staff, learner)
    for number, (name, template) in enumerate(templates.items()):
        learner = LEARNERS[(number + 6) % len(LEARNERS)]
        is_server_check = template["name"] == "problem_check" and "(server" in name
        record = non_ascii_line(template, learner) if is_server_check else None
        if record is not None:
            add("non_ascii", name, record, learner, learner)
    for number, (entry, record) in enumerate(entries):
        entry["line"] = number + 1
        record["time"] = (START + timedelta(seconds=97 * number, microseconds=1371 * number)).isoformat()
    return entries


def write(entries: list[tuple[dict, dict]]) -> tuple[str, str]:
    """The log's text (Tutor's format, one line per entry) and the index's JSON text."""
    log = "".join(tutor_line(record) + "\n" for _, record in entries)
    index = "".join(json.dumps(entry) + "\n" for entry, _ in entries)
    return log, index
