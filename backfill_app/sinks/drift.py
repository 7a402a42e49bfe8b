"""
This run's statements against those a destination already holds in the same time range,
compared by id and then by event, so that what an older ERB release made live is never
written again under another id, nor silently taken for today's statement.

- **the same**: the id is held and the content equals ours (already present);
- **stale**: the id is held, the content differs (an older ERB's output: a forum statement
  without its thread's title, a problem_check response with escaped text);
- **other id**: no statement with our id, but one of the same event under another id (before
  ERB 9.3.8 the actor of a staff's action was the staff, not the learner; the id hashes the
  actor): writing ours would count the event twice;
- **missing**: neither; written.

An event is its time string, its verb and its object: they are in both statements whatever
the actor. Held statements and ours of one event are paired one to one, so two learners'
events at the same moment on the same object never stand for each other.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"
ADDED_BY_AN_LRS = ("stored", "authority")  # Ralph adds them to what it receives
STALE, OTHER_ID = "stale", "other_id"
# Dead-letter reasons of statements not written because the destination holds their event otherwise.
DRIFT_REASONS = {STALE: "stale_statement", OTHER_ID: "same_event_other_id"}
# What differs, as the ERB release that changed it explains it (tests/fixtures/older_erb: made by
# those releases). The first difference found names the behaviour; others are "other content".
KNOWN_CHANGES = (
    ("actor", "the actor of an action made by staff for a learner was the staff (ERB before 9.3.8)"),
    ("object.definition.name", "forum thread statements had no thread title (ERB 9.0.x and older)"),
    (
        "context.contextActivities.grouping",
        "forum comment and response statements had no discussion (ERB 9.0.x and older)",
    ),
    ("result.response", "problem_check responses had their non-ASCII text escaped (ERB 9.3.2 and older)"),
)


@dataclass(frozen=True)
class Drift:
    """One of our statements whose event the destination holds otherwise."""

    kind: str  # STALE or OTHER_ID
    position: int  # in the batch compared
    found_id: str
    differs_at: str  # the first part that differs: "actor", "object.definition.name"...
    verb: str  # the statement's verb, for counts by kind of event
    # Ours was made by a later ERB release than the statement found (their transformer versions):
    # only then may ours replace it (--replace_drifted), never a statement as new as ours.
    newer: bool = False


@dataclass(frozen=True)
class Comparison:
    present: set[int]  # positions of ours held as they are
    drifted: list[Drift]

    @property
    def not_written(self) -> set[int]:
        return self.present | {drift.position for drift in self.drifted}


def comparable(statement: dict) -> dict:
    """The statement as ERB's output, without what differs between releases by design or what an LRS adds."""
    kept = {key: value for key, value in statement.items() if key not in ADDED_BY_AN_LRS}
    context = kept.get("context")
    if isinstance(context, dict) and isinstance(context.get("extensions"), dict):
        extensions = {key: value for key, value in context["extensions"].items() if key != TRANSFORMER_VERSION}
        kept["context"] = {**context, "extensions": extensions}
    return kept


def release_of(statement: dict) -> tuple[int, ...] | None:
    """The ERB release that made a statement ("event-routing-backends@9.0.1" -> (9, 0, 1)), None if it does not say."""
    context = statement.get("context")
    extensions = context.get("extensions") if isinstance(context, dict) else None
    version = extensions.get(TRANSFORMER_VERSION) if isinstance(extensions, dict) else None
    if not isinstance(version, str) or not version.startswith("event-routing-backends@"):
        return None
    try:
        return tuple(int(part) for part in version.split("@", 1)[1].split("."))
    except ValueError:
        return None


def made_later(ours: dict, held: dict) -> bool:
    """Whether ours comes from a later ERB release than the held statement (False when either does not say)."""
    mine, theirs = release_of(ours), release_of(held)
    return mine is not None and theirs is not None and mine > theirs


def set_aside_detail(found_id: str, differs_at: str, newer: bool, not_done: str = "not written") -> str:
    """The dead-letter detail of one of ours not written because the destination holds its event otherwise."""
    detail = f"the destination holds {found_id} for this event ({behind(differs_at)}); {not_done}"
    if not newer:
        detail += "; --replace_drifted keeps it: it is not from an earlier ERB release than ours"
    return detail


def behind(differs_at: str) -> str:
    """The ERB behaviour a difference comes from, where it is known."""
    for path, behaviour in KNOWN_CHANGES:
        if differs_at == path or differs_at.startswith((f"{path}.", f"{path}[")):
            return behaviour
    return f"other content at {differs_at}"


def event_of(statement: dict) -> tuple[str, str, str] | None:
    """(time string, verb id, object id); None when the statement lacks one: then it stands for no event."""
    verb, obj = statement.get("verb"), statement.get("object")
    key = (
        statement.get("timestamp"),
        verb.get("id") if isinstance(verb, dict) else None,
        obj.get("id") if isinstance(obj, dict) else None,
    )
    return key if all(isinstance(part, str) for part in key) else None  # type: ignore[return-value]


