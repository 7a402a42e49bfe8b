"""
Two events, one statement id: the first in log order is kept, the other set aside.

ERB's statement id is a uuid5 of the verb, the actor and the event's time string, so two
different events of one learner at the same instant with the same verb (enrolled in two
courses in one request, an outline click logged twice) get the same id. xAPI ids are
immutable: an LRS keeps the first statement and refuses a different one with that id. Left to
the destination, which of the two a table keeps would depend on where batches end; decided
here, in log order, it is the same whatever the batch size or the number of workers.

Such events are written by one request, so they stand a few lines apart in one file: the ids
of the last statements of the file being read are enough (bounded memory). Identical
statements (a line logged twice) are not a conflict: the destination counts the second as
already present.
"""

from __future__ import annotations

# Statements remembered per file: two generations of this many, far more than one request logs.
REMEMBERED_STATEMENTS = 10_000


class FirstStatementOfEachId:
    """The statement ids of the last lines of one source object, with what they were."""

    def __init__(self, remembered: int = REMEMBERED_STATEMENTS):
        self.remembered = remembered
        # id -> (line number, hash of the statement's JSON: equal statements are no conflict);
        # a plain tuple, as one is made for every statement.
        self._current: dict[str, tuple[int, int]] = {}
        self._previous: dict[str, tuple[int, int]] = {}

    def conflict(self, statements, line_number: int) -> int | None:
        """
        The line of an earlier, different statement with the id of one of ``statements``
        (then none of them is remembered: the line is set aside), or None, and they are.
        """
        for statement in statements:
            earlier = self._current.get(statement.id) or self._previous.get(statement.id)
            if earlier is not None and earlier[1] != hash(statement.json):
                return earlier[0]
        for statement in statements:
            if len(self._current) >= self.remembered:
                self._previous, self._current = self._current, {}
            self._current.setdefault(statement.id, (line_number, hash(statement.json)))
        return None
