"""
What a Celery worker does with one work unit of --distributed: the same runner as every
other mode (tracking/unit_runner.py), writing to the run's destination itself and committing
its own checkpoints in the shared database, so a unit that runs again (a killed worker, a
rerun) resumes where it stopped.

Its result is a WorkResult as JSON for the command that waits on it: the counts, why it
stopped if it did, and the lines it set aside (the first ones; all stay in a file on the worker).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from backfill_app.core import conf
from backfill_app.core.own_process import require_own_process
from backfill_app.reporting.dead_letter import DeadLetterFile
from backfill_app.sinks.destinations import Destination
from backfill_app.tracking.checkpoints import CheckpointStore, NoCheckpoints
from backfill_app.tracking.statement_identity import lms_root_url_in_use, root_url_setting
from backfill_app.tracking.unit_runner import UnitOutlets, UnitRunner
from backfill_app.tracking.work import WorkResult, WorkUnit

# Lines set aside that travel back in a task result; a shard of garbage keeps the rest on the worker.
DEAD_LETTERS_RETURNED = 1_000


class ReturnedDeadLetters:
    """Every line set aside is kept in a file on the worker; the first ones also go back to the command."""

    def __init__(self, file: DeadLetterFile):
        self.file = file
        self.returned: list[dict] = []

    @property
    def written_path(self) -> str | None:
        return self.file.written_path

    def add(self, **entry) -> None:
        self.file.add(**entry)
        if len(self.returned) < DEAD_LETTERS_RETURNED:
            self.returned.append(entry)

    def close(self) -> None:
        self.file.close()


def unit_task_payload(unit: WorkUnit, destination: Destination) -> dict:
    return {
        "unit": unit.to_json(),
        "destination": destination.to_json(),
        "lms_root_url": settings.LMS_ROOT_URL,  # the one the command checked against the destination
    }


class WorkerSettingsDiffer(Exception):
    """The worker would make other statement ids than the command checked: its task fails, saying why."""


def run_unit_task(payload: dict, progress_listener: Callable[[int], None] | None = None) -> dict:
    """
    The unit, with the command's LMS root URL (a worker whose own setting differs refuses it), in a
    process of the backfill's own (a worker of a threaded or gevent pool refuses it).
    """
    require_own_process()
    wanted = payload["lms_root_url"]
    if conf.get("BACKFILL_LMS_ROOT_URL_GIVEN") and settings.LMS_ROOT_URL != wanted:
        raise WorkerSettingsDiffer(
            f"this worker's {root_url_setting()} is {settings.LMS_ROOT_URL} and the command's {wanted}: its statement "
            f"ids would differ. Give every worker and the command the same {root_url_setting()}."
        )
    with lms_root_url_in_use(wanted):
        return _run_unit(payload, progress_listener).to_json()


def _run_unit(payload: dict, progress_listener: Callable[[int], None] | None) -> WorkResult:
    unit = WorkUnit.from_json(payload["unit"])
    sink = Destination.from_json(payload["destination"]).open().sink
    dead_letters = ReturnedDeadLetters(DeadLetterFile.for_command(None, "transform_tracking_logs-shard"))
    checkpoints = CheckpointStore(unit.checkpoint_key) if unit.checkpoint_key else NoCheckpoints()
    try:
        # A new runner for each task: a prefork worker's process serves tasks of other runs too.
        result = UnitRunner().run(
            unit, UnitOutlets(sink, checkpoints, dead_letters, progress_listener=progress_listener)
        )
    finally:
        sink.close()
    result.dead_letters = dead_letters.returned
    result.dead_letters_total = dead_letters.file.count
    result.dead_letter_file = dead_letters.written_path
    return result
