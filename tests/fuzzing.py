"""
Tracking logs that are odd rather than wrong, for the property-based tests: real event shapes
(ERB's fixtures, re-targeted to the test's learners as demo/corpus does) with any JSON value at
any position, keys given twice, events of one learner at one instant, and whole lines of any
bytes; and what ERB's own transformer makes of each line, to hold the backfill to.
"""

from __future__ import annotations

import copy
import json
import os
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from event_routing_backends import helpers as erb_helpers
from event_routing_backends.processors.xapi.registry import XApiTransformersRegistry
from event_routing_backends.processors.xapi.transformer_processor import XApiProcessor
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
from demo.corpus import as_log_record, erb_log_records, retarget, usable_templates

FUZZ_FACTOR = int(os.environ.get("BACKFILL_FUZZ_FACTOR", "1"))
LEARNERS = 8  # seeded learners 1..8, usernames learner1..learner8

# Keys ERB and the backfill read values from: the places a value of the wrong type hurts most.
READ_KEYS = (
    "username", "user_id", "course_id", "time", "timestamp", "name", "event", "data", "context", "org_id",
    "session", "event_source", "id", "module_id", "problem_id", "grade", "max_grade", "currentTime",
    "duration", "new_time", "old_time", "answers", "submission", "enrollment_mode", "mode", "page", "url",
    "weighted_earned", "weighted_possible", "completion", "percent_grade",
)  # fmt: skip


# Stands for an integer of more than 4,300 digits, which Python can parse but not print: written in by hand.
HUGE_NUMBER = "__a number of 4,400 digits__"


def big_numbers() -> st.SearchStrategy:
    return st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**64, 10**30, -1, 0, HUGE_NUMBER])


def long_text() -> st.SearchStrategy:
    """Strings of 1 kB to 100 kB: one character repeated, or a short text repeated."""
    return st.builds(
        lambda piece, times: piece * times, st.text(ANY_CHARACTER, min_size=1, max_size=3), st.integers(300, 33_000)
    )


# Any character, lone surrogates and control characters more often than by chance.
ANY_CHARACTER = st.one_of(
    st.characters(exclude_categories=()),
    st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    st.characters(max_codepoint=0x1F),
)


def json_values() -> st.SearchStrategy:
    """Any JSON value Python's json module writes: NaN and Infinity, lone surrogates, NUL, 64+-bit numbers."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        big_numbers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(ANY_CHARACTER),
        long_text(),
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.text(ANY_CHARACTER, max_size=8), children, max_size=3)
        ),
        max_leaves=6,
    )


USER_VALUES = st.sampled_from(["", "1", "7", " 7", "²", "learner1", "learner3", "nobody", "\ud800", 99, 3.5, True])
COURSE_VALUES = st.sampled_from(["course-v1:testX+XAPI101+2019_T2", "course-v1:Gone+C1+2020", "not a course key"])
TIME_VALUES = st.sampled_from(
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-05:00",
        "0005-06-01T00:00:00+00:00",
        "9999-12-31T23:30:00+00:00",
        "2024-03-01",
        "2024-03-01 08:00:00",
        "yesterday",
    ]  # fmt: skip
)
NUMBER_KEYS = (
    "grade", "max_grade", "currentTime", "duration", "new_time", "old_time", "completion", "percent_grade",
    "weighted_earned", "weighted_possible",
)  # fmt: skip
NUMBER_VALUES = st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 2**70, "3", "x"])
# Values close to what belongs at a key, to reach the code that reads them, not only the type checks.
VALUES_FOR = {
    **dict.fromkeys(("username", "user_id"), USER_VALUES),
    "course_id": COURSE_VALUES,
    **dict.fromkeys(("time", "timestamp"), TIME_VALUES),
    **dict.fromkeys(NUMBER_KEYS, NUMBER_VALUES),
}


def value_for(key) -> st.SearchStrategy:
    near = VALUES_FOR.get(key)
    return st.one_of(near, json_values()) if near is not None else json_values()


def _places(value, path=()):
    """Every dict key of a record, as a path of keys and list indexes, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*path, index))


