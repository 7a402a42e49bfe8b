"""The dead-letter file keeps whatever text a line or an error holds, and gives it back as it was."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from backfill_app.reporting.dead_letter import DeadLetterFile
from tests.fuzzing import ANY_CHARACTER, examples

ANY_TEXT = st.text(ANY_CHARACTER)  # lone surrogates and control characters among them


@examples(200)
@given(entries=st.lists(st.tuples(ANY_TEXT, st.integers(), ANY_TEXT, st.none() | ANY_TEXT), min_size=1, max_size=4))
def test_any_text_is_written_and_read_back_unchanged(tmp_path_factory, entries):
    path = tmp_path_factory.mktemp("dead") / "dead.jsonl"
    dead_letters = DeadLetterFile(str(path))
    for source, number, detail, line in entries:
        dead_letters.add(source=source, line_number=number, reason="bad_json", detail=detail, line=line)
    dead_letters.close()
    read = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["source"], r["line_number"], r["detail"], r["line"]) for r in read] == entries
