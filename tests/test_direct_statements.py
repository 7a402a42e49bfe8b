"""
The fast path (backfill_app/transform/direct) against event-routing-backends as shipped: every
ERB fixture event that has an xAPI transformer, and thousands of variants of each (fields
dropped, nulled, zeroed, emptied, retyped, in other scripts; decoy keys; ``event`` as a JSON
string; other time formats), give the same statements (ids and JSON, byte for byte) or the
same refusal.
"""

from __future__ import annotations

import copy
import json

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
from backfill_app.transform.direct.builders import BUILDERS
from backfill_app.transform.lookups import PlatformLookups
from backfill_app.transform.statements import StatementTransformer, TransformFailure
from demo.corpus import as_log_record, erb_raw_events
from demo.seed import seed_courses

ALLOWED = StatementTransformer("xapi").supported_names
# Every fixture of an event ERB has an xAPI transformer for: an operator may allow more names.
FIXTURES = {
    name: event
    for name, event in erb_raw_events().items()
    if event.get("name") in StatementTransformer("xapi").registry.mapping
}
DROP = object()

TIME_FORMATS = [
    "2026-06-01T05:12:33.123456+00:00",
    "2026-06-01T05:12:33.123456Z",
    "2026-06-01T05:12:33Z",
    "2026-06-01T05:12:33.1+00:00",
    "2026-06-01T05:12:33.000000+00:00",
    "2026-06-01T05:12:33.123+05:30",
    "2026-06-01T05:12:33.123-08:00",
    "2026-06-01T05:12:33.1234567+00:00",
    "2026-06-01T05:12:33.123456",
    "2026-06-01 05:12:33.123456+00:00",
    "2026-06-01T05:12:33+0000",
    "2026-06-01",
    "2026-02-30T05:12:33+00:00",
    "2026-06-01T24:00:00+00:00",
    "20260601T051233Z",
    1780291953,
    "",
    None,
]


def _emptied(value):
    return type(value)() if isinstance(value, str | list | dict) else ""


def _retyped(value):
    if isinstance(value, bool):
        return "true"
    if isinstance(value, str):
        return 7
    if isinstance(value, int | float):
        return str(value)
    return "x"


def _other_script(value):
    return f"été ✓ 漢字 «{value}»" if isinstance(value, str) else value


MUTATIONS = {
    "dropped": lambda value: DROP,
    "nulled": lambda value: None,
    "zeroed": lambda value: 0,  # falsy, yet a value ERB keeps
    "emptied": _emptied,
    "retyped": _retyped,
    "other script": _other_script,
}


def _paths(tree: dict, prefix: tuple = ()):
    for key, value in tree.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


def _mutated(record: dict, path: tuple, change) -> dict:
    made = copy.deepcopy(record)
    holder = made
    for key in path[:-1]:
        holder = holder[key]
    value = change(holder[path[-1]])
    if value is DROP:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return made


def variants(event: dict):
    """(what changed, log record) for one fixture event."""
    record = as_log_record(event)
    yield "as logged", record
    for path in _paths(record):
        for kind, change in MUTATIONS.items():
            yield f"{'.'.join(path)} {kind}", _mutated(record, path, change)
    for moment in TIME_FORMATS:
        yield f"time {moment!r}", {**record, "time": moment, "timestamp": moment}
    if isinstance(record.get("event"), dict):
        yield "event as a JSON string", {**record, "event": json.dumps(record["event"])}
    # Keys ERB finds anywhere in the event (session, user_id, submission...) met first elsewhere.
    decoy = {"session": "decoy-session", "user_id": 999999, "submission": {"a": {}}, "module_id": "decoy"}
    yield "decoy keys first", {"aa_decoy": decoy, **record}
    yield "decoy keys last", {**record, "zz_decoy": decoy}
    if isinstance(record.get("event"), dict):
        yield "decoy keys in the payload", {**record, "event": {"decoy": decoy, **record["event"]}}


def outcome(transformer: StatementTransformer, event: dict):
    try:
        return [(statement.id, statement.timestamp, statement.json) for statement in transformer.transform(event)]
    except TransformFailure as failure:
        return ("set aside", failure.reason)


def parsed(record: dict) -> dict | None:
    try:
        return parse_tracking_line(json.dumps(record))
    except BadLine:
        return None


def the_users_of(events: list[dict]) -> None:
    """Learners for every user id and username the fixture events name (ERB's tests mock them)."""
    reader = StatementTransformer("xapi")
    User = get_user_model()
    for event in events:
        key = reader.user_key(event)
        if key is None:
            continue
        if str(key).isdigit():
            User.objects.get_or_create(id=int(key), defaults={"username": f"user{key}"})
        else:
            User.objects.get_or_create(username=key)


