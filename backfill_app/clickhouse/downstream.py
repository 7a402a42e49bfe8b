"""
The tables fed from Aspects' raw xAPI table by materialized views, found in the server's own
catalogue (``system.tables``): what a replaced statement reached besides the raw table.

A materialized view runs on insert only. A statement deleted from the raw table stays in every
table its insert fed, so a replacement deletes it there too, by ``event_id``, wherever a table
has one (aspects-dbt's ``xapi_events_all_parsed`` and the ``*_events`` tables). A table without
one (an aggregate of counts, a learner's latest state) cannot lose one statement's share: it keeps
it until dbt builds it again, and the run says which and how.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backfill_app.clickhouse.sql import sql_string
from backfill_app.core.errors import BackfillConfigError

# "CREATE MATERIALIZED VIEW db.name TO db.target (columns) AS SELECT ...", as system.tables shows it.
TARGET = re.compile(r"^CREATE MATERIALIZED VIEW\s+\S+\s+TO\s+(?P<database>`[^`]+`|[^.\s]+)\.(?P<table>`[^`]+`|[^\s(]+)")


@dataclass(frozen=True)
class DownstreamTable:
    database: str
    table: str
    by_event_id: bool  # has an event_id column: a statement's rows can be deleted
    has_emission_time: bool

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    @property
    def qualified(self) -> str:
        return f"`{self.database}`.`{self.table}`"


def downstream_tables(client, database: str, table: str) -> list[DownstreamTable]:
    """Every table fed, directly or through others, by materialized views reading ``database.table``."""
    found: list[DownstreamTable] = []
    seen = {(database, table)}
    reading = [(database, table)]
    while reading:
        source = reading.pop(0)
        for target in _targets_of_views_reading(client, *source):
            if target not in seen:
                seen.add(target)
                found.append(_described(client, *target))
                reading.append(target)
    return found


def _targets_of_views_reading(client, database: str, table: str) -> list[tuple[str, str]]:
    rows = client.query(
        "SELECT dependencies_database, dependencies_table FROM system.tables "
        f"WHERE database = {sql_string(database)} AND name = {sql_string(table)}"
    ).result_rows
    targets = []
    for view_databases, view_names in rows:
        for view_database, view_name in zip(view_databases, view_names, strict=True):
            target = _target_of_view(client, view_database, view_name)
            if target is not None:
                targets.append(target)
    return targets


def _target_of_view(client, database: str, view: str) -> tuple[str, str] | None:
    """The table a materialized view inserts into; None for a plain view or one that refreshes itself whole."""
    rows = client.query(
        "SELECT engine, create_table_query, toString(uuid) FROM system.tables "
        f"WHERE database = {sql_string(database)} AND name = {sql_string(view)}"
    ).result_rows
    if not rows:
        raise BackfillConfigError(_unknown_view(database, view, "this ClickHouse user cannot see it"))
    engine, create, uuid = rows[0]
    if engine != "MaterializedView" or " REFRESH " in create:
        return None  # no rows of its own, or made again from its query on a schedule
    matched = TARGET.match(create)
    if matched:
        return matched["database"].strip("`"), matched["table"].strip("`")
    # Without TO, the view keeps its rows in an inner table of its own database.
    for inner in (f".inner_id.{uuid}", f".inner.{view}"):
        if client.query(
            f"SELECT 1 FROM system.tables WHERE database = {sql_string(database)} AND name = {sql_string(inner)}"
        ).result_rows:
            return database, inner
    raise BackfillConfigError(_unknown_view(database, view, "its table is neither named (TO) nor an inner table"))


def _unknown_view(database: str, view: str, why: str) -> str:
    return (
        f"--replace_drifted: the materialized view {database}.{view} reads the raw xAPI table, but where it "
        f"writes is unknown ({why}): a replaced statement's rows there could not be deleted. Grant this user "
        "SHOW on it, or leave --replace_drifted out."
    )


def _described(client, database: str, table: str) -> DownstreamTable:
    columns = {
        name
        for (name,) in client.query(
            f"SELECT name FROM system.columns WHERE database = {sql_string(database)} AND table = {sql_string(table)}"
        ).result_rows
    }
    return DownstreamTable(database, table, "event_id" in columns, "emission_time" in columns)
