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
from collections import OrderedDict, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache

from django.db import DatabaseError
from event_routing_backends import helpers as erb_helpers
from opaque_keys import InvalidKeyError

from backfill_app.core.databases import stop_if_unreachable
from backfill_app.transform.lookup_failures import (
    AnonymousUser,
    BadCourseKey,
    BadUserKey,
    LookupFailure,
    NoExternalId,
    UnknownCourse,
    UnknownUser,
)
from backfill_app.transform.user_keys import user_query

# ERB's helpers log usernames at WARNING/INFO when a user is missing: personal data that a
# backfill must keep out of its logs (the dead-letter file records the event instead).
ERB_LOGGERS_WITH_PERSONAL_DATA = ("event_routing_backends.helpers",)

CACHE_ENTRIES = 200_000
NO_EXTERNAL_ID = "the user has no external id of this type yet, and this database is read-only here"
UNKNOWN_USER = "no user with this user id or username"

# ERB's own lookups, kept before any run replaces their bindings (helpers' included).
ERB_GET_ANONYMOUS_USER_ID = erb_helpers.get_anonymous_user_id
ERB_GET_COURSE_FROM_ID = erb_helpers.get_course_from_id


def user_queries(keys) -> dict:
    """
    What a database is asked about each of ``keys`` (any JSON values, as events give them), as
    key -> :class:`UserQuery`. Keys that are empty, or that no database can be asked about,
    are left out: each event's own lookup decides about them.
    """
    queries = {}
    for key in keys:
        if not key or isinstance(key, dict | list):  # no user, or unhashable
            continue
        try:
            queries[key] = user_query(key)
        except BadUserKey:
            continue
    return queries


def resolve_user_ids(keys, queries: dict | None = None) -> dict:
    """
    The users that exist among ``keys``, as key -> user id: by id, or failing that by username,
    as ERB's ``get_user`` does (:func:`user_queries`); two queries for the lot. Keys of no user
    are left out. Reads only. ``queries``: :func:`user_queries` of the keys, when made already.
    """
    from django.contrib.auth import get_user_model

    User = get_user_model()
    queries = user_queries(keys) if queries is None else queries
    ids = {query.user_id for query in queries.values() if query.user_id is not None}
    found_ids = set(User.objects.filter(id__in=ids).values_list("id", flat=True)) if ids else set()
    user_of = {key: query.user_id for key, query in queries.items() if query.user_id in found_ids}
    keys_named = defaultdict(list)
    for key, query in queries.items():
        if key not in user_of and query.username is not None:
            keys_named[query.username].append(key)
    if keys_named:
        for user_id, username in User.objects.filter(username__in=list(keys_named)).values_list("id", "username"):
            for key in keys_named.get(username, ()):
                user_of[key] = user_id
    return user_of


def known_users(keys: list) -> dict:
    """
    :func:`resolve_user_ids`, where a key whose value the database refuses is left out alone
    (the others are looked up one by one); a database that stopped answering stops the run.
    """
    try:
        return resolve_user_ids(keys)
    except DatabaseError:
        stop_if_unreachable()
    found = {}
    for key in keys:
        try:
            found.update(resolve_user_ids([key]))
        except DatabaseError:
            stop_if_unreachable()
    return found


def retired_users_looked_up_by_name() -> bool:
    """True standalone: ERB's retired-user lookup is ours there, a username query (no retirement records)."""
    from backfill_app.standalone.platform_lookups import get_potentially_retired_user_by_username

    return erb_helpers.get_potentially_retired_user_by_username is get_potentially_retired_user_by_username


@cache
def external_ids_creatable() -> bool:
    """
    May this process create the external ids the live pipeline creates on first use? Not on
    a read replica, nor with a database user allowed only to read: tried once per process
    with an insert of no row, rolled back.
    """
    from django.db import DatabaseError, connections, router, transaction

    model = erb_helpers.ExternalId
    alias = router.db_for_write(model)
    quote = connections[alias].ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in model._meta.concrete_fields if not field.primary_key)
    try:
        with transaction.atomic(using=alias):
            with connections[alias].cursor() as cursor:
                cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE 1 = 0")
            transaction.set_rollback(True, using=alias)
    except DatabaseError:
        return False
    return True


def external_id_type(external_type: str):
    """The platform's ExternalIdType row for ``XAPI`` / ``CALIPER`` (LTI where the platform predates them)."""
    ExternalIdType = erb_helpers.ExternalIdType
    return ExternalIdType.objects.filter(name=getattr(ExternalIdType, external_type, ExternalIdType.LTI)).first()


def create_external_ids(user_ids: set, id_type) -> int:
    """
    The ids the live pipeline would create on first use (the platform's model, a uuid4 each),
    for users that have none, in one bulk insert; returns how many were created.
    """
    ExternalId = erb_helpers.ExternalId
    existing = set(
        ExternalId.objects.filter(external_id_type=id_type, user_id__in=user_ids).values_list("user_id", flat=True)
    )
    created = ExternalId.objects.bulk_create(
        [ExternalId(user_id=user_id, external_id_type=id_type) for user_id in set(user_ids) - existing],
        ignore_conflicts=True,
    )
    return len(created)


