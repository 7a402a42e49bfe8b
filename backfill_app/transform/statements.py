"""
Event dict -> statements, through event-routing-backends' own transformer registry, so
that a backfilled statement is the one the live pipeline would have made.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import NamedTuple

from django.conf import settings
from django.db import DatabaseError
from eventtracking.processors.exceptions import NoTransformerImplemented
from opaque_keys import InvalidKeyError

from backfill_app.core import conf
from backfill_app.core.databases import stop_if_unreachable
from backfill_app.core.errors import ServiceUnavailable
from backfill_app.transform.direct.path import KEY_NOT_READ, DirectStatements, user_key, why_not_direct
from backfill_app.transform.lookup_failures import (
    AnonymousUser,
    BadCourseKey,
    BadUserKey,
    LookupFailure,
    NoExternalId,
    UnknownCourse,
    UnknownUser,
)

TRANSFORMER_TYPES = ("xapi", "caliper")
# Share of the fast path's events also transformed by ERB and compared, by default.
DEFAULT_VERIFY_SAMPLE = 0.01


class Statement(NamedTuple):
    """One transformed statement, as every destination stores it (a tuple: made 100,000s of times a run)."""

    id: str
    timestamp: datetime  # timezone-aware, UTC
    json: str
    source: str = ""  # the log object and line it came from, to set it aside if refused
    line_number: int = 0


class TransformFailure(Exception):
    """An event that ERB could not transform; ``reason`` is a short name for the summary."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def allowed_event_names(transformer_type: str) -> frozenset[str]:
    """The allow-list the live pipeline applies for this transformer type."""
    setting = {
        "xapi": "EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS",
        "caliper": "EVENT_TRACKING_BACKENDS_ALLOWED_CALIPER_EVENTS",
    }[transformer_type]
    return frozenset(getattr(settings, setting, ()))


def _registry(transformer_type: str):
    # Imported here: the registries fill up when ERB's app is ready.
    if transformer_type == "xapi":
        from event_routing_backends.processors.xapi.registry import XApiTransformersRegistry

        return XApiTransformersRegistry
    from event_routing_backends.processors.caliper.registry import CaliperTransformersRegistry

    return CaliperTransformersRegistry


def _as_utc(moment: datetime) -> datetime:
    # A timestamp without a zone is UTC in tracking logs.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class DirectPathMismatch(Exception):
    """A statement of the fast path differs from ERB's: the run stops (see --verify_sample)."""

    def __init__(self, event_name: str, detail: str):
        super().__init__(
            f"the fast path made a statement for a {event_name!r} event that differs from ERB's ({detail}); "
            "the run stopped there. Set BACKFILL_DIRECT_STATEMENTS = False to transform every event through ERB, "
            "and please report it with the event."
        )
        self.event_name = event_name


