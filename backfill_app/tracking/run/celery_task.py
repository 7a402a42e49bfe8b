"""
The Celery task of ``transform_tracking_logs --distributed``: one work unit per task (tracking/work.py).

Acknowledged late and sent again when its worker process dies, so a killed worker's shard
runs again; it resumes from the shard's checkpoint and the destinations drop statement ids
they already hold, so nothing is duplicated.
"""

from __future__ import annotations

import time

from celery import shared_task

TRANSFORM_SHARD_TASK = "backfill_app.transform_shard"
PROGRESS_REPORT_SECS = 2.0  # how often a task tells the waiting command how far it got
# How much of a task's result Celery writes to the worker's log: the shard and its size, never
# the lines set aside (personal data), which come last in the result (unit_task.py).
RESULT_LOGGED_CHARS = 120


# A worker process that dies (kill -9, out of memory) sends its shard back to the queue: at
# most WORKER_LOST_RETRIES times, so a shard that kills every worker ends as a failed task.
WORKER_LOST_RETRIES = 3


@shared_task(
    bind=True,
    name=TRANSFORM_SHARD_TASK,
    acks_late=True,
    reject_on_worker_lost=True,  # a Celery without retry_on_worker_lost: requeued, unbounded
    retry_on_worker_lost=True,
    max_retries=WORKER_LOST_RETRIES,
    default_retry_delay=1,
    resultrepr_maxsize=RESULT_LOGGED_CHARS,
)
def transform_shard(self, payload: dict) -> dict:
    from backfill_app.tracking.run.unit_task import run_unit_task

    last_report = 0.0

    def report_progress(done_bytes: int) -> None:
        nonlocal last_report
        if time.monotonic() - last_report >= PROGRESS_REPORT_SECS:
            last_report = time.monotonic()
            self.update_state(state="PROGRESS", meta={"done_bytes": done_bytes})

    return run_unit_task(payload, report_progress)
