"""
The databases a run reads and writes answer before it starts, or one sentence names the one
that does not (engine, host, port, database; never a password), instead of a traceback
halfway through a backfill. Mid-run, a database error is told apart: a database that refused
one event's value (the event is set aside) or one that stopped answering (the run stops).
"""

from __future__ import annotations

from backfill_app.core.errors import BackfillConfigError, PlatformDatabaseUnavailable
from backfill_app.core.redaction import short_reason


def _used_aliases() -> list[str]:
    """Where this app's state is written, and where the platform's users and external ids are read."""
    from django.contrib.auth import get_user_model
    from django.db import router
    from event_routing_backends import helpers as erb_helpers

    from backfill_app.models import SourceCheckpoint

    used = [router.db_for_write(SourceCheckpoint), router.db_for_read(get_user_model())]
    if erb_helpers.ExternalId is not None:
        used.append(router.db_for_write(erb_helpers.ExternalId))
    return list(dict.fromkeys(used))


def describe(alias: str) -> str:
    from django.db import connections

    settings = connections[alias].settings_dict
    vendor = connections[alias].vendor
    if vendor == "sqlite":
        return f"the {alias!r} database (sqlite at {settings['NAME']})"
    where = f"{settings.get('HOST') or 'localhost'}:{settings.get('PORT') or 'default port'}/{settings.get('NAME')}"
    return f"the {alias!r} database ({vendor} at {where})"


def require_databases() -> None:
    from django.db import DatabaseError, connections

    for alias in _used_aliases():
        try:
            connections[alias].ensure_connection()
        except DatabaseError as exc:
            password = connections[alias].settings_dict.get("PASSWORD")
            raise BackfillConfigError(f"Cannot reach {describe(alias)}: {short_reason(exc, [password])}") from None


def _unreachable() -> str | None:
    """The first database of the run that does not answer a trivial query now, described; None when all do."""
    from django.db import DatabaseError, connections

    for alias in _used_aliases():
        connection = connections[alias]
        # A connection the error broke ("server has gone away") is replaced; one in a transaction
        # is left alone (closing it would end the transaction of whoever holds it).
        if connection.connection is not None and not connection.in_atomic_block and not connection.is_usable():
            connection.close()
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except DatabaseError as exc:
            password = connection.settings_dict.get("PASSWORD")
            return f"{describe(alias)} stopped answering: {short_reason(exc, [password])}"
    return None


def stop_if_unreachable() -> None:
    """
    After a database error while events were handled: raise PlatformDatabaseUnavailable when a
    database of the run no longer answers (an outage stops the run; it must not set every line
    aside), return when they all do (the database refused a value of the events).
    """
    unreachable = _unreachable()
    if unreachable is not None:
        raise PlatformDatabaseUnavailable(unreachable)
