"""
Tracking logs built from real event shapes: event-routing-backends' own fixtures
(tests/fixtures/erb), re-targeted to other users and times, written as Tutor writes them
and rotated into .gz files as logrotate does.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ERB_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "erb"


def erb_raw_events() -> dict[str, dict]:
    """ERB's raw fixture events by file stem, as ERB's tests feed them to the transformers."""
    return {path.stem: json.loads(path.read_text()) for path in sorted((ERB_FIXTURES / "current").glob("*.json"))}


def erb_expected_statements(transformer_type: str) -> dict[str, object]:
    folder = ERB_FIXTURES / f"expected_{transformer_type}"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def as_log_record(event: dict) -> dict:
    """The tracking-log shape of an event: payload under ``event``, time under ``time``."""
    record = copy.deepcopy(event)
    if "event" not in record and "data" in record:
        record["event"] = record.pop("data")
    if "time" not in record and "timestamp" in record:
        record["time"] = record.pop("timestamp")
    return record


def tutor_line(record: dict) -> str:
    """One line as Tutor's LMS logger writes it."""
    when = datetime.fromisoformat(str(record.get("time") or record.get("timestamp")))
    user = record.get("context", {}).get("user_id") or "None"
    prefix = f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d} INFO 7 [tracking] [user {user}] [ip 172.18.0.1]"
    return f"{prefix} logger.py:41 - {json.dumps(record)}"