@dataclass(frozen=True)
class ActorIds:
    """
    What a block's user keys resolve to: anonymous ids, the users who have none (not created),
    and the keys asked about that matched no user by id or by name.
    """

    anonymous_ids: dict
    without_id: frozenset = frozenset()
    no_user: frozenset = frozenset()


def bulk_anonymous_user_ids(keys: list, external_type: str, create_missing: bool = True, id_type=None) -> ActorIds:
    """
    ERB's ``get_anonymous_user_id`` for many users at once: the users (:func:`resolve_user_ids`),
    their external ids in one more query, and the missing ones created in one bulk insert, as
    the live pipeline creates them (unless ``create_missing`` is off: a read-only database).
    Keys it cannot resolve here (unknown or retired users) are left out, for ERB's own path.
    ``id_type``: the ExternalIdType row, when the caller has read it already.
    """
    id_type = id_type or external_id_type(external_type)
    if id_type is None:
        return ActorIds({})
    queries = user_queries(keys)
    user_of = resolve_user_ids(keys, queries)
    users = set(user_of.values())
    external_ids = erb_helpers.ExternalId.objects.filter(external_id_type=id_type)
    anonymous = dict(external_ids.filter(user_id__in=users).values_list("user_id", "external_user_id"))
    missing = users - set(anonymous)
    if missing and create_missing:
        create_external_ids(missing, id_type)
        # Read back: another process (the LMS itself) may have created some meanwhile.
        anonymous.update(external_ids.filter(user_id__in=missing).values_list("user_id", "external_user_id"))
    return ActorIds(
        {key: str(anonymous[user_id]) for key, user_id in user_of.items() if user_id in anonymous},
        frozenset(key for key, user_id in user_of.items() if user_id not in anonymous),
        frozenset(queries.keys() - user_of.keys()),
    )


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

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, key, value) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def get_or_compute(self, key, compute):
        try:
            value = self._entries[key]
            self._entries.move_to_end(key)
        except TypeError:  # an unhashable key (a JSON object or list from an event): nothing to keep
            return compute()
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
        self._id_types: dict = {}

    @property
    def entries(self) -> int:
        """Users and courses held for the rest of the run, found or remembered as missing."""
        return len(self._actor_ids) + len(self._courses)

    @property
    def creates_external_ids(self) -> bool:
        return external_ids_creatable()

    def prefetch_actors(self, keys, external_type: str) -> None:
        """
        Resolve, in bulk, the users of a block of events that the cache does not hold yet. Keys
        it cannot take (objects, lists) and a block the database refuses are left to each
        event's own lookup, which sets that event aside; a database that stopped answering
        stops the run (PlatformDatabaseUnavailable).
        """
        hashable = (key for key in keys if key and not isinstance(key, dict | list))
        missing = [key for key in dict.fromkeys(hashable) if (key, external_type) not in self._actor_ids]
        if not missing:
            return
        try:
            if external_type not in self._id_types:  # read once a run: a query for every block otherwise
                self._id_types[external_type] = external_id_type(external_type)
            id_type = self._id_types[external_type]
            if id_type is None:  # no such type: each event's own lookup says so
                return
            found = bulk_anonymous_user_ids(
                missing, external_type, create_missing=self.creates_external_ids, id_type=id_type
            )
        except DatabaseError:
            stop_if_unreachable()
            return
        for key, anonymous_id in found.anonymous_ids.items():
            self._actor_ids.put((key, external_type), anonymous_id)
        for key in found.without_id:
            self._actor_ids.put((key, external_type), RememberedFailure(NoExternalId, NO_EXTERNAL_ID))
        if retired_users_looked_up_by_name():
            # Where a retired user is a plain username lookup (standalone), the bulk lookup has
            # asked everything ERB's get_user would ask about a key: one that matched no user is
            # unknown, without three more queries each. In the LMS retirement records decide.
            for key in found.no_user:
                self._actor_ids.put((key, external_type), RememberedFailure(UnknownUser, UNKNOWN_USER))

    def get_anonymous_user_id(self, username_or_id, external_type):
        return self._actor_ids.get_or_compute(
            (username_or_id, external_type), lambda: self._lookup_anonymous_user_id(username_or_id, external_type)
        )

    def get_course_from_id(self, course_id):
        return self._courses.get_or_compute(course_id, lambda: self._lookup_course(course_id))

    def _lookup_anonymous_user_id(self, username_or_id, external_type):
        if username_or_id in (None, ""):
            raise AnonymousUser("the event has no user (a visitor not logged in)")
        user_query(username_or_id)  # BadUserKey for a value no database can be asked about
        user = erb_helpers.get_user(username_or_id)
        if not user:
            raise UnknownUser(UNKNOWN_USER)
        if self.creates_external_ids:
            return ERB_GET_ANONYMOUS_USER_ID.__wrapped__(username_or_id, external_type)
        existing = erb_helpers.ExternalId.objects.filter(user=user, external_id_type=external_id_type(external_type))
        anonymous_id = existing.values_list("external_user_id", flat=True).first()
        if anonymous_id is None:
            raise NoExternalId(NO_EXTERNAL_ID)
        return str(anonymous_id)

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
