"""What a run did, counted as it goes and told at the end."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from backfill_app.reporting.cpu import COMMAND, WORKERS, add_seconds, cpu_sentence
from backfill_app.reporting.dead_letter import dead_letter_summary

READ_COUNTS = (
    "files_read", "files_already_done", "files_resumed", "files_outside_window", "storage_reconnects",
    "lines", "events_transformed", "statements_made", "skipped_unsupported", "skipped_outside_window",
    "events_older_than_ttl", "invalid_utf8_lines", "events_direct", "events_verified",
)  # fmt: skip
WRITE_COUNTS = ("statements_written", "statements_already_present", "statements_rejected")


@dataclass
class RunSummary:
    destination: str = ""
    files_total: int = 0
    files_read: int = 0
    files_already_done: int = 0
    files_resumed: int = 0
    files_outside_window: int = 0
    storage_reconnects: int = 0
    bytes_total: int = 0
    lines: int = 0
    events_transformed: int = 0
    events_direct: int = 0  # of events_transformed, by the fast path (transform/direct)
    events_verified: int = 0  # of those, also transformed by ERB and compared (--verify_sample)
    direct_off: str | None = None  # why the fast path did not run, if it did not
    statements_made: int = 0
    statements_written: int = 0
    statements_already_present: int = 0
    statements_rejected: int = 0
    skipped_unsupported: int = 0
    skipped_outside_window: int = 0
    events_older_than_ttl: int = 0
    ttl_cutoff: datetime | None = None
    invalid_utf8_lines: int = 0
    bad_lines: Counter = field(default_factory=Counter)
    files_failed: Counter = field(default_factory=Counter)
    dead_letter_path: str | None = None
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)  # anything else the operator must know
    transformer_type: str = "xapi"
    dry_run: bool = False
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None
    # CPU seconds by role (reporting/cpu.py) of this process (COMMAND) and of its --workers (WORKERS).
    cpu_by_process: dict[str, dict[str, float]] = field(default_factory=lambda: {COMMAND: {}, WORKERS: {}})

    @property
    def elapsed_secs(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def events_per_sec(self) -> float:
        return self.events_transformed / self.elapsed_secs if self.elapsed_secs > 0 else 0.0

    def absorb(self, other: RunSummary, with_writes: bool = False) -> None:
        """
        Add the counts of a worker's run. A --workers worker's statements are written, and
        counted, here (``with_writes=False``); a Celery task writes its own.
        """
        for name in READ_COUNTS + (WRITE_COUNTS if with_writes else ()):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.bad_lines.update(other.bad_lines)
        self.files_failed.update(other.files_failed)
        for by_role in other.cpu_by_process.values():  # a worker's own process is one of our workers
            add_seconds(self.cpu_by_process[WORKERS], by_role)

    def counts_to_json(self) -> dict:
        """What a Celery task reports back (JSON)."""
        counts = {name: getattr(self, name) for name in READ_COUNTS + WRITE_COUNTS}
        return {**counts, "bad_lines": dict(self.bad_lines), "files_failed": dict(self.files_failed)}

    @classmethod
    def from_counts(cls, data: dict) -> RunSummary:
        summary = cls(**{name: data[name] for name in READ_COUNTS + WRITE_COUNTS})
        summary.bad_lines.update(data["bad_lines"])
        summary.files_failed.update(data["files_failed"])
        return summary

    def note_statement_times(self, statements) -> None:
        if self.ttl_cutoff is not None and statements and statements[0].timestamp < self.ttl_cutoff:
            self.events_older_than_ttl += 1

    def finish(self) -> None:
        self.finished_at = time.monotonic()

    def _paths_text(self) -> str:
        by_erb = self.events_transformed - self.events_direct
        text = f"  by the fast path: {self.events_direct}, by ERB's transformer: {by_erb}"
        if self.direct_off:
            return f"{text} (no fast path: {self.direct_off})"
        if self.events_verified:
            text += f"; {self.events_verified} of the fast path's also by ERB, the same (--verify_sample)"
        return text

    def lines_of_text(self) -> list[str]:
        written = "would be written (dry run)" if self.dry_run else "written"
        text = [
            f"Destination: {self.destination}",
            f"Files: {self.files_read} of {self.files_total} read ({self.bytes_total / 1e6:.1f} MB)"
            + (f", {sum(self.files_failed.values())} failed" if self.files_failed else "")
            + (f", {self.files_already_done} already done by an earlier run" if self.files_already_done else "")
            + (f", {self.files_resumed} resumed where an earlier run stopped" if self.files_resumed else "")
            + (f", {self.files_outside_window} outside the time window, not read" if self.files_outside_window else ""),
            f"Lines: {self.lines}",
            f"Events transformed: {self.events_transformed}",
            self._paths_text(),
            f"Statements {written}: {self.statements_written}",
            f"Statements already present (not written again): {self.statements_already_present}",
            f"Statements refused by the destination (set aside): {self.statements_rejected}",
            f"Skipped as unsupported: {self.skipped_unsupported}",
            f"Skipped as outside the time window: {self.skipped_outside_window}",
            f"Bad lines: {sum(self.bad_lines.values())}"
            + "".join(f"\n  {reason}: {count}" for reason, count in sorted(self.bad_lines.items())),
            f"Lines with invalid UTF-8 (replaced by U+FFFD, still transformed): {self.invalid_utf8_lines}",
        ]
        if self.storage_reconnects:
            text.append(f"Storage reads resumed after a dropped connection: {self.storage_reconnects}")
        if self.events_older_than_ttl:
            text.append(
                f"WARNING: {self.events_older_than_ttl} events are older than the Aspects data TTL "
                f"(before {self.ttl_cutoff:%Y-%m-%d}): Aspects will drop them downstream."
            )
        for reason, count in sorted(self.files_failed.items()):
            text.append(f"Files not fully read ({reason}): {count}")
        if self.bad_lines["unknown_user"] > max(self.events_transformed, 10):
            text.append(
                "HINT: most events name users missing from the database: is BACKFILL_DATABASE "
                "(or the LMS database) the one these logs come from?"
            )
        if without_ids := self.bad_lines["no_external_id"]:
            text.append(
                f"HINT: {without_ids} events of users who have no {self.transformer_type} external "
                "id yet were set aside: the platform database is read-only here, so none was created (the LMS "
                "creates one at a user's first event). To finish them, create the ids on the primary "
                f"(BACKFILL_DATABASE=<primary> ./manage.py create_external_ids --type {self.transformer_type} "
                f"--from_dead_letters {self.dead_letter_path or '<dead-letter file>'}) or run inside the LMS, then "
                "rerun with --gaps_only (ClickHouse) or --restart: what is already written is not written twice."
            )
        text.extend(self.notes)
        text.extend(dead_letter_summary(self.dead_letter_path))
        if any(self.cpu_by_process.values()):
            text.append(cpu_sentence(self.cpu_by_process))
        text.append(f"Elapsed: {self.elapsed_secs:.1f} s, {self.events_per_sec:.0f} events/s")
        if self.stopped:
            text.append(f"STOPPED: {self.stopped}")
        return text