def retarget(value, user_id: int, username: str):
    """An event of another learner: every non-empty user_id and username in it is theirs."""
    if isinstance(value, dict):
        return {
            key: user_id
            if key == "user_id" and item not in (None, "")
            else username
            if key == "username" and item not in (None, "")
            else retarget(item, user_id, username)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [retarget(item, user_id, username) for item in value]
    return value


def _sent_live(expected) -> bool:
    """The live xAPI processor sends only statements whose object has an id."""
    statements = expected if isinstance(expected, list) else [expected]
    return all(statement.get("object", {}).get("id") for statement in statements)


def usable_templates(transformer_type: str = "xapi") -> dict[str, dict]:
    """
    Fixture events that the live pipeline turns into statements: not the 'anonymous' one (no
    user), not one without a payload (a log line always has ``event``), not one it drops.
    """
    expected = erb_expected_statements(transformer_type)
    return {
        name: event
        for name, event in erb_raw_events().items()
        if name in expected
        and "anonymous" not in name
        and ("data" in event or "event" in event)
        and _sent_live(expected[name])
    }


def sample_records(users: list[tuple[int, str]], start: datetime, days: int, events_per_day: int, seed: int = 7):
    """Log records spread over ``days`` from ``start``, in time order, deterministic for a seed."""
    rng = random.Random(seed)
    templates = list(usable_templates().values())
    for day in range(days):
        offsets = sorted(rng.uniform(0, 86400) for _ in range(events_per_day))
        for offset in offsets:
            user_id, username = rng.choice(users)
            record = as_log_record(retarget(rng.choice(templates), user_id, username))
            record["time"] = (start + timedelta(days=day, seconds=offset)).isoformat()
            yield record


def write_rotated_logs(lines_by_day: Iterator[tuple[int, list[str]]], folder: Path, days: int) -> list[Path]:
    """
    logrotate's numbered scheme: day 0 (oldest) -> tracking.log.{days-1}.gz ... the day
    before last -> tracking.log.1 (not compressed yet, delaycompress), last day -> tracking.log.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for day, lines in lines_by_day:
        age = days - 1 - day
        if age == 0:
            path = folder / "tracking.log"
        elif age == 1:
            path = folder / "tracking.log.1"
        else:
            path = folder / f"tracking.log.{age}.gz"
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        written.append(path)
    return written


@dataclass(frozen=True)
class ProductionShape:
    """
    What real logs hold besides clean events, as shares of all lines: learners deleted since
    (their lines repeat, from a pool), courses deleted since, anonymous visitors, events
    outside the allow-list (page views, grading), and lines cut short or garbled.
    """

    unknown_users: float = 0.005
    unknown_courses: float = 0.001
    anonymous: float = 0.01
    unsupported: float = 0.05
    malformed: float = 0.0005
    deleted_users: int = 200  # the pool unknown-user lines are drawn from
    deleted_courses: int = 5

    def describe(self) -> str:
        return (
            f"{self.unknown_users:.1%} lines of {self.deleted_users} deleted users, "
            f"{self.unknown_courses:.1%} of {self.deleted_courses} deleted courses, {self.anonymous:.1%} anonymous, "
            f"{self.unsupported:.0%} outside the allow-list, {self.malformed:.2%} malformed"
        )


CLEAN = ProductionShape(unknown_users=0, unknown_courses=0, anonymous=0, unsupported=0, malformed=0)


def erb_log_records(transformer_type: str = "xapi", supported: bool = False) -> list[dict]:
    """
    The parseable lines of ERB's own tracking.log fixture as records; with ``supported``
    False, those whose event is not in the live allow-list (a URL-named server event,
    problem_graded, edx.grades.problem.submitted).
    """
    from django.conf import settings

    setting = {
        "xapi": "EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS",
        "caliper": "EVENT_TRACKING_BACKENDS_ALLOWED_CALIPER_EVENTS",
    }
    allowed = set(getattr(settings, setting[transformer_type]))
    records = []
    for line in (ERB_FIXTURES / "tracking.log").read_text().splitlines():
        try:
            record = json.loads(line.split(" - ", 1)[1])
        except (IndexError, ValueError):
            continue
        if (record.get("name") in allowed) == supported:
            records.append(record)
    return records


def production_lines(
    users: list[tuple[int, str]],
    start: datetime,
    days: int,
    events_per_day: int,
    shape: ProductionShape = ProductionShape(),
    seed: int = 7,
) -> Iterator[tuple[int, str]]:
    """
    (day, Tutor-format line) in time order: the events of :func:`sample_records`, with the
    share of lines given by ``shape`` replaced by what production logs also hold. Deterministic
    for a seed. Deleted users have ids above every real one (and usernames no one has).
    """
    rng = random.Random(seed + 1)
    first_deleted = max(user_id for user_id, _ in users) + 1_000_000
    deleted = [(first_deleted + n, f"deleted{first_deleted + n}") for n in range(shape.deleted_users)]
    gone_courses = [f"Retired+R{n}+2019" for n in range(shape.deleted_courses)]
    anonymous = erb_raw_events()["edx.ui.lms.link_clicked(anonymous_user)"]
    unsupported = erb_log_records(supported=False)
    thresholds = [
        ("unknown_user", shape.unknown_users),
        ("unknown_course", shape.unknown_courses),
        ("anonymous", shape.anonymous),
        ("unsupported", shape.unsupported),
        ("malformed", shape.malformed),
    ]
    for index, record in enumerate(sample_records(users, start, days, events_per_day, seed)):
        day = index // events_per_day
        draw, kind = rng.random(), "clean"
        for name, share in thresholds:
            if draw < share:
                kind = name
                break
            draw -= share
        if kind == "unknown_user":
            user_id, username = rng.choice(deleted)
            record = as_log_record(retarget(record, user_id, username))
        elif kind == "unknown_course":
            # The course's org+course+run everywhere: its id, its blocks' ids, its URLs (a CCX keeps
            # its own "+ccx@N": the key stays well-formed, of a course that no longer exists).
            old_key = "+".join(str(record.get("context", {}).get("course_id", "")).partition(":")[2].split("+")[:3])
            if old_key:
                record = json.loads(json.dumps(record).replace(old_key, rng.choice(gone_courses)))
        elif kind == "anonymous":
            record = dict(as_log_record(anonymous), time=record["time"])
        elif kind == "unsupported":
            record = dict(rng.choice(unsupported), time=record["time"])
        line = tutor_line(record)
        if kind == "malformed":
            line = line[: rng.randrange(40, len(line) - 1)]  # cut short, as by a full disk
        yield day, line