@pytest.fixture
def platform(db):
    seed_courses()
    the_users_of([event for event in map(parsed, map(as_log_record, FIXTURES.values())) if event is not None])


def test_every_event_type_of_the_allow_list_has_a_builder_and_a_fixture():
    registry = StatementTransformer("xapi").registry
    assert sorted(name for name in ALLOWED if registry.mapping[name] not in BUILDERS) == []
    fixture_classes = {registry.mapping[event["name"]] for event in FIXTURES.values()}
    assert set(BUILDERS) <= fixture_classes  # every builder is held to at least one real event
    generated = sum(1 for event in FIXTURES.values() for _ in variants(event))
    assert generated > 10_000


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_the_fast_path_makes_erbs_statements_for_every_variant(fixture, platform):
    fast = StatementTransformer("xapi", verify_sample=0)
    with override_settings(BACKFILL_DIRECT_STATEMENTS=False):
        erb = StatementTransformer("xapi")
    assert fast.direct is not None and erb.direct is None
    differences, handed_back = [], []
    with PlatformLookups().installed():  # one set of lookups: the same anonymous ids on both paths
        for change, record in variants(FIXTURES[fixture]):
            event = parsed(record)
            if event is None:
                continue
            ours, erbs = outcome(fast, event), outcome(erb, event)
            if ours != erbs:
                differences.append(f"{change}: ours {ours!r:.300} / ERB {erbs!r:.300}")
            elif fast.last_path == "erb" and isinstance(erbs, list):
                handed_back.append(change)
    assert differences == []
    # What ERB transforms, the fast path writes itself, but for timestamps in rarer formats.
    assert [change for change in handed_back if not change.startswith("time ")] == []


def test_each_fixture_as_logged_takes_the_fast_path_written_or_refused_as_erb_refuses_it(platform):
    fast = StatementTransformer("xapi", verify_sample=0)
    paths, refused = set(), {}
    with PlatformLookups().installed():
        for fixture, event in FIXTURES.items():
            logged = parsed(as_log_record(event))
            if logged is None:
                continue  # a fixture without a payload: no log line has that shape
            made = outcome(fast, logged)
            paths.add(fast.last_path)
            if not isinstance(made, list):
                refused[fixture] = made
    assert paths == {"direct"}
    # The live pipeline sends no statement of a visitor who was not logged in.
    assert refused == {"edx.ui.lms.link_clicked(anonymous_user)": ("set aside", "anonymous_user")}
    assert len(FIXTURES) >= 80


@pytest.mark.parametrize(
    ("settings_changed", "reason"),
    [
        ({"XAPI_AGENT_IFI_TYPE": "mbox"}, "XAPI_AGENT_IFI_TYPE is not external_id"),
        (
            {
                "OPEN_EDX_FILTERS_CONFIG": {
                    "event_routing_backends.processors.xapi.transformer.xapi_transformer.get_actor": {}
                }
            },
            "an openedx filter is configured on ERB's xAPI transformer",
        ),
        ({"BACKFILL_DIRECT_STATEMENTS": False}, "BACKFILL_DIRECT_STATEMENTS is False"),
    ],
)
def test_settings_that_change_erbs_output_turn_the_fast_path_off_and_say_why(settings_changed, reason):
    with override_settings(**settings_changed):
        transformer = StatementTransformer("xapi")
    assert transformer.direct is None and transformer.why_not_direct == reason


def test_caliper_and_an_unverified_erb_release_have_no_fast_path(monkeypatch):
    assert StatementTransformer("caliper").why_not_direct == "statements are Caliper"
    import event_routing_backends

    monkeypatch.setattr(event_routing_backends, "__version__", "11.0.0")  # a release not out yet
    assert StatementTransformer("xapi").why_not_direct == (
        "event-routing-backends 11.0.0 is not a release the fast path was verified against"
    )


def test_a_name_an_operator_registered_to_another_transformer_goes_to_that_transformer(platform, monkeypatch):
    transformer = StatementTransformer("xapi", verify_sample=0)
    original = transformer.registry.mapping["play_video"]

    called = []

    class OperatorsVideoTransformer(original):  # a plugin's own transformer for the name
        def transform(self):
            called.append(self.get_data("name"))
            return super().transform()

    monkeypatch.setitem(transformer.registry.mapping, "play_video", OperatorsVideoTransformer)
    event = parsed(as_log_record(FIXTURES["play_video"]))
    with PlatformLookups().installed():
        transformer.transform(event)
    assert transformer.last_path == "erb" and called == ["play_video"]
