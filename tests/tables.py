"""
"The destination holds exactly these statements": rows, counts and distinct ids compared, so a
statement stored twice, or one missing, fails (a dict keyed by id would merge duplicates).
"""

from __future__ import annotations

from collections import Counter


def assert_holds_exactly(statements: list[dict], expected: dict[str, dict]) -> None:
    """``statements`` (as an LRS or a table gives them) are ``expected`` (by id), each once."""
    stored_twice = [statement_id for statement_id, count in Counter(s["id"] for s in statements).items() if count > 1]
    assert not stored_twice, f"{len(stored_twice)} statements stored more than once, e.g. {stored_twice[:3]}"
    assert len(statements) == len(expected), f"{len(statements)} statements stored, {len(expected)} expected"
    assert {statement["id"]: statement for statement in statements} == expected


def assert_table_holds_exactly(rows: list[dict], expected: dict[str, dict]) -> None:
    """Rows of xapi_events_all (the ``xapi_table`` fixture's): each row's id is its statement's."""
    assert all(row["event_id"] == row["event"]["id"] for row in rows), "a row whose event_id is not its statement's"
    assert_holds_exactly([row["event"] for row in rows], expected)
