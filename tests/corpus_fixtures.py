"""A rotated tracking-log corpus with known faults, and ERB's own statements for its valid lines."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.test import override_settings
from event_routing_backends import helpers as erb_helpers
from event_routing_backends.management.commands.helpers.event_log_parser import parse_json_event
from event_routing_backends.processors.xapi.transformer_processor import XApiProcessor

from demo.corpus import sample_records, tutor_line, write_rotated_logs
from demo.seed import seed_courses, seed_users


@dataclass
class Corpus:
    folder: Path
    valid_lines: list[str] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)  # line text -> reason we must report

    def erb_statements(self) -> dict[str, dict]:
        """
        What the live pipeline makes of the valid lines, by statement id: ERB's own parser,
        its allow-list of xAPI events, then its xAPI processor.
        """
        # ERB's lookups are lru_cached for the whole process; the database is new in each test.
        erb_helpers.get_anonymous_user_id.cache_clear()
        erb_helpers.get_course_from_id.cache_clear()
        processor = XApiProcessor()
        allowed = set(settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS)
        statements = {}
        with override_settings(XAPI_EVENT_LOGGING_ENABLED=False):
            for line in self.valid_lines:
                event = parse_json_event(line)
                if event["name"] not in allowed:
                    continue
                for statement in processor.transform_event(event) or []:
                    statements[statement["id"]] = statement
        return statements


def build_corpus(root: Path, days: int = 3, events_per_day: int = 40, with_faults: bool = True) -> Corpus:
    """Must run with database access: it seeds the users and courses the events refer to."""
    users = seed_users(25)
    seed_courses()
    corpus = Corpus(folder=root / "logs")
    records = list(sample_records(users, datetime(2024, 3, 1, tzinfo=UTC), days, events_per_day))
    by_day: dict[int, list[str]] = {day: [] for day in range(days)}
    for index, record in enumerate(records):
        line = tutor_line(record)
        by_day[index * days // len(records)].append(line)
        corpus.valid_lines.append(line)

    def fault(day: int, line: str, reason: str) -> None:
        by_day[day].append(line)
        corpus.faults[line] = reason

    if not with_faults:
        write_rotated_logs(by_day.items(), corpus.folder, days)
        return corpus
    template = json.loads(corpus.valid_lines[0].split(" - ", 1)[1])
    fault(0, corpus.valid_lines[1][:-40], "truncated_line")
    fault(0, corpus.valid_lines[2].replace('", "', '" "', 1), "bad_json")
    fault(1, "2024-03-02 10:00:00,000 INFO 7 [tracking] [user 3] [ip 1.2.3.4] logger.py:41 - not json", "not_json")
    unknown_user = dict(template, context=dict(template["context"], user_id=987654), time="2024-03-02T11:00:00+00:00")
    unknown_user = json.loads(json.dumps(unknown_user).replace('"user_id": ', '"user_id": 987654, "x": '))
    fault(1, json.dumps(unknown_user), "unknown_user")
    bad_course = dict(template, context=dict(template["context"], course_id="course-v1-broken:edX+Demo"))
    bad_course["time"] = "2024-03-02T12:00:00+00:00"
    fault(2, json.dumps(bad_course), "bad_course_id")
    # The course is looked up by context.course_id: a well-formed key of no course.
    unknown_course = dict(template, context=dict(template["context"], course_id="course-v1:Gone+C1+2020"))
    unknown_course["time"] = "2024-03-02T13:00:00+00:00"
    fault(2, json.dumps(unknown_course), "unknown_course")
    no_event = {key: value for key, value in template.items() if key != "event"}
    fault(2, json.dumps(no_event), "no_event")
    by_day[1].append("")  # a blank line must not cost the next event
    write_rotated_logs(by_day.items(), corpus.folder, days)
    return corpus


def write_corpus(folder: Path, days: int, events_per_day: int) -> None:
    from datetime import UTC, datetime

    users = [(user_id, f"learner{user_id}") for user_id in range(1, 41)]
    by_day: dict[int, list[str]] = {day: [] for day in range(days)}
    for index, record in enumerate(sample_records(users, datetime(2024, 5, 1, tzinfo=UTC), days, events_per_day)):
        by_day[index // events_per_day].append(tutor_line(record))
    write_rotated_logs(by_day.items(), folder, days)
