"""Aspects' ClickHouse schema: created in the embedded engine, only checked on a server."""

from __future__ import annotations

from importlib import resources

from backfill_app.core.errors import BackfillConfigError

# The raw xAPI table of Aspects' default install (Vector's database), the model of one in another.
RAW_XAPI_TABLE = "openedx.xapi_events_all"
# Its columns, in order, as Ralph and Vector write them (and this app: RowBinary, statement files).
RAW_XAPI_COLUMNS = (("event_id", "UUID"), ("emission_time", "DateTime64(6)"), ("event", "String"))


def aspects_schema_statements() -> list[str]:
    """The CREATE statements of Aspects' final schema (``aspects_schema.sql``), in order."""
    text = resources.files("backfill_app.clickhouse").joinpath("aspects_schema.sql").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def create_aspects_schema(client) -> None:
    """Idempotent: every statement is CREATE ... IF NOT EXISTS."""
    for statement in aspects_schema_statements():
        client.command(statement)


def require_table(client, database: str, table: str, where: str) -> None:
    """Never create or alter a server's tables: say clearly when the table is missing."""
    exists = client.command(f"EXISTS TABLE `{database}`.`{table}`")
    if str(exists).strip() != "1":
        raise BackfillConfigError(
            f"Table {database}.{table} does not exist in {where}: create it with Aspects' migrations "
            "(tutor local do init --limit aspects) or name another with 'database'/'table'."
        )


def create_raw_xapi_table(client, database: str, table: str) -> None:
    """The raw xAPI table where the settings name one that Aspects' schema does not create."""
    client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    client.command(f"CREATE TABLE IF NOT EXISTS `{database}`.`{table}` AS {RAW_XAPI_TABLE}")


def open_xapi_table(xapi):
    """
    A client on ``xapi.target`` whose xAPI table exists; every failure names the table and why it
    was chosen (``xapi.chosen_from``). The embedded engine gets Aspects' schema and, where the
    settings name another, the raw table there (one named on the command line is only checked).
    """
    from backfill_app.clickhouse.connection import connect
    from backfill_app.core import conf

    client = connect(xapi.target, purpose=f" for {xapi.name} ({xapi.chosen_from})")
    if xapi.target.embedded and conf.get("BACKFILL_CLICKHOUSE_EMBEDDED_SCHEMA"):
        create_aspects_schema(client)
        if not xapi.named_by_command:
            create_raw_xapi_table(client, xapi.database, xapi.table)
    require_table(client, xapi.database, xapi.table, f"{xapi.target.describe()} ({xapi.chosen_from})")
    return client


def open_table(target, database: str, table: str):
    """
    A client on ``target`` whose ``database.table`` exists: on the embedded engine Aspects'
    schema is created first (BACKFILL_CLICKHOUSE_EMBEDDED_SCHEMA); a server is only checked.
    """
    from backfill_app.clickhouse.connection import connect
    from backfill_app.core import conf

    client = connect(target)
    if target.embedded and conf.get("BACKFILL_CLICKHOUSE_EMBEDDED_SCHEMA"):
        create_aspects_schema(client)
    require_table(client, database, table, target.describe())
    return client
