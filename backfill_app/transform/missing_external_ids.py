"""
``create_external_ids``: the external ids the live pipeline would have created at users'
first events, created on the platform's primary database, so that events set aside as
``no_external_id`` (a read replica cannot create them) can be transformed by a rerun with
the ids the LMS itself will use from then on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from backfill_app.core.databases import require_databases
from backfill_app.core.errors import BackfillConfigError, Refused
from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
from backfill_app.transform.lookups import (
    create_external_ids,
    external_id_type,
    external_ids_creatable,
    known_users,
)
from backfill_app.transform.statements import StatementTransformer

BATCH_USERS = 1_000


@dataclass
class ExternalIdReport:
    users: int = 0  # named (or all users)
    unknown: int = 0  # named but not in the database
    created: int = 0
    type_name: str = "xapi"

    def to_json(self) -> dict:
        return {
            "type": self.type_name,
            "users": self.users,
            "unknown_users": self.unknown,
            "created": self.created,
            "already_had_one": self.users - self.unknown - self.created,
        }

    def lines_of_text(self) -> list[str]:
        data = self.to_json()
        return [
            f"Users: {data['users']}"
            + (f" ({data['unknown_users']} not in this database)" if data["unknown_users"] else ""),
            f"External ids of type {data['type']} created: {data['created']}",
            f"Already had one: {data['already_had_one']}",
        ]


def user_keys_set_aside(paths: list[str], transformer_type: str) -> set:
    """The users of the lines set aside as ``no_external_id`` in these dead-letter files."""
    transformer = StatementTransformer(transformer_type)
    keys = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8") as stream:
                entries = [json.loads(text) for text in stream if text.strip()]
        except (OSError, ValueError) as exc:
            raise BackfillConfigError(f"{path}: not a dead-letter file ({type(exc).__name__}).") from None
        for entry in entries:
            if entry.get("reason") != "no_external_id" or not entry.get("line"):
                continue
            try:
                key = transformer.user_key(parse_tracking_line(entry["line"]))
            except BadLine:
                continue
            if key not in (None, ""):
                keys.add(key)
    return keys


def create_missing_external_ids(transformer_type: str, user_keys: set | None) -> ExternalIdReport:
    """For the users named (user ids or usernames), or every user when ``user_keys`` is None."""
    require_databases()
    id_type = external_id_type(transformer_type.upper())
    if id_type is None:
        raise BackfillConfigError(f"This database has no external id type {transformer_type!r}: run its migrations.")
    if not external_ids_creatable():
        raise Refused(
            "The platform database is read-only here: point BACKFILL_DATABASE at the primary, with a user "
            "allowed to insert into external_user_ids_externalid, to create the ids."
        )
    report = ExternalIdReport(type_name=transformer_type)
    for user_ids in _user_id_batches(user_keys, report):
        report.created += create_external_ids(set(user_ids), id_type)
    return report


def _user_id_batches(user_keys: set | None, report: ExternalIdReport):
    if user_keys is not None:
        found = known_users(list(user_keys))
        report.users, report.unknown = len(user_keys), len(user_keys) - len(found)
        user_ids = sorted(set(found.values()))
        for start in range(0, len(user_ids), BATCH_USERS):
            yield user_ids[start : start + BATCH_USERS]
        return
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.order_by("pk")
    last = 0
    while batch := list(users.filter(pk__gt=last).values_list("pk", flat=True)[:BATCH_USERS]):
        report.users += len(batch)
        last = batch[-1]
        yield batch
