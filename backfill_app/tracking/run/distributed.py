"""
transform_tracking_logs --distributed: one Celery task per work unit on a named queue. This
process only enqueues, shows the progress the tasks report, and adds up their results
into the usual summary and dead-letter file; the workers read, transform and write.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from celery import current_app
from kombu.exceptions import OperationalError

from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.redaction import short_reason, url_without_credentials
from backfill_app.reporting.dead_letter import DeadLetters
from backfill_app.reporting.progress import ByteProgress
from backfill_app.reporting.summary import RunSummary
from backfill_app.sinks.destinations import Destination, OpenDestination
from backfill_app.tracking.run.unit_task import unit_task_payload
from backfill_app.tracking.work import WorkResult, WorkUnit

log = logging.getLogger(__name__)

POLL_SECS = 1.0
POLLS_PER_SEC = 500  # result look-ups a second at most: thousands of shards must not flood the backend
WORKER_REPLY_SECS = 2.0


def backend_errors(app) -> tuple[type[BaseException], ...]:
    """What the result backend raises when it is unreachable (its list also names KeyError: left out)."""
    listed = getattr(app.backend, "connection_errors", ())
    return (OperationalError, OSError, *(error for error in listed if error is not KeyError))


class StoppedWaiting(Exception):
    """The command stopped waiting (interrupted, or its result backend lost); the tasks go on without it."""


def require_shared_destination(destination: OpenDestination) -> None:
    """Workers on other machines must reach the destination: the embedded engine lives in one process."""
    if not destination.reachable_from_other_hosts:
        raise BackfillConfigError(
            f"--distributed cannot write to {destination.describe()}: the embedded engine belongs to one "
            'process. Give a ClickHouse server (--destination_config \'{"url": "http://host:8123"}\'), '
            "an LRS, or files on shared storage (S3, GCS, Azure...)."
        )


def broker_description(app) -> str:
    return url_without_credentials(str(app.conf.broker_url or "the default broker"))


def broker_unreachable(app, doing: str, exc: Exception) -> BackfillConfigError:
    password = urlsplit(str(app.conf.broker_url or "")).password
    return BackfillConfigError(
        f"Cannot {doing} the Celery broker at {broker_description(app)}: {short_reason(exc, [password])}"
    )


def require_consumers(app, queue: str) -> list[str]:
    """The workers that consume ``queue``; an error naming the fix when there are none."""
    try:
        replies = app.control.inspect(timeout=WORKER_REPLY_SECS).active_queues() or {}
    except (OperationalError, OSError) as exc:
        raise broker_unreachable(app, "reach", exc) from None
    workers = sorted(name for name, queues in replies.items() if any(q.get("name") == queue for q in queues))
    if not workers:
        raise BackfillConfigError(
            f"No Celery worker consumes the queue {queue!r} (broker {broker_description(app)}). Start workers "
            f"with `celery -A lms.celery worker -Q {queue}` (standalone: `celery -A backfill_project worker "
            f"-Q {queue}`), or name a queue they consume with --queue."
        )
    return workers


class DistributedBackfill:
    def __init__(
        self,
        units: list[WorkUnit],
        destination: Destination,
        queue: str,
        summary: RunSummary,
        dead_letters: DeadLetters,
    ):
        self.units = units
        self.destination = destination
        self.queue = queue
        self.summary = summary
        self.dead_letters = dead_letters
        self._stopped: list[str] = []
        self._failed: list[str] = []

    def run(self, progress: ByteProgress) -> RunSummary:
        from backfill_app.tracking.run.celery_task import transform_shard

        app = current_app
        try:
            pending = {
                unit.label: transform_shard.apply_async(
                    args=[unit_task_payload(unit, self.destination)],
                    queue=self.queue,
                    # What monitoring shows instead of the arguments, which hold credentials.
                    argsrepr=f"({unit.label!r})",
                    kwargsrepr="{}",
                )
                for unit in self.units
            }
        except (OperationalError, OSError) as exc:
            raise broker_unreachable(app, "queue tasks on", exc) from None
        log.info("queued %d tasks on %r", len(pending), self.queue)
        reported = dict.fromkeys(pending, 0)
        try:
            while pending:
                time.sleep(max(POLL_SECS, 2 * len(pending) / POLLS_PER_SEC))  # two look-ups per running task
                for label, result in list(pending.items()):
                    covered = self._take_result(label, result)
                    if covered is None:
                        report = result.info if result.state == "PROGRESS" else None
                        now = report.get("done_bytes", 0) if isinstance(report, dict) else 0
                    else:
                        now = covered
                        del pending[label]
                    progress.advance(now - reported[label], self._status(len(pending)))
                    reported[label] = max(reported[label], now)
        except KeyboardInterrupt:
            raise StoppedWaiting(f"Stopped waiting; {self._left_running(len(pending))}") from None
        except backend_errors(app) as exc:
            raise StoppedWaiting(
                f"Lost the Celery result backend ({type(exc).__name__}); {self._left_running(len(pending))}"
            ) from None
        self._conclude()
        return self.summary

    @staticmethod
    def _left_running(pending: int) -> str:
        return (
            f"the {pending} tasks still queued or running go on in the workers and keep their progress. "
            "Run the same command again once they have finished: it continues with what is left"
        )

    def _take_result(self, label: str, result) -> int | None:
        """The bytes a finished task covered (None while it runs), its counts and dead letters merged."""
        if not result.ready():
            return None
        if result.successful():
            outcome = WorkResult.from_json(result.result)
            self.summary.absorb(outcome.summary, with_writes=True)
            for entry in outcome.dead_letters:
                self.dead_letters.add(**entry)
            if outcome.dead_letters_total > len(outcome.dead_letters):
                self.summary.notes.append(
                    f"{label}: {outcome.dead_letters_total - len(outcome.dead_letters)} more lines set "
                    f"aside are in {outcome.dead_letter_file} on worker host {outcome.host}"
                )
            if outcome.stopped:
                self._stopped.append(f"{label}: {outcome.stopped}")
            covered = outcome.bytes
        else:
            reason = f"{type(result.result).__name__}: {short_reason(result.result, self._secrets())}"
            log.error("the task reading %s failed: %s", label, reason)
            self.summary.files_failed["task_failed"] += 1
            self._failed.append(f"{label} ({reason})")
            covered = 0
        result.forget()
        return covered

    def _secrets(self) -> list[str]:
        """What a worker's error might repeat of the run's credentials: never printed."""
        found = self.units[0].location.secrets() if self.units else []
        return found + self.destination.secret_values()

    def _conclude(self) -> None:
        problems = [f"the task reading {failed} failed" for failed in self._failed] + self._stopped
        if problems:
            self.summary.stopped = (
                "; ".join(problems) + ". What was written is kept; run the same command again to retry "
                "what is left (nothing already written is written twice)."
            )

    def _status(self, pending: int) -> str:
        return f"{pending} of {len(self.units)} tasks left, {self.summary.statements_written} statements written"