def _container_at(record, path):
    for step in path[:-1]:
        record = record[step]
    return record


@st.composite
def odd_records(draw, templates: list[dict]) -> dict:
    """A real event with one to three values replaced, removed, or added where ERB reads."""
    record = copy.deepcopy(draw(st.sampled_from(templates)))
    for _ in range(draw(st.integers(1, 3))):
        places = [path for path in _places(record) if not isinstance(path[-1], int)]
        action = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if action == "add" or not places:
            targets = [()] + [path for path in places if isinstance(_container_at(record, (*path, None)), dict)]
            target = draw(st.sampled_from(targets))
            container = record
            for step in target:
                container = container[step]
            if isinstance(container, dict):
                key = draw(st.sampled_from(READ_KEYS))
                container[key] = draw(value_for(key))
            continue
        read = [path for path in places if path[-1] in READ_KEYS]  # where ERB reads, half the time
        path = draw(st.sampled_from(read if read and draw(st.booleans()) else places))
        container = _container_at(record, path)
        if action == "remove":
            del container[path[-1]]
        else:
            container[path[-1]] = draw(value_for(path[-1]))
    return record


def templates_for_learners() -> list[dict]:
    """ERB's fixture events the live pipeline turns into statements, of learners 1..LEARNERS, on one day."""
    rng = random.Random(3)
    made = []
    for _, event in sorted(usable_templates().items()):
        user_id = rng.randint(1, LEARNERS)
        record = as_log_record(retarget(event, user_id, f"learner{user_id}"))
        record["time"] = datetime(2024, 3, 1, 8, rng.randint(0, 59), rng.randint(0, 59), tzinfo=UTC).isoformat()
        made.append(record)
    return made


def other_records() -> list[dict]:
    """ERB's own tracking.log lines outside the allow-list: skipped, never set aside."""
    return erb_log_records(supported=False)


@st.composite
def same_instant_twin(draw, templates: list[dict]) -> tuple[dict, dict]:
    """Two different events of one learner at one instant with one verb: ERB gives them one statement id."""
    enrollments = [t for t in templates if t.get("name") == "edx.course.enrollment.activated"]
    first = copy.deepcopy(draw(st.sampled_from(enrollments or templates)))
    second = copy.deepcopy(first)
    second["context"] = dict(second.get("context") or {}, course_id="course-v1:testX+XAPI101+2019_T2")
    if isinstance(second.get("event"), dict):
        second["event"] = dict(second["event"], course_id="course-v1:testX+XAPI101+2019_T2")
    return first, second


TUTOR_PREFIX = "2024-03-01 08:00:00,000 INFO 7 [tracking] [user 1] [ip 172.18.0.1] logger.py:41 - "


def _written(record: dict, framing: str, twice_key: str | None) -> bytes:
    text = json.dumps(record).replace(json.dumps(HUGE_NUMBER), "9" * 4400)  # NaN, Infinity, \ud800 as Python writes
    if twice_key is not None and twice_key in record:  # the key given twice: the last one counts, as in ERB
        text = "{" + json.dumps(twice_key) + ": " + json.dumps("first of two") + ", " + text[1:]
    return ((TUTOR_PREFIX if framing == "tutor" else "") + text).encode("utf-8")