class StatementTransformer:
    """
    Turns one event into its statements (several for a multi-question problem_check): by the
    fast path where it was verified (transform/direct), else by ERB's transformer. One event in
    every ``1 / verify_sample`` taken by the fast path is also transformed by ERB and compared.
    """

    def __init__(self, transformer_type: str, verify_sample: float = DEFAULT_VERIFY_SAMPLE):
        if transformer_type not in TRANSFORMER_TYPES:
            raise ValueError(f"transformer type must be one of {TRANSFORMER_TYPES}")
        self.transformer_type = transformer_type
        self.registry = _registry(transformer_type)
        allowed = allowed_event_names(transformer_type)
        # Allowed names without a transformer would fail on every event: treat as unsupported.
        self.supported_names = frozenset(name for name in allowed if name in self.registry.mapping)
        self.why_not_direct = why_not_direct(transformer_type)
        if self.why_not_direct is None and not conf.get("BACKFILL_DIRECT_STATEMENTS"):
            self.why_not_direct = "BACKFILL_DIRECT_STATEMENTS is False"
        self.direct = DirectStatements(self.registry) if self.why_not_direct is None else None
        self.verify_every = round(1 / verify_sample) if verify_sample > 0 else 0
        # The path of the last event transformed: "erb", "direct" or "direct, verified".
        self.last_path = "erb"
        self._direct_count = 0

    def is_supported(self, event: dict) -> bool:
        name = event.get("name")
        return isinstance(name, str) and name in self.supported_names

    @property
    def external_id_type(self) -> str:
        """The ExternalIdType the live pipeline uses for this transformer's actors."""
        return self.transformer_type.upper()

    def user_key(self, event: dict):
        """The user id or username ERB's transformer will look the actor up by (any JSON value), or None."""
        key = self.read_user_key(event)
        return None if key is KEY_NOT_READ else key

    def read_user_key(self, event: dict):
        """:meth:`user_key`, or KEY_NOT_READ where the event's values make reading it fail."""
        try:
            if self.transformer_type == "xapi":
                return user_key(event)  # ERB's rule, without making a transformer
            return self.registry.get_transformer(event).extract_username_or_userid()
        except Exception:  # the transform will report what is wrong with this event
            return KEY_NOT_READ

    def transform(
        self, event: dict, source: str = "", line_number: int = 0, user_key_read=KEY_NOT_READ
    ) -> list[Statement]:
        """
        The event's statements, or TransformFailure saying why it has none: whatever its values
        do to ERB's code or to ours, one event never ends the run. Only a difference found by
        --verify_sample (DirectPathMismatch) or a database that stopped answering goes up.
        ``user_key_read``: what :meth:`read_user_key` gave for this event, when it was called.
        """
        try:
            return self._transform(event, source, line_number, user_key_read)
        except (TransformFailure, DirectPathMismatch, ServiceUnavailable):
            raise
        except Exception as exc:
            raise refusal(exc) from None

    def _transform(self, event: dict, source: str, line_number: int, user_key_read) -> list[Statement]:
        if self.direct is not None:
            try:
                built = self.direct.build(event, user_key_read)
            except LookupFailure as exc:  # the actor, the first thing ERB looks up: ERB refuses it the same
                self.last_path = "direct"
                raise refusal(exc) from None
            if built is not None:
                self.last_path = "direct"
                made = [Statement(i, moment, text, source, line_number) for i, moment, text in built]
                self._direct_count += 1
                if self.verify_every and self._direct_count % self.verify_every == 1 % self.verify_every:
                    self._verify(event, made)
                    self.last_path = "direct, verified"
                return made
        self.last_path = "erb"
        return self._erb_transform(event, source, line_number)

    def _verify(self, event: dict, made: list[Statement]) -> None:
        """The fast path's statements of one event against ERB's own."""
        name = str(event.get("name"))
        try:
            reference = self._erb_transform(event)
        except TransformFailure as failure:
            raise DirectPathMismatch(name, f"ERB sets the event aside: {failure.reason}") from None
        if len(reference) != len(made):
            raise DirectPathMismatch(name, f"{len(made)} statements instead of ERB's {len(reference)}")
        for ours, erbs in zip(made, reference, strict=True):
            if (ours.id, ours.json, ours.timestamp) != (erbs.id, erbs.json, erbs.timestamp):
                raise DirectPathMismatch(name, first_difference(ours.json, erbs.json))

    def _erb_transform(self, event: dict, source: str = "", line_number: int = 0) -> list[Statement]:
        try:
            result = self.registry.get_transformer(event).transform()
        except ServiceUnavailable:
            raise
        except Exception as exc:
            raise refusal(exc) from None
        if self.transformer_type == "xapi":
            made = result if isinstance(result, list) else [result]
            return [self._xapi_statement(statement, source, line_number) for statement in made]
        return [self._caliper_statement(result, source, line_number)]

    @staticmethod
    def _xapi_statement(statement, source: str, line_number: int) -> Statement:
        # The live xAPI processor drops a statement whose object has no id: so do we, but loudly.
        if not statement.object or not statement.object.id:
            raise TransformFailure("no_object_id", "the statement has no object id (the live pipeline drops it)")
        if statement.timestamp is None:
            # Live, the LRS would stamp it on arrival: a backfill cannot know when that was.
            raise TransformFailure("no_timestamp", "the event has no time, so its statement would have none")
        return Statement(
            id=str(statement.id),
            timestamp=_statement_time(statement.timestamp),
            json=strict_json(statement.to_json()),
            source=source,
            line_number=line_number,
        )

    @staticmethod
    def _caliper_statement(event: dict, source: str, line_number: int) -> Statement:
        return Statement(
            id=event["id"],
            timestamp=_statement_time(datetime.fromisoformat(event["eventTime"])),
            json=strict_json(json.dumps(event)),
            source=source,
            line_number=line_number,
        )


