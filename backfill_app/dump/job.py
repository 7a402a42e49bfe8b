"""
One ``dump_data_to_clickhouse`` run, from its request to its summary: the personal-data
gate, the ClickHouse to write to, then the dump of one --object, or for ``auth_user`` the
deletion of retired users' rows, shown first and done only when confirmed.
"""

from __future__ import annotations

from collections.abc import Callable

from backfill_app.clickhouse.connection import target_from_settings
from backfill_app.clickhouse.schema import open_table
from backfill_app.core import conf
from backfill_app.core.databases import require_databases
from backfill_app.core.errors import Refused, RunStopped, ServiceUnavailable
from backfill_app.dump import personal_data
from backfill_app.dump.request import DumpRequest
from backfill_app.dump.retirement import RetirementSummary, delete_retired, plan_retirement, retired_user_ids
from backfill_app.dump.runner import COURSE_OBJECT, MODEL_OBJECTS, Dump, DumpSummary
from backfill_app.dump.tables import COURSE_OVERVIEWS
from backfill_app.reporting.dead_letter import DeadLetterFile

RETIREMENT_OBJECT = "auth_user"
OBJECTS = sorted([COURSE_OBJECT, RETIREMENT_OBJECT, *MODEL_OBJECTS])


class DumpJob:
    def __init__(self, request: DumpRequest, announce: Callable[[str], None]):
        self.request = request
        self.announce = announce
        self.retirement: RetirementSummary | None = None  # auth_user: what was found, and whether deleted

    def run(self) -> DumpSummary | None:
        """The dump's summary (None for auth_user, whose outcome is announced and kept in ``retirement``)."""
        request = self.request
        require_databases()
        self._require_pii_allowed()
        target = target_from_settings(request.clickhouse.connection())
        database = request.clickhouse.database or conf.aspects_clickhouse_config().get("database") or "event_sink"
        client = open_table(target, database, COURSE_OVERVIEWS.name)
        destination = f"{database} in {target.describe()}"
        if request.object_name == RETIREMENT_OBJECT:
            self._delete_retired_users(client, database, destination)
            return None
        dump = Dump(
            client,
            database,
            request.dump,
            DeadLetterFile.for_command(request.dead_letter_path, "dump_data_to_clickhouse"),
            destination=destination,
        )
        try:
            return dump.run()
        except ServiceUnavailable as exc:  # ClickHouse, or the platform's database
            raise RunStopped(
                f"{exc}. Rerun the same command: what was written is not written again.", dump.summary
            ) from None

    def _require_pii_allowed(self) -> None:
        refused = personal_data.refusal(self.request.object_name)
        if refused and not self.request.force_pii and self.request.object_name != RETIREMENT_OBJECT:
            raise Refused(refused)

    def _delete_retired_users(self, client, database: str, destination: str) -> None:
        plan = plan_retirement(client, database, retired_user_ids(self.request.dump.ids))
        self.retirement = RetirementSummary(destination, plan)
        self.announce("\n".join(plan.lines_of_text(database)))
        if not self.request.confirm_delete:
            raise Refused("Nothing deleted: pass --confirm_delete to delete these rows.")
        delete_retired(client, database, plan)
        self.retirement.deleted = True
        self.announce(f"Deleted the personal data rows of {len(plan.user_ids)} retired users.")
