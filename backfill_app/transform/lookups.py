"""
Run-scoped caches in front of event-routing-backends' user and course lookups.

ERB's ``get_anonymous_user_id`` and ``get_course_from_id`` are ``lru_cache``d with 128
entries: on a real log (thousands of users) nearly every event misses and costs several
queries. During a run we answer them from a larger cache that also remembers failures, and
otherwise call ERB's own functions, so the ids and names are exactly the live pipeline's
(inside the LMS through the platform's models, standalone through ours).
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass

from event_routing_backends import helpers as erb_helpers
from opaque_keys import InvalidKeyError

# ERB's helpers log usernames at WARNING/INFO when a user is missing: personal data that a
# backfill must keep out of its logs (the dead-letter file records the event instead).
ERB_LOGGERS_WITH_PERSONAL_DATA = ("event_routing_backends.helpers",)

CACHE_ENTRIES = 200_000

# ERB's own lookups, kept before any run replaces their bindings (helpers' included).
ERB_GET_ANONYMOUS_USER_ID = erb_helpers.get_anonymous_user_id
ERB_GET_COURSE_FROM_ID = erb_helpers.get_course_from_id


class LookupFailure(ValueError):
    """A lookup that cannot succeed during this run: remembered, and raised again, by class and message."""


class UnknownUser(LookupFailure):
    """No user matches the event's user id or username."""


class AnonymousUser(LookupFailure):
    """The event has no user: a visitor who was not logged in (the live pipeline drops it too)."""


class UnknownCourse(LookupFailure):
    """No course overview matches the event's course id."""


class BadCourseKey(LookupFailure):
    """The event's course id is not a valid course key."""


def resolve_user_ids(keys) -> dict:
    """
    The users that exist among ``keys`` (user ids or usernames, as ERB's transformers give
    them), as key -> user id: by id, or failing that by username, as ERB's ``get_user``
    does; two queries for the lot. Reads only.
    """
    from django.contrib.auth import get_user_model

    User = get_user_model()
    numeric = {key: int(key) for key in keys if str(key).isdigit()}
    found_ids = set(User.objects.filter(id__in=set(numeric.values())).values_list("id", flat=True))
    user_of = {key: user_id for key, user_id in numeric.items() if user_id in found_ids}
    by_name = {str(key): key for key in keys if key not in user_of}
    for user_id, username in User.objects.filter(username__in=list(by_name)).values_list("id", "username"):
        user_of[by_name[username]] = user_id
    return user_of


def bulk_anonymous_user_ids(keys: list, external_type: str) -> dict:
    """
    ERB's ``get_anonymous_user_id`` for many users at once: the users (:func:`resolve_user_ids`),
    their external ids in one more query, and the missing ones created in one bulk insert, as
    the live pipeline creates them. Keys it cannot resolve here (unknown or retired users) are
    left out, for ERB's own path.
    """
    ExternalId, ExternalIdType = erb_helpers.ExternalId, erb_helpers.ExternalIdType
    type_name = getattr(ExternalIdType, external_type, ExternalIdType.LTI)
    id_type = ExternalIdType.objects.filter(name=type_name).first()
    if id_type is None:
        return {}
    user_of = resolve_user_ids(keys)
    users = set(user_of.values())
    external_ids = ExternalId.objects.filter(external_id_type=id_type)
    anonymous = dict(external_ids.filter(user_id__in=users).values_list("user_id", "external_user_id"))
    missing = users - set(anonymous)
    if missing:
        ExternalId.objects.bulk_create(
            [ExternalId(user_id=user_id, external_id_type=id_type) for user_id in missing], ignore_conflicts=True
        )
        # Read back: another process (the LMS itself) may have created some meanwhile.
        anonymous.update(external_ids.filter(user_id__in=missing).values_list("user_id", "external_user_id"))
    return {key: str(anonymous[user_id]) for key, user_id in user_of.items() if user_id in anonymous}


