"""
The user key of an event (ERB's ``extract_username_or_userid``: whatever JSON value the line
holds) -> what the platform's database may be asked about it.

ERB's ``get_user`` tries ``int(key)`` as a user id, then the key as a username. Any JSON value
can arrive there: an object, a list, a float, ``true``, an integer beyond 64 bits, a string
with a lone UTF-16 surrogate or 100 kB long. Handed to a database driver as they are, some of
those end the whole run (``TypeError: unhashable``, ``OverflowError``, ``UnicodeEncodeError``,
a query larger than the server accepts). This module is the one place that decides, for every
key, which id and which username would be looked up, the way ERB's own code reads them, and
refuses the keys no database can be asked about (:class:`BadUserKey`): their events are set
aside, the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass

from backfill_app.transform.lookup_failures import BadUserKey

# Primary keys of the platform's tables are signed 64-bit integers (sqlite, MySQL BIGINT).
LARGEST_DATABASE_ID = 2**63 - 1
# Django's auth_user.username is a varchar(150): a longer name matches no user.
LONGEST_USERNAME = 150


@dataclass(frozen=True, slots=True)
class UserQuery:
    """What ERB's ``get_user`` asks the database for a key: a user id first, then a username."""

    user_id: int | None
    username: str | None  # None: longer than any username, no user can have it


def user_query(key) -> UserQuery:
    """
    The user id and username ERB would look ``key`` up by; raises :class:`BadUserKey` for a key
    no database can be asked about. Falsy keys (no user) are the caller's to handle first.

    As ERB: ``int(key)`` for the id (so ``"7"``, ``" 7"``, ``7.9`` and ``true`` are ids 7, 7, 7
    and 1), else the key as Django compares it to a username (``str(key)``). An id beyond
    64 bits is refused: sqlite's driver raises on it, and on MySQL it names no user.
    """
    if isinstance(key, dict | list):
        kind = "object" if isinstance(key, dict) else "list"
        raise BadUserKey(f"the event's user is a JSON {kind}, not a user id or username")
    try:
        user_id: int | None = int(key)
    except (ValueError, TypeError):  # not a number (or more than 4,300 digits): a username
        user_id = None
    except OverflowError:  # int(inf): ERB's get_user raises on it too
        raise BadUserKey("the event's user is an infinite number") from None
    if user_id is not None and not -LARGEST_DATABASE_ID - 1 <= user_id <= LARGEST_DATABASE_ID:
        raise BadUserKey("the event's user id is beyond the 64 bits of the platform's ids")
    username = key if isinstance(key, str) else str(key)
    try:
        username.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON): no driver can send it
        raise BadUserKey("the event's user name is not valid Unicode (a lone surrogate)") from None
    return UserQuery(user_id, username if len(username) <= LONGEST_USERNAME else None)