def _statement_time(moment: datetime) -> datetime:
    try:
        return _as_utc(moment)
    except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
        raise TransformFailure(
            "bad_timestamp", "the event's time falls outside years 1 to 9999 once in UTC, where no destination keeps it"
        ) from None


def _refuse_constant(name: str):
    raise TransformFailure(
        "statement_not_json",
        f"the statement would hold {name} (from a number in the event), which JSON does not allow: "
        "no LRS accepts it and Aspects' queries cannot read it",
    )


def strict_json(text: str) -> str:
    """``text`` when it is JSON as the standard defines it; Python writes NaN and Infinity, which it is not."""
    if "NaN" in text or "Infinity" in text:  # most often inside a string: parsed to be sure
        json.loads(text, parse_constant=_refuse_constant)
    return text


def refusal(exc: Exception) -> TransformFailure:
    """
    What an exception raised while transforming an event means for the summary. A database
    error is the event's only while the databases still answer (else PlatformDatabaseUnavailable).
    """
    if isinstance(exc, TransformFailure):
        return exc
    if isinstance(exc, DatabaseError):
        stop_if_unreachable()
        detail = f"the platform's database refused a value of the event ({type(exc).__name__})"
        return TransformFailure("refused_by_database", detail)
    if isinstance(exc, NoTransformerImplemented):
        return TransformFailure("unsupported", "no transformer for this event name")
    if isinstance(exc, InvalidKeyError | BadCourseKey):
        return TransformFailure("bad_course_id", "the course id is not a valid course key")
    for kind, reason in (
        (BadUserKey, "bad_user_key"),
        (AnonymousUser, "anonymous_user"),
        (NoExternalId, "no_external_id"),
        (UnknownUser, "unknown_user"),
        (UnknownCourse, "unknown_course"),
        (ValueError, "missing_field"),
    ):
        if isinstance(exc, kind):
            return TransformFailure(reason, _shortened(str(exc)))
    # An ERB bug on one odd event must not end the run.
    return TransformFailure("transform_error", _shortened(f"{type(exc).__name__}: {exc}"))


def _shortened(detail: str, limit: int = 300) -> str:
    # Messages can quote the event's values, which can be 100 kB long: the line itself is kept whole.
    return detail if len(detail) <= limit else detail[:limit] + "..."


def first_difference(ours: str, erbs: str) -> str:
    """Where two statements first differ, by key path (no values: they may hold personal data)."""

    def walk(left, right, path: str) -> str | None:
        if isinstance(left, dict) and isinstance(right, dict):
            if list(left) != list(right):
                return f"keys of {path or 'the statement'}: {sorted(set(left) ^ set(right)) or 'their order'}"
            for key in left:
                found = walk(left[key], right[key], f"{path}.{key}" if path else key)
                if found:
                    return found
            return None
        if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
            for index, (a, b) in enumerate(zip(left, right, strict=True)):
                found = walk(a, b, f"{path}[{index}]")
                if found:
                    return found
            return None
        return None if left == right and type(left) is type(right) else f"the value at {path or 'the top'}"

    return walk(json.loads(ours), json.loads(erbs), "") or "the same JSON written differently"