@st.composite
def tracking_logs(draw, templates: list[dict], others: list[dict], max_lines: int = 6) -> list[bytes]:
    """The lines of one log, as bytes without line breaks."""
    lines: list[bytes] = []
    for _ in range(draw(st.integers(1, max_lines))):
        kind = draw(st.sampled_from(["odd", "odd", "odd", "clean", "other", "bytes", "twice", "twin"]))
        framing = draw(st.sampled_from(["tutor", "bare"]))
        if kind == "bytes":
            raw = draw(st.binary(max_size=200))
            lines.append(raw.replace(b"\n", b" ").replace(b"\r", b" "))
            continue
        if kind == "twice" and lines:
            lines.append(draw(st.sampled_from(lines)))
            continue
        if kind == "twin":
            for record in draw(same_instant_twin(templates)):
                lines.append(_written(record, framing, None))
            continue
        source = others if kind == "other" else templates
        record = draw(odd_records(templates)) if kind == "odd" else copy.deepcopy(draw(st.sampled_from(source)))
        twice_key = draw(st.sampled_from([None, None, None, "username", "name", "event", "time"]))
        lines.append(_written(record, framing, twice_key))
    return lines


def examples(count: int) -> hypothesis_settings:
    """
    ``count`` examples in make test, the same ones every run (CI lands or not on the code, not
    on the draw); BACKFILL_FUZZ_FACTOR times as many under make fuzz, new ones each run.
    """
    return hypothesis_settings(
        max_examples=count * FUZZ_FACTOR,
        derandomize=FUZZ_FACTOR == 1,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# -- what ERB's transformer makes of each line --------------------------------------------

# Where the backfill may set aside a line that ERB's transformer turns into statements.
DELIBERATE_REFUSALS = {
    "duplicate_statement_id": "another event of the same file made a different statement with its id first",
    "statement_not_json": "ERB's statement holds NaN or Infinity",
    "bad_timestamp": "ERB's statement time is outside years 1-9999 once in UTC",
    "no_timestamp": "ERB's statement has no time (an LRS would stamp it on arrival)",
}


@dataclass
class ExpectedRun:
    """What a run over the lines must give: rows by id, and for each line what becomes of it."""

    rows: dict[str, dict] = field(default_factory=dict)  # statement id -> statement
    # line number -> "written", "unsupported", "set aside" (any reason) or the deliberate reason expected
    fate: dict[int, str] = field(default_factory=dict)

    def count(self, *fates: str) -> int:
        return sum(fate in fates for fate in self.fate.values())


def _not_json(statement: dict) -> bool:
    try:
        json.dumps(statement, allow_nan=False)
    except ValueError:
        return True
    return False


def _outside_years(statement: dict) -> bool:
    try:
        datetime.fromisoformat(statement["timestamp"]).astimezone(UTC)
    except OverflowError:
        return True
    except (ValueError, TypeError, KeyError):
        return False
    return False


def erb_outcome(text: str):
    """ERB's transformer on the line as the backfill parses it: its statements, "unsupported", or None."""
    try:
        event = parse_tracking_line(text)
    except BadLine:
        return None
    name = event.get("name")
    allowed = settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS
    if not isinstance(name, str) or name not in allowed or name not in XApiTransformersRegistry.mapping:
        return "unsupported"
    erb_helpers.get_anonymous_user_id.cache_clear()
    erb_helpers.get_course_from_id.cache_clear()
    try:
        return XApiProcessor().transform_event(event) or None
    except Exception:  # ERB makes nothing of it: the backfill must set it aside
        return None


def expected_run(lines: list[bytes]) -> ExpectedRun:
    """One file's lines, in order: the first statement of each id is kept, as the backfill's rule says."""
    expected = ExpectedRun()
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # a blank line is no line to the reader (its number is still counted)
        outcome = erb_outcome(raw.decode("utf-8", errors="replace"))
        if outcome is None or outcome == "unsupported":
            fate = outcome or "set aside"
        elif any(_not_json(statement) for statement in outcome):
            fate = "statement_not_json"
        elif any("timestamp" not in statement for statement in outcome):
            fate = "no_timestamp"
        elif any(_outside_years(statement) for statement in outcome):
            fate = "bad_timestamp"
        elif any(expected.rows.get(statement["id"], statement) != statement for statement in outcome):
            fate = "duplicate_statement_id"
        else:
            for statement in outcome:
                expected.rows.setdefault(statement["id"], statement)
            fate = "written"
        expected.fate[number] = fate
    return expected