@dataclass(frozen=True, slots=True)
class RememberedFailure:
    """
    A lookup failure kept without its exception: an exception raised again keeps growing its
    traceback, and the frames in it keep their callers' locals alive (a whole block of parsed
    lines per unknown user, for the rest of the run).
    """

    kind: type[LookupFailure]
    message: str

    def fresh(self) -> LookupFailure:
        return self.kind(self.message)


class BoundedCache:
    """A least-recently-used mapping that also remembers lookups that failed."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: OrderedDict = OrderedDict()

    def __contains__(self, key) -> bool:
        return key in self._entries

    def put(self, key, value) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get_or_compute(self, key, compute):
        try:
            value = self._entries[key]
            self._entries.move_to_end(key)
        except KeyError:
            try:
                value = compute()
            except LookupFailure as exc:  # remembered so that a missing user costs one lookup a run
                value = RememberedFailure(type(exc), str(exc))
            self.put(key, value)
        if isinstance(value, RememberedFailure):
            raise value.fresh()
        return value


class PlatformLookups:
    """The user and course lookups of one run; install with :meth:`installed`."""

    def __init__(self, max_entries: int = CACHE_ENTRIES):
        self._actor_ids = BoundedCache(max_entries)
        self._courses = BoundedCache(max_entries)

    def prefetch_actors(self, keys, external_type: str) -> None:
        """Resolve, in bulk, the users of a block of events that the cache does not hold yet."""
        missing = [key for key in set(keys) if key and (key, external_type) not in self._actor_ids]
        if missing:
            for key, anonymous_id in bulk_anonymous_user_ids(missing, external_type).items():
                self._actor_ids.put((key, external_type), anonymous_id)

    def get_anonymous_user_id(self, username_or_id, external_type):
        return self._actor_ids.get_or_compute(
            (username_or_id, external_type), lambda: self._lookup_anonymous_user_id(username_or_id, external_type)
        )

    def get_course_from_id(self, course_id):
        return self._courses.get_or_compute(course_id, lambda: self._lookup_course(course_id))

    @staticmethod
    def _lookup_anonymous_user_id(username_or_id, external_type):
        if username_or_id in (None, ""):
            raise AnonymousUser("the event has no user (a visitor not logged in)")
        if not erb_helpers.get_user(username_or_id):
            raise UnknownUser("no user with this user id or username")
        return ERB_GET_ANONYMOUS_USER_ID.__wrapped__(username_or_id, external_type)

    @staticmethod
    def _lookup_course(course_id):
        try:
            return ERB_GET_COURSE_FROM_ID.__wrapped__(course_id)
        except InvalidKeyError:
            raise BadCourseKey("the course id is not a valid course key") from None
        except ValueError as exc:
            if type(exc) is ValueError:  # ERB's "Course with id ... does not exist."
                raise UnknownCourse("no course overview for this course id") from None
            raise

    @contextmanager
    def installed(self):
        """
        Route ERB's lookups through this object for the duration of the block. The helpers
        are imported by name into several ERB modules, so each binding is replaced and restored.
        """
        replacements = {
            ERB_GET_ANONYMOUS_USER_ID: self.get_anonymous_user_id,
            ERB_GET_COURSE_FROM_ID: self.get_course_from_id,
        }
        patched = []
        for module_name, module in list(sys.modules.items()):
            if not module_name.startswith("event_routing_backends") or module is None:
                continue
            for attribute in ("get_anonymous_user_id", "get_course_from_id"):
                original = module.__dict__.get(attribute)
                if original in replacements:
                    setattr(module, attribute, replacements[original])
                    patched.append((module, attribute, original))
        quieted = [(logging.getLogger(name), logging.getLogger(name).level) for name in ERB_LOGGERS_WITH_PERSONAL_DATA]
        for logger, _ in quieted:
            logger.setLevel(logging.ERROR)
        try:
            yield self
        finally:
            for module, attribute, original in patched:
                setattr(module, attribute, original)
            for logger, level in quieted:
                logger.setLevel(level)