def first_difference(ours, held, path: str = "") -> str:
    """Where two JSON values first differ, as a dotted path ("" when equal)."""
    if isinstance(ours, dict) and isinstance(held, dict):
        for key in sorted(set(ours) | set(held)):
            inner = f"{path}.{key}" if path else key
            if key not in ours or key not in held:
                return inner
            found = first_difference(ours[key], held[key], inner)
            if found:
                return found
        return ""
    if isinstance(ours, list) and isinstance(held, list) and len(ours) == len(held):
        for index, (mine, theirs) in enumerate(zip(ours, held, strict=True)):
            found = first_difference(mine, theirs, f"{path}[{index}]")
            if found:
                return found
        return ""
    return "" if ours == held else (path or "the statement")


def difference(ours: dict, held: dict) -> str:
    """``first_difference``, or the whole statement where it is nested deeper than Python recurses."""
    try:
        return first_difference(ours, held)
    except RecursionError:
        return "" if ours == held else "the statement"


def compare(ours: list[tuple[str, str]], held: Mapping[str, str | dict]) -> Comparison:
    """
    ``ours``: (id, statement JSON) in batch order; ``held``: id -> statement JSON (or the object an
    LRS answered, already parsed) of what the destination holds in the batch's time range.
    """
    ours_ids = {statement_id for statement_id, _ in ours}
    present: set[int] = set()
    drifted: list[Drift] = []
    unmatched: list[tuple[int, dict]] = []
    for position, (statement_id, text) in enumerate(ours):
        mine = parsed(text)
        if statement_id not in held:
            if mine is not None:  # a statement that is no JSON object has no event to look for
                unmatched.append((position, mine))
            continue
        theirs = parsed(held[statement_id])
        if mine is None or theirs is None:  # nothing to compare: the id decides, as it always did
            present.add(position)
            continue
        later = made_later(mine, theirs)
        mine, theirs = comparable(mine), comparable(theirs)
        where = difference(mine, theirs)
        if where:
            drifted.append(Drift(STALE, position, statement_id, where, _verb(mine), later))
        else:
            present.add(position)
    if not unmatched:
        return Comparison(present, drifted)
    # Held statements none of ours has the id of, by event: each stands for one of ours at most.
    others: dict[tuple, list[tuple[str, dict]]] = defaultdict(list)
    for held_id in sorted(held.keys() - ours_ids):
        statement = parsed(held[held_id])
        if statement is not None and (event := event_of(statement)) is not None:
            others[event].append((held_id, statement))
    for position, mine in unmatched:
        event = event_of(mine)
        candidates = others.get(event, []) if event is not None else []
        # A statement the same ERB release made is another learner's event at that moment, not an
        # older release's statement of ours: never paired (whatever batch the other learner's is in).
        release = release_of(mine)
        chosen = next(
            (index for index, (_, theirs) in enumerate(candidates) if release is None or release_of(theirs) != release),
            None,
        )
        if chosen is not None:
            held_id, theirs = candidates.pop(chosen)
            where = difference(comparable(mine), comparable(theirs)) or "id"
            drifted.append(Drift(OTHER_ID, position, held_id, where, _verb(mine), made_later(mine, theirs)))
    return Comparison(present, drifted)


def parsed(text: str | dict) -> dict | None:
    """A statement's JSON object; None for a row that holds something else (another writer's)."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class HeldRow(NamedTuple):
    """What the table tells of a statement it holds, without the statement: enough to rule most out."""

    id: str
    digest: str  # MD5 of the stored JSON, hex
    micros: int  # its time (emission_time), microseconds since the epoch


def digest_of(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def compare_narrowed(
    ids: list[str],
    micros: list[int],
    text_of: Callable[[int], str],
    held_rows: list[tuple[str, str, int]],
    events_of: Callable[[list[str]], dict[str, str]],
) -> Comparison:
    """
    ``compare``, reading as little as it can: a statement held under our id with the very same
    JSON is present without being parsed; only ours held with other JSON, or at the moment of a
    held statement none of ours has the id of, are compared by event, with just those held
    statements read whole (``events_of``). Same answer as ``compare`` on everything: a statement's
    time is in its event, so none of the others could pair.
    """
    held = [HeldRow(*row) for row in held_rows]
    held_by_id = {row.id: row for row in held}
    ours_ids = set(ids)
    others_at = {row.micros for row in held if row.id not in ours_ids}
    present: set[int] = set()
    suspects: list[int] = []
    for position, statement_id in enumerate(ids):
        row = held_by_id.get(statement_id)
        if row is not None and row.digest == digest_of(text_of(position)):
            present.add(position)
        elif row is not None or micros[position] in others_at:
            suspects.append(position)
    if not suspects:
        return Comparison(present, [])
    # Read whole: the suspects' own ids, and the statements none of ours has the id of at their moments
    # (never one of ours found as it is: it would pass for another event's statement).
    suspect_ids, moments = {ids[position] for position in suspects}, {micros[position] for position in suspects}
    wanted = [row.id for row in held if row.id in suspect_ids or (row.id not in ours_ids and row.micros in moments)]
    narrowed = compare([(ids[position], text_of(position)) for position in suspects], events_of(wanted))
    drifted = [replace(drift, position=suspects[drift.position]) for drift in narrowed.drifted]
    return Comparison(present | {suspects[position] for position in narrowed.present}, drifted)


def _verb(statement: dict) -> str:
    verb = statement.get("verb")
    verb_id = verb.get("id") if isinstance(verb, dict) else None
    return str(verb_id).rstrip("/").rsplit("/", 1)[-1] if verb_id else "no verb"
