"""
What older ERB releases made of the same tracking-log lines as today's (tests/fixtures/older_erb,
made by ``make older-erb-fixtures``: each release in a virtualenv of its own), read from the
committed files: the differences issue #32 measured, and that today's file is what the
backfill makes of those lines here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from event_routing_backends import __version__ as installed_erb
from event_routing_backends.management.commands.helpers.event_log_parser import parse_json_event

from backfill_app.transform.lookups import PlatformLookups
from backfill_app.transform.statements import StatementTransformer
from tests.corpus_fixtures import Corpus
from tests.older_erb import seed_platform

FIXTURES = Path(__file__).parent / "fixtures" / "older_erb"
BUILDER = Path(__file__).parent.parent / "scripts" / "older_erb"
TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
TODAY = MANIFEST["today"]
OLDER = MANIFEST["older"]
# The release since which ERB takes the actor from the event's own user (the learner), not the requester.
ACTOR_FROM_EVENT_SINCE = (9, 3, 8)
# The release since which forum statements carry the thread's title and the discussion.
FORUM_CONTEXT_SINCE = (9, 3, 0)


def version(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split("."))


@cache
def index() -> dict[int, dict]:
    entries = [json.loads(text) for text in (FIXTURES / "lines.jsonl").read_text().splitlines()]
    return {entry["line"]: entry for entry in entries}


@cache
def events() -> dict[int, dict]:
    lines = (FIXTURES / "tracking.log").read_text(encoding="utf-8").splitlines()
    return {number: parse_json_event(line) for number, line in enumerate(lines, start=1)}


@cache
def external_ids() -> dict[int, str]:
    platform = json.loads((FIXTURES / "platform.json").read_text(encoding="utf-8"))
    return {user["id"]: user["xapi_external_id"] for user in platform["users"]}


@cache
def statements(release: str) -> dict[int, list[dict]]:
    """A release's statements by input line, in the order it made them."""
    by_line = defaultdict(list)
    for text in (FIXTURES / f"erb-{release}.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        if record["statement"] is not None:
            assert record["id"] == record["statement"]["id"]
            by_line[record["line"]].append(record["statement"])
    return dict(by_line)


def pairs(release: str):
    """(line, older statement, today's statement): paired by input line and position."""
    older, today = statements(release), statements(TODAY)
    assert older.keys() == today.keys(), "every release makes statements of the same lines"
    for line, made_today in today.items():
        assert len(older[line]) == len(made_today), f"line {line}: as many statements in {release} as today"
        for old, new in zip(older[line], made_today, strict=True):
            yield line, old, new


def content(statement: dict) -> dict:
    """The statement without the transformer-version extension (each release writes its own)."""
    copy = json.loads(json.dumps(statement))
    copy["context"]["extensions"].pop(TRANSFORMER_VERSION)
    return copy


def without(statement: dict, *path: str) -> dict:
    copy = content(statement)
    holder = copy
    for key in path[:-1]:
        holder = holder[key]
    holder.pop(path[-1], None)
    return copy


def actor(statement: dict) -> str:
    return statement["actor"]["account"]["name"]


def payload(line: int) -> dict:
    data = events()[line]["data"]
    return data if isinstance(data, dict) else {}  # a browser problem_check's is URL-encoded text


def staff_acted(line: int) -> bool:
    return index()[line]["kind"] == "staff_acted"


def is_forum_thread_named(line: int) -> bool:
    name = index()[line]["event_name"]
    return name.startswith("edx.forum.thread.") and bool(payload(line).get("title"))


def is_forum_reply_in_discussion(line: int) -> bool:
    name = index()[line]["event_name"]
    discussion = payload(line).get("discussion")
    return name in ("edx.forum.comment.created", "edx.forum.response.created") and bool(
        isinstance(discussion, dict) and discussion.get("id")
    )


def escaped_response(statement: dict) -> str | None:
    """What a release before 9.3.8 writes for a list response holding non-ASCII text, None otherwise."""
    response = statement.get("result", {}).get("response")
    if not isinstance(response, str) or response.isascii():
        return None
    try:
        answers = json.loads(response)
    except ValueError:
        return None
    return json.dumps(answers) if isinstance(answers, list) else None


def test_the_files_are_the_ones_the_build_wrote():
    for release, entry in MANIFEST["releases"].items():
        written = hashlib.sha256((FIXTURES / entry["file"]).read_bytes()).hexdigest()
        assert written == entry["sha256"], f"{entry['file']} changed since {MANIFEST['command']} wrote it"
        assert entry["packages"]["edx-event-routing-backends"] == release
    for release in OLDER:
        assert MANIFEST["releases"][release]["packages"]["Django"].startswith("4.2.")
        pinned = (FIXTURES / "pip-freeze" / f"erb-{release}.txt").read_text().splitlines()
        assert f"edx-event-routing-backends=={release}" in pinned
    assert set(OLDER) == {"8.3.1", "9.0.1", "9.3.2"}


def test_the_input_is_what_the_builder_makes_of_the_fixtures():
    spec = importlib.util.spec_from_file_location("older_erb_input_corpus", BUILDER / "input_corpus.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    log, lines = builder.write(builder.build(set(settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS)))
    assert log == (FIXTURES / "tracking.log").read_text(encoding="utf-8")
    assert lines == (FIXTURES / "lines.jsonl").read_text(encoding="utf-8")
    kinds = {entry["kind"] for entry in index().values()}
    assert kinds == {"learner", "staff_acted", "non_ascii"}


@pytest.mark.parametrize("release", ["8.3.1", "9.0.1"])
def test_forum_statements_before_9_3_lack_the_thread_title_and_the_discussion_under_the_same_id(release):
    assert version(release) < FORUM_CONTEXT_SINCE
    named = in_discussion = 0
    for line, old, new in pairs(release):
        if is_forum_thread_named(line):
            named += 1
            assert old["id"] == new["id"]
            assert new["object"]["definition"]["name"] == {"en": payload(line)["title"]}
            assert "name" not in old["object"]["definition"]
            assert content(old) == without(new, "object", "definition", "name")
        elif is_forum_reply_in_discussion(line):
            in_discussion += 1
            assert old["id"] == new["id"]
            (grouping,) = new["context"]["contextActivities"]["grouping"]
            assert grouping["id"].endswith(f"/api/discussion/v1/threads/{payload(line)['discussion']['id']}")
            assert "grouping" not in old["context"]["contextActivities"]
            assert content(old) == without(new, "context", "contextActivities", "grouping")
    assert named and in_discussion, "the input holds named threads and replies in a discussion"


def test_forum_statements_of_9_3_2_equal_todays():
    forum = [(old, new) for line, old, new in pairs("9.3.2") if index()[line]["event_name"].startswith("edx.forum.")]
    assert forum and all(content(old) == content(new) for old, new in forum)


@pytest.mark.parametrize("release", ["8.3.1", "9.0.1", "9.3.2"])
def test_problem_check_list_responses_in_non_ascii_text_are_escaped_before_9_3_8(release):
    escaped = plain_text = 0
    for line, old, new in pairs(release):
        if index()[line]["event_name"] != "problem_check":
            continue
        response = new.get("result", {}).get("response")
        if escaped_response(new) is not None:
            escaped += 1
            assert old["id"] == new["id"]
            assert old["result"]["response"] == escaped_response(new) != response
            assert old["result"]["response"].isascii()
            assert json.loads(old["result"]["response"]) == json.loads(response)
            expected = content(new)
            expected["result"]["response"] = escaped_response(new)
            assert content(old) == expected
        elif isinstance(response, str) and not response.isascii():
            plain_text += 1  # a single answer is not JSON-encoded: written as it is by every release
            assert content(old) == content(new)
    assert escaped and plain_text


@pytest.mark.parametrize("release", ["8.3.1", "9.0.1", "9.3.2"])
def test_staff_acted_events_get_the_staff_as_actor_and_another_id_before_9_3_8(release):
    assert version(release) < ACTOR_FROM_EVENT_SINCE
    acted = 0
    for line, old, new in pairs(release):
        entry = index()[line]
        if entry["kind"] != "staff_acted":
            continue
        acted += 1
        assert actor(old) == external_ids()[entry["acting_user_id"]]
        assert actor(new) == external_ids()[entry["learner_user_id"]]
        assert old["id"] != new["id"]
        assert {key: value for key, value in content(old).items() if key not in ("id", "actor")} == {
            key: value for key, value in content(new).items() if key not in ("id", "actor")
        }
    names = {entry["event_name"] for entry in index().values() if entry["kind"] == "staff_acted"}
    assert {"edx.course.enrollment.activated", "edx.grades.subsection.grade_calculated"} <= names
    assert {"edx.grades.course.grade_calculated", "edx.course.grade.passed.first_time"} <= names
    assert "edx.completion.block_completion.changed" in names
    assert acted == sum(1 for entry in index().values() if entry["kind"] == "staff_acted")


@pytest.mark.parametrize("release", ["8.3.1", "9.0.1", "9.3.2"])
def test_every_other_statement_is_todays_under_the_same_id(release):
    same = 0
    for line, old, new in pairs(release):
        changed = staff_acted(line) or escaped_response(new) is not None
        if version(release) < FORUM_CONTEXT_SINCE:
            changed = changed or is_forum_thread_named(line) or is_forum_reply_in_discussion(line)
        if not changed:
            same += 1
            assert content(old) == content(new), f"line {line} ({index()[line]['template']})"
            assert old["context"]["extensions"][TRANSFORMER_VERSION] == f"event-routing-backends@{release}"
    assert same > len(index())


@pytest.mark.django_db
@pytest.mark.skipif(installed_erb != TODAY, reason=f"today's file is ERB {TODAY}'s; this venv runs {installed_erb}")
def test_todays_file_is_what_erb_and_the_backfill_make_here():
    seed_platform()
    today = {statement["id"]: statement for made in statements(TODAY).values() for statement in made}
    lines = (FIXTURES / "tracking.log").read_text(encoding="utf-8").splitlines()
    assert Corpus(folder=FIXTURES, valid_lines=lines).erb_statements() == today
    with override_settings(BACKFILL_DIRECT_STATEMENTS=True):
        transformer = StatementTransformer("xapi", verify_sample=0)
    backfilled = {}
    with PlatformLookups().installed():
        for event in map(parse_json_event, lines):
            if transformer.is_supported(event):
                backfilled.update(
                    (made["id"], made) for made in (json.loads(s.json) for s in transformer.transform(event))
                )
    assert backfilled == today
