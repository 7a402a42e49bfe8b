"""
--object auth_user: delete the personal data rows of retired users from ClickHouse, never
without being told so: first what would go, then --confirm_delete to do it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from backfill_app.clickhouse.sql import chunks, sql_literal
from backfill_app.dump.personal_data import personal_models
from backfill_app.dump.platform_models import platform_model
from backfill_app.dump.tables import EVENT_SINK_TABLES

# The platform renames a retired user to this prefix plus a hash (RETIRED_USERNAME_PREFIX).
DEFAULT_RETIRED_PREFIX = "retired__user_"


@dataclass
class RetirementPlan:
    user_ids: list[int]
    rows_per_table: dict[str, int]

    def lines_of_text(self, database: str) -> list[str]:
        lines = [f"Retired users whose personal data rows would be deleted: {len(self.user_ids)}"]
        lines += [f"  {database}.{table}: {count} rows" for table, count in sorted(self.rows_per_table.items())]
        return lines


@dataclass
class RetirementSummary:
    """What ``--object auth_user`` found and whether it deleted it: the ``--summary_json`` fields."""

    destination: str
    plan: RetirementPlan
    deleted: bool = False

    def to_json(self) -> dict:
        return {
            "object": "auth_user",
            "destination": self.destination,
            "retired_users": len(self.plan.user_ids),
            "rows_per_table": dict(sorted(self.plan.rows_per_table.items())),
            "deleted": self.deleted,
        }


def retired_user_ids(ids: tuple[str, ...]) -> list[int]:
    """The users named by --ids, or every user the platform has renamed on retirement."""
    if ids:
        return sorted({int(value) for value in ids})
    prefix = getattr(settings, "RETIRED_USERNAME_PREFIX", DEFAULT_RETIRED_PREFIX)
    User = platform_model("auth_user")
    return list(User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True))


def pii_tables() -> list[str]:
    """The event_sink tables of the models that hold personal data (``auth_user`` is a model, not a table)."""
    return sorted(model for model in personal_models() if model in EVENT_SINK_TABLES)


def plan_retirement(client, database: str, user_ids: list[int]) -> RetirementPlan:
    counts = {}
    for table in pii_tables():
        total = 0
        for chunk in chunks(user_ids):
            listed = ", ".join(map(sql_literal, chunk))
            total += int(client.command(f"SELECT count() FROM `{database}`.`{table}` WHERE user_id IN ({listed})"))
        counts[table] = total
    return RetirementPlan(user_ids, counts)


def delete_retired(client, database: str, plan: RetirementPlan) -> None:
    for table in plan.rows_per_table:
        for chunk in chunks(plan.user_ids):
            client.command(
                f"ALTER TABLE `{database}`.`{table}` DELETE WHERE user_id IN ({', '.join(map(sql_literal, chunk))}) "
                "SETTINGS mutations_sync = 2"
            )
