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

from event_routing_backends import helpers as erb_helpers

# ERB's helpers log usernames at WARNING/INFO when a user is missing: personal data that a
# backfill must keep out of its logs (the dead-letter file records the event instead).
ERB_LOGGERS_WITH_PERSONAL_DATA = ("event_routing_backends.helpers",)

CACHE_ENTRIES = 200_000

# ERB's own lookups, kept before any run replaces their bindings (helpers' included).
ERB_GET_ANONYMOUS_USER_ID = erb_helpers.get_anonymous_user_id
ERB_GET_COURSE_FROM_ID = erb_helpers.get_course_from_id


class UnknownUser(ValueError):
    """No user matches the event's user id or username."""


class UnknownCourse(ValueError):
    """No course overview matches the event's course id."""


class BoundedCache:
    """A least-recently-used mapping that also holds failures (as the exception to raise)."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: OrderedDict = OrderedDict()

    def get_or_compute(self, key, compute):
        try:
            value = self._entries[key]
            self._entries.move_to_end(key)
        except KeyError:
            try:
                value = compute()
            except Exception as exc:  # remembered so that a missing user costs one lookup a run
                value = exc
            self._entries[key] = value
            if len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        if isinstance(value, Exception):
            raise value
        return value


class PlatformLookups:
    """The user and course lookups of one run; install with :meth:`installed`."""

    def __init__(self, max_entries: int = CACHE_ENTRIES):
        self._actor_ids = BoundedCache(max_entries)
        self._courses = BoundedCache(max_entries)

    def get_anonymous_user_id(self, username_or_id, external_type):
        return self._actor_ids.get_or_compute(
            (username_or_id, external_type), lambda: self._lookup_anonymous_user_id(username_or_id, external_type)
        )

    def get_course_from_id(self, course_id):
        return self._courses.get_or_compute(course_id, lambda: self._lookup_course(course_id))

    @staticmethod
    def _lookup_anonymous_user_id(username_or_id, external_type):
        if not erb_helpers.get_user(username_or_id):
            raise UnknownUser("no user with this user id or username")
        return ERB_GET_ANONYMOUS_USER_ID.__wrapped__(username_or_id, external_type)

    @staticmethod
    def _lookup_course(course_id):
        try:
            return ERB_GET_COURSE_FROM_ID.__wrapped__(course_id)
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
