"""
What a Celery worker does with one shard of --distributed: the ordinary pipeline, writing
to the run's destination itself and committing its own checkpoints in the shared database,
so a shard that runs again (a killed worker, a rerun) resumes where it stopped.

Its result is JSON for the command that waits on it: the counts, why it stopped if it did,
and the lines it set aside (the first ones; all of them stay in a file on the worker).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from django.conf import settings

from backfill_app.core import conf
from backfill_app.core.errors import DestinationUnavailable
from backfill_app.core.own_process import require_own_process
from backfill_app.reporting.dead_letter import DeadLetterFile
from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import LogStore
from backfill_app.tracking.checkpoints import CheckpointStore, NoCheckpoints
from backfill_app.tracking.pipeline import BatchOptions, TrackingLogBackfill
from backfill_app.tracking.run.shards import Shard
from backfill_app.tracking.statement_identity import lms_root_url_in_use, root_url_setting
from backfill_app.transform.statements import StatementTransformer

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


def shard_task_payload(shard: Shard, destination: Destination, batch: BatchOptions) -> dict:
    return {
        "shard": shard.to_json(),
        "destination": destination.to_json(),
        "batch_size": batch.batch_size,
        "sleep_between_batches_secs": batch.sleep_between_batches_secs,
        "lms_root_url": settings.LMS_ROOT_URL,  # the one the command checked against the destination
    }


class WorkerSettingsDiffer(Exception):
    """The worker would make other statement ids than the command checked: its task fails, saying why."""


def run_shard(payload: dict, progress_listener: Callable[[int], None] | None = None) -> dict:
    """
    The shard, with the command's LMS root URL (a worker whose own setting differs refuses it), in a
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
        return _run_shard(payload, progress_listener)


def _run_shard(payload: dict, progress_listener: Callable[[int], None] | None) -> dict:
    shard = Shard.from_json(payload["shard"])
    store = LogStore(shard.location())
    whole, part = shard.find_object(store)
    if shard.window is not None:
        shard.window.prepare(store, [whole])
    sink = Destination.from_json(payload["destination"]).open().sink
    dead_letters = ReturnedDeadLetters(DeadLetterFile.for_command(None, "transform_tracking_logs-shard"))
    backfill = TrackingLogBackfill(
        store,
        StatementTransformer(shard.transformer_type, shard.verify_sample),
        sink,
        dead_letters,
        BatchOptions(
            batch_size=payload["batch_size"],
            sleep_between_batches_secs=payload["sleep_between_batches_secs"],
            quiet=True,
        ),
        checkpoints=CheckpointStore(shard.checkpoint_key) if shard.checkpoint_key else NoCheckpoints(),
        event_filter=shard.window,
        progress_listener=progress_listener,
    )
    try:
        summary = backfill.run([part])
    except DestinationUnavailable:
        summary = backfill.summary  # says where it stopped; a rerun continues from there
    finally:
        sink.close()
    # The lines set aside hold personal data: last, where the worker's "succeeded" log line,
    # cut at tasks.RESULT_LOGGED_CHARS, never reaches (the counts alone are longer than that).
    return {
        "shard": shard.label,
        "bytes": part.span,
        "stopped": summary.stopped,
        "counts": summary.counts_to_json(),
        "dead_letters_total": dead_letters.file.count,
        "dead_letter_file": dead_letters.written_path,
        "host": socket.gethostname(),
        "dead_letters": dead_letters.returned,
    }
