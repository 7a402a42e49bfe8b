"""
The hot path's JSON codec changes nothing: ``read_json`` gives what ``json.loads`` gives (the
same values, types and key order, or the same error) for any text, and ``write_json`` writes
what ``json.dumps(value, allow_nan=False)`` writes (or raises what it raises) for any value.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from backfill_app.core.json_codec import may_be_json, read_json, write_json
from tests.fuzzing import ANY_CHARACTER, HUGE_NUMBER, examples, json_values

KEYS = st.sampled_from(["a", "b", "é", "\ud800", "name", ""])
SPACES = st.sampled_from(["", " ", "\n", "\t", "\r\n  "])


def written(value, ensure_ascii: bool = True) -> str:
    """``value`` as Python's json writes it (NaN, Infinity, lone surrogates and all)."""
    return json.dumps(value, ensure_ascii=ensure_ascii).replace(json.dumps(HUGE_NUMBER), "7" * 4400)


@st.composite
def json_texts(draw) -> str:
    """JSON texts, most of them valid, with what json.loads reads and other parsers may not."""
    kind = draw(st.sampled_from(["value", "repeated keys", "cut short", "spaced", "any text"]))
    if kind == "value":
        return written(draw(json_values()), ensure_ascii=draw(st.booleans()))
    if kind == "repeated keys":
        members = draw(st.lists(st.tuples(KEYS, json_values()), min_size=2, max_size=6))
        return "{" + ", ".join(f"{written(key)}: {written(value)}" for key, value in members) + "}"
    if kind == "cut short":
        text = written(draw(json_values()))
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "spaced":
        value = draw(json_values())
        return draw(SPACES) + json.dumps(value, indent=draw(st.sampled_from([None, 0, 2]))) + draw(SPACES)
    return draw(st.text(ANY_CHARACTER | st.sampled_from('{}[]":,0123456789.eE+-truefalsnNaI'), max_size=40))


def outcome(action, argument) -> tuple[str, str]:
    """What ``action(argument)`` gives, written so that 1, 1.0 and True, or key orders, differ."""
    try:
        return "value", repr(action(argument))
    except (ValueError, TypeError, RecursionError) as exc:
        return "error", f"{type(exc).__name__}: {exc}"


@examples(400)
@given(text=json_texts())
def test_read_json_reads_any_text_as_json_loads_does(text):
    assert outcome(read_json, text) == outcome(json.loads, text)


@examples(400)
@given(
    text=(
        json_texts()
        | st.text(ANY_CHARACTER, max_size=20)
        | st.builds(str.__add__, SPACES, st.sampled_from(["NaN", "Infinity", "-1", "true", "false", "null", '"', "[]"]))
        | st.builds(str.__add__, SPACES, st.text(ANY_CHARACTER, min_size=1, max_size=5))
    ).filter(lambda text: not may_be_json(text))  # every example is one said not to be JSON
)
def test_text_said_not_to_be_json_is_refused_by_json_loads(text):
    assert outcome(json.loads, text)[0] == "error"


@examples(400)
@given(
    value=json_values()
    | st.dictionaries(st.none() | st.booleans() | st.integers() | st.floats(), json_values(), max_size=4)
    | st.just([10**4400])  # more digits than Python writes
)
def test_write_json_writes_any_value_as_json_dumps_does(value):
    assert outcome(write_json, value) == outcome(lambda v: json.dumps(v, allow_nan=False), value)
