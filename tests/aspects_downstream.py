"""
Aspects' tables downstream of the raw xAPI table (tests/fixtures/aspects_dbt/downstream.sql,
rendered from aspects-dbt by scripts/aspects_dbt/render_downstream.py) built on the suite's
embedded ClickHouse, twice: as Aspects names them (``openedx``, ``reporting``), and under
``reference_*`` databases, fed with what today's ERB makes, to compare with.
"""

from __future__ import annotations

import re
from pathlib import Path

DOWNSTREAM_SQL = Path(__file__).parent / "fixtures" / "aspects_dbt" / "downstream.sql"
RAW = "openedx.xapi_events_all"
REFERENCE = "reference_"


def statements(prefix: str = "") -> list[str]:
    text = "\n".join(line for line in DOWNSTREAM_SQL.read_text().splitlines() if not line.startswith("--"))
    found = [statement.strip() for statement in re.split(r";\n", text) if statement.strip()]
    return [re.sub(r"\b(openedx|reporting)\.", rf"{prefix}\1.", statement) for statement in found]


class DownstreamChain:
    """The views and tables of one copy of the chain, made on ``create`` and dropped on ``drop``."""

    def __init__(self, client, prefix: str = ""):
        self.client = client
        self.prefix = prefix
        self.raw = f"{prefix}{RAW}"
        self.not_created: list[str] = []  # models reading dbt models that are not views (not rendered)

    def create(self) -> None:
        self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.prefix}reporting")
        if self.prefix:
            self.client.command(f"CREATE DATABASE IF NOT EXISTS {self.prefix}openedx")
            self.client.command(f"CREATE TABLE IF NOT EXISTS {self.raw} AS {RAW}")
        for statement in statements(self.prefix):
            try:
                self.client.command(statement)
            except Exception as exc:  # noqa: BLE001 (a model reading a dictionary or a dbt view: named)
                self.not_created.append(f"{statement.splitlines()[0]}: {str(exc).splitlines()[0][:120]}")

    def tables(self) -> list[tuple[str, str]]:
        """(database, table) of every table the chain made, views left out."""
        return [
            (database, name)
            for database, name in self.client.query(
                "SELECT database, name FROM system.tables WHERE database IN "
                f"('{self.prefix}openedx', '{self.prefix}reporting') AND engine != 'MaterializedView' "
                "AND name != 'xapi_events_all' AND name != '_tracking' ORDER BY database, name"
            ).result_rows
        ]

    def drop(self) -> None:
        views = self.client.query(
            "SELECT database, name FROM system.tables WHERE engine = 'MaterializedView' AND database IN "
            f"('{self.prefix}openedx', '{self.prefix}reporting')"
        ).result_rows
        for database, name in views:
            self.client.command(f"DROP TABLE `{database}`.`{name}`")
        for database, name in self.tables():
            self.client.command(f"DROP TABLE `{database}`.`{name}`")
        self.client.command(f"DROP DATABASE IF EXISTS {self.prefix}reporting")
        if self.prefix:
            self.client.command(f"DROP DATABASE IF EXISTS {self.prefix}openedx")
        else:
            self.client.command(f"TRUNCATE TABLE {RAW}")

    def most_rows_of_one_event_id(self, database: str, table: str) -> int:
        """Before any merge: a ReplacingMergeTree would fold two rows of one sort key into one."""
        qualified = f"`{self.prefix}{database}`.`{table}`"
        return int(self.client.command(f"SELECT max(n) FROM (SELECT count() AS n FROM {qualified} GROUP BY event_id)"))

    def rows(self, database: str, table: str) -> list[tuple]:
        """A table's rows, aggregate states finished, merged first (what a dashboard's query reads)."""
        qualified = f"`{self.prefix}{database}`.`{table}`"
        self.client.command(f"OPTIMIZE TABLE {qualified} FINAL")
        columns = self.client.query(
            f"SELECT name, type FROM system.columns WHERE database = '{self.prefix}{database}' "
            f"AND table = '{table}' ORDER BY position"
        ).result_rows
        select = ", ".join(
            f"finalizeAggregation(`{name}`)" if kind.startswith("AggregateFunction") else f"`{name}`"
            for name, kind in columns
        )
        return self.client.query(f"SELECT {select} FROM {qualified} ORDER BY ALL").result_rows

    def rebuild(self, database: str, table: str) -> None:
        """What ``dbt run --full-refresh --select <table>`` does to a view's table: made again from its query."""
        (as_select,) = self.client.query(
            f"SELECT as_select FROM system.tables WHERE database = '{self.prefix}{database}' AND name = '{table}_mv'"
        ).result_rows[0]
        self.client.command(f"TRUNCATE TABLE `{self.prefix}{database}`.`{table}`")
        self.client.command(f"INSERT INTO `{self.prefix}{database}`.`{table}` {as_select}")
