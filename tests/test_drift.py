"""
This run's statements against what an older ERB release made live of the same events
(tests/fixtures/older_erb, made by those releases): classified by id, then by event.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backfill_app.sinks.drift import (
    OTHER_ID,
    STALE,
    TRANSFORMER_VERSION,
    behind,
    compare,
    compare_narrowed,
    digest_of,
    made_later,
    release_of,
)
from tests.fuzzing import examples

OLDER_ERB = Path(__file__).parent / "fixtures" / "older_erb"
TODAY = "10.1.0"


def statements_of(release: str) -> list[dict]:
    with open(OLDER_ERB / f"erb-{release}.jsonl", encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def as_ours(release: str) -> list[tuple[str, str]]:
    return [(entry["id"], json.dumps(entry["statement"])) for entry in statements_of(release)]


def as_held(release: str) -> dict[str, str]:
    return {entry["id"]: json.dumps(entry["statement"]) for entry in statements_of(release)}


def test_todays_statements_held_as_they_are_are_all_present():
    comparison = compare(as_ours(TODAY), as_held(TODAY))
    assert comparison.drifted == []
    assert len(comparison.present) == len(statements_of(TODAY))


@pytest.mark.parametrize("release", ["8.3.1", "9.0.1", "9.3.2"])
def test_every_event_an_older_erb_made_is_either_the_same_stale_or_held_under_another_id(release):
    today, older = statements_of(TODAY), statements_of(release)
    comparison = compare(as_ours(TODAY), as_held(release))

    # Nothing would be written: every event of these lines is held, in one shape or another.
    assert comparison.not_written == set(range(len(today)))
    older_by_id = {entry["id"]: entry for entry in older}
    by_line = {}
    for entry in older:
        by_line.setdefault(entry["line"], []).append(entry)
    for drift in comparison.drifted:
        mine = today[drift.position]
        if drift.kind == STALE:
            assert drift.found_id == mine["id"]
            assert older_by_id[drift.found_id]["statement"] != mine["statement"]
        else:
            assert drift.kind == OTHER_ID and drift.found_id != mine["id"]
            # The statement held instead is the same line's, by the same release: the same event.
            assert drift.found_id in {entry["id"] for entry in by_line[mine["line"]]}
    # Each held statement stands for one of ours at most.
    assert len({drift.found_id for drift in comparison.drifted}) == len(comparison.drifted)
    # Every statement whose id changed is a staff's action, the actor the difference.
    other = [drift for drift in comparison.drifted if drift.kind == OTHER_ID]
    assert other and {drift.differs_at for drift in other} == {"actor.account.name"}
    assert {behind(drift.differs_at) for drift in other} == {
        "the actor of an action made by staff for a learner was the staff (ERB before 9.3.8)"
    }
    # Every stale statement's difference is one an ERB release is known for.
    stale = Counter(behind(drift.differs_at) for drift in comparison.drifted if drift.kind == STALE)
    assert stale and not [behaviour for behaviour in stale if behaviour.startswith("other content")], stale


def test_a_learners_statement_is_never_taken_for_another_learners_at_the_same_moment():
    today = statements_of(TODAY)
    first = today[0]["statement"]
    # Another learner, the same verb and object at the same moment: an event of its own.
    someone_else = json.loads(json.dumps(first))
    someone_else["actor"]["account"]["name"] = "another-learner"
    someone_else["id"] = "00000000-0000-5000-8000-000000000001"
    ours = [(first["id"], json.dumps(first)), (someone_else["id"], json.dumps(someone_else))]
    held = {first["id"]: json.dumps(first)}

    comparison = compare(ours, held)

    assert comparison.present == {0}
    assert comparison.drifted == []  # the other learner's is missing, and written
    # The same in a later batch, without the first learner's among ours: still missing, not paired.
    assert compare(ours[1:], held).drifted == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
# Statements of a few events (two learners, or a learner and a staff member, on one moment, verb
# and object: the cases that pair), ERB's keys with any values, any JSON, or no JSON at all.
of_few_events = st.fixed_dictionaries(
    {
        "timestamp": st.sampled_from(["2024-03-01T08:00:00+00:00", "2024-03-01T09:00:00+00:00"]),
        "verb": st.fixed_dictionaries({"id": st.sampled_from(["v1", "v2"])}),
        "object": st.fixed_dictionaries({"id": st.just("o1")}),
        "actor": st.sampled_from(["learner", "staff", "another learner"]),
    }
).map(json.dumps)
with_any_values = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": json_values,
        "verb": st.fixed_dictionaries({"id": json_values}) | json_values,
        "object": json_values,
        "context": json_values,
    },
).map(json.dumps)
statements = st.one_of(
    of_few_events, of_few_events, of_few_events, with_any_values, json_values.map(json.dumps), st.text(max_size=20)
)
ids = st.sampled_from([f"00000000-0000-5000-8000-0000000000{number:02d}" for number in range(12)])


@examples(200)
@given(ours=st.lists(st.tuples(ids, statements), max_size=8), held=st.dictionaries(ids, statements, max_size=8))
def test_any_statements_held_or_ours_are_classified_once_each_and_never_paired_twice(ours, held):
    comparison = compare(ours, held)

    drifted = [drift.position for drift in comparison.drifted]
    assert len(drifted) == len(set(drifted)) and not comparison.present & set(drifted)
    assert comparison.not_written <= set(range(len(ours)))
    for position in comparison.present:  # held under our id
        assert ours[position][0] in held
    for drift in comparison.drifted:
        assert drift.found_id in held
        assert (drift.found_id == ours[drift.position][0]) == (drift.kind == STALE)
    others = [drift.found_id for drift in comparison.drifted if drift.kind == OTHER_ID]
    assert len(others) == len(set(others))  # one held statement stands for one of ours at most
    assert not {drift.found_id for drift in comparison.drifted if drift.kind == OTHER_ID} & {i for i, _ in ours}


def micros_in(text: str) -> int:
    """A statement's time as the table's emission_time holds it (any other row: one moment of its own)."""
    try:
        moment = json.loads(text).get("timestamp")
        return int(datetime.fromisoformat(moment).timestamp() * 1_000_000)
    except (ValueError, AttributeError, TypeError):
        return len(text)


@examples(200)
@given(ours=st.lists(st.tuples(ids, statements), max_size=8), held=st.dictionaries(ids, statements, max_size=8))
def test_reading_only_what_can_differ_gives_the_answer_of_reading_everything(ours, held):
    rows = [(held_id, digest_of(text), micros_in(text)) for held_id, text in held.items()]
    read = []

    def events_of(wanted):
        read.extend(wanted)
        return {held_id: held[held_id] for held_id in wanted}

    narrowed = compare_narrowed(
        [statement_id for statement_id, _ in ours],
        [micros_in(text) for _, text in ours],
        lambda position: ours[position][1],
        rows,
        events_of,
    )

    everything = compare(ours, held)
    assert narrowed.present == everything.present
    assert sorted(narrowed.drifted, key=lambda drift: drift.position) == sorted(
        everything.drifted, key=lambda drift: drift.position
    )
    # A statement stored exactly as every one of ours with its id is never read whole.
    stored_as_ours = {statement_id for statement_id, text in ours if held.get(statement_id) == text}
    differing = {statement_id for statement_id, text in ours if held.get(statement_id, text) != text}
    assert not (stored_as_ours - differing) & set(read)


release_texts = st.one_of(
    st.sampled_from(["event-routing-backends@9.0.1", "event-routing-backends@10.1.0", "event-routing-backends@9.3",
                     "event-routing-backends@9.0.1rc1", "event-routing-backends@", "other@1.0", ""]),
    st.builds("event-routing-backends@{}".format, st.text(max_size=12)),
    json_values,
)  # fmt: skip
with_release = st.one_of(
    json_values,
    st.fixed_dictionaries({"context": json_values}),
    st.fixed_dictionaries({"context": st.fixed_dictionaries({"extensions": json_values})}),
    st.builds(lambda version: {"context": {"extensions": {TRANSFORMER_VERSION: version}}}, release_texts),
)


@examples(300)
@given(ours=with_release, held=with_release)
def test_any_value_where_a_release_is_written_gives_a_release_or_none_and_only_a_later_one_replaces(ours, held):
    for statement in (ours, held):
        if isinstance(statement, dict):
            release = release_of(statement)
            assert release is None or all(isinstance(part, int) for part in release)
    if isinstance(ours, dict) and isinstance(held, dict):
        later, earlier = made_later(ours, held), made_later(held, ours)
        assert not (later and earlier) and not made_later(ours, ours)
        assert later == (
            release_of(ours) is not None and release_of(held) is not None and release_of(ours) > release_of(held)
        )
