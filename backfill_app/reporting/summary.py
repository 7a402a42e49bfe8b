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
WRITE_COUNTS = (
    "statements_written", "statements_already_present", "statements_rejected", "statements_stale",
    "statements_other_id", "statements_replaced", "statements_compared_by_id_only",
)  # fmt: skip


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
    # The destination holds the event otherwise (sinks/drift.py), by an older ERB's output: not
    # written, or written in its place (--replace_drifted: statements_replaced, also in written).
    statements_stale: int = 0  # the same id, other content
    statements_other_id: int = 0  # the same event under another id
    statements_replaced: int = 0
    # Compared by id only: the destination held too many in their batch's time range to read them whole.
    statements_compared_by_id_only: int = 0
    # (kind, verb, the ERB behaviour behind it, whether replaced) -> statements
    drift: Counter = field(default_factory=Counter)
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
        if with_writes:
            self.drift.update(other.drift)
        for by_role in other.cpu_by_process.values():  # a worker's own process is one of our workers
            add_seconds(self.cpu_by_process[WORKERS], by_role)

    def counts_to_json(self) -> dict:
        """What a Celery task reports back (JSON)."""
        counts = {name: getattr(self, name) for name in READ_COUNTS + WRITE_COUNTS}
        return {
            **counts,
            "bad_lines": dict(self.bad_lines),
            "files_failed": dict(self.files_failed),
            "drift": [[*key, count] for key, count in self.drift.items()],
        }

    @classmethod
    def from_counts(cls, data: dict) -> RunSummary:
        # A task of an earlier release (a queue drained across an upgrade) lacks the newer counts.
        summary = cls(**{name: data.get(name, 0) for name in READ_COUNTS + WRITE_COUNTS})
        summary.bad_lines.update(data["bad_lines"])
        summary.files_failed.update(data["files_failed"])
        # (kind, verb, behaviour[, replaced]): entries of an earlier release have no "replaced".
        summary.drift.update({(*entry[:3], *(entry[3:-1] or [False])): entry[-1] for entry in data.get("drift", [])})
        return summary

    def note_drift(self, kind: str, verb: str, behaviour: str, replaced: bool = False) -> None:
        if kind == "stale":
            self.statements_stale += 1
        else:
            self.statements_other_id += 1
        self.statements_replaced += replaced
        self.drift[(kind, verb, behaviour, replaced)] += 1

    def note_statement_times(self, statements) -> None:
        if self.ttl_cutoff is not None and statements and statements[0].timestamp < self.ttl_cutoff:
            self.events_older_than_ttl += 1

    def finish(self) -> None:
        self.finished_at = time.monotonic()

    def to_json(self) -> dict:
        """
        The summary as data: the ``--summary_json`` document's fields (README: Summary as JSON), and
        what ``lines_of_text`` prints. Counts as counted; seconds rounded to the millisecond.
        """
        elapsed = round(self.elapsed_secs, 3)
        return {
            "destination": self.destination,
            "dry_run": self.dry_run,
            "transformer_type": self.transformer_type,
            "files": {
                "total": self.files_total,
                "read": self.files_read,
                "bytes_total": self.bytes_total,
                "already_done": self.files_already_done,
                "resumed": self.files_resumed,
                "outside_window": self.files_outside_window,
                "failed": sum(self.files_failed.values()),
                "failed_by_reason": dict(sorted(self.files_failed.items())),
                "storage_reconnects": self.storage_reconnects,
            },
            "lines": {
                "read": self.lines,
                "bad": sum(self.bad_lines.values()),
                "bad_by_reason": dict(sorted(self.bad_lines.items())),
                "invalid_utf8": self.invalid_utf8_lines,
            },
            "events": {
                "transformed": self.events_transformed,
                "direct": self.events_direct,
                "by_erb": self.events_transformed - self.events_direct,
                "verified": self.events_verified,
                "direct_off": self.direct_off,
                "older_than_ttl": self.events_older_than_ttl,
                "ttl_cutoff": self.ttl_cutoff.isoformat() if self.ttl_cutoff else None,
            },
            "statements": {
                "made": self.statements_made,
                "written": self.statements_written,
                "already_present": self.statements_already_present,
                "rejected": self.statements_rejected,
                "stale": self.statements_stale,
                "other_id": self.statements_other_id,
                "replaced": self.statements_replaced,
                "compared_by_id_only": self.statements_compared_by_id_only,
            },
            "drift": [
                {"class": kind, "verb": verb, "behaviour": behaviour, "replaced": replaced, "statements": count}
                for (kind, verb, behaviour, replaced), count in sorted(self.drift.items())
            ],
            "skipped": {"unsupported": self.skipped_unsupported, "outside_window": self.skipped_outside_window},
            "dead_letter_path": self.dead_letter_path,
            "stopped": self.stopped,
            "notes": list(self.notes),
            "cpu_seconds": {
                kind: {role: round(seconds, 3) for role, seconds in roles.items()}
                for kind, roles in self.cpu_by_process.items()
            },
            "elapsed_secs": elapsed,
            "events_per_sec": round(self.events_transformed / elapsed, 1) if elapsed > 0 else 0.0,
        }

    @staticmethod
    def _paths_text(events: dict) -> str:
        text = f"  by the fast path: {events['direct']}, by ERB's transformer: {events['by_erb']}"
        if events["direct_off"]:
            return f"{text} (no fast path: {events['direct_off']})"
        if events["verified"]:
            text += f"; {events['verified']} of the fast path's also by ERB, the same (--verify_sample)"
        return text

    @staticmethod
    def _files_text(files: dict) -> str:
        return (
            f"Files: {files['read']} of {files['total']} read ({files['bytes_total'] / 1e6:.1f} MB)"
            + (f", {files['failed']} failed" if files["failed"] else "")
            + (f", {files['already_done']} already done by an earlier run" if files["already_done"] else "")
            + (f", {files['resumed']} resumed where an earlier run stopped" if files["resumed"] else "")
            + (f", {files['outside_window']} outside the time window, not read" if files["outside_window"] else "")
        )

    def lines_of_text(self) -> list[str]:
        """The human summary, read from the same fields as ``to_json``."""
        data = self.to_json()
        files, lines, events, statements = data["files"], data["lines"], data["events"], data["statements"]
        written = "would be written (dry run)" if data["dry_run"] else "written"
        text = [
            f"Destination: {data['destination']}",
            self._files_text(files),
            f"Lines: {lines['read']}",
            f"Events transformed: {events['transformed']}",
            self._paths_text(events),
            f"Statements {written}: {statements['written']}",
            f"Statements already present (not written again): {statements['already_present']}",
            f"Statements refused by the destination (set aside): {statements['rejected']}",
            f"Statements held otherwise, by an older ERB: "
            f"{statements['stale'] + statements['other_id'] - statements['replaced']} set aside (not written), "
            f"{statements['replaced']} replaced by today's (--replace_drifted)"
            + "".join(
                f"\n  {entry['class']} ({entry['verb']}): {entry['statements']} "
                f"{'replaced' if entry['replaced'] else 'set aside'}: {entry['behaviour']}"
                for entry in data["drift"]
            ),
            f"Skipped as unsupported: {data['skipped']['unsupported']}",
            f"Skipped as outside the time window: {data['skipped']['outside_window']}",
            f"Bad lines: {lines['bad']}"
            + "".join(f"\n  {reason}: {count}" for reason, count in lines["bad_by_reason"].items()),
            f"Lines with invalid UTF-8 (replaced by U+FFFD, still transformed): {lines['invalid_utf8']}",
        ]
        if statements["compared_by_id_only"]:
            text.append(
                f"Statements compared by id only: {statements['compared_by_id_only']} (the destination held more than "
                "it can read whole in their batch's time range: an older ERB's statements there were not looked "
                "for; a smaller --batch_size narrows the range)"
            )
        if files["storage_reconnects"]:
            text.append(f"Storage reads resumed after a dropped connection: {files['storage_reconnects']}")
        if events["older_than_ttl"]:
            text.append(
                f"WARNING: {events['older_than_ttl']} events are older than the Aspects data TTL "
                f"(before {events['ttl_cutoff'][:10]}): Aspects will drop them downstream."
            )
        for reason, count in files["failed_by_reason"].items():
            text.append(f"Files not fully read ({reason}): {count}")
        text.extend(self._hints(data))
        text.extend(data["notes"])
        text.extend(dead_letter_summary(data["dead_letter_path"]))
        if any(data["cpu_seconds"].values()):
            text.append(cpu_sentence(data["cpu_seconds"]))
        text.append(f"Elapsed: {data['elapsed_secs']:.1f} s, {data['events_per_sec']:.0f} events/s")
        if data["stopped"]:
            text.append(f"STOPPED: {data['stopped']}")
        return text

    @staticmethod
    def _hints(data: dict) -> list[str]:
        bad_lines, transformer_type = data["lines"]["bad_by_reason"], data["transformer_type"]
        hints = []
        if bad_lines.get("unknown_user", 0) > max(data["events"]["transformed"], 10):
            hints.append(
                "HINT: most events name users missing from the database: is BACKFILL_DATABASE "
                "(or the LMS database) the one these logs come from?"
            )
        if without_ids := bad_lines.get("no_external_id", 0):
            hints.append(
                f"HINT: {without_ids} events of users who have no {transformer_type} external "
                "id yet were set aside: the platform database is read-only here, so none was created (the LMS "
                "creates one at a user's first event). To finish them, create the ids on the primary "
                f"(BACKFILL_DATABASE=<primary> ./manage.py create_external_ids --type {transformer_type} "
                f"--from_dead_letters {data['dead_letter_path'] or '<dead-letter file>'}) or run inside the LMS, "
                "then rerun with --gaps_only (ClickHouse) or --restart: what is already written is not written twice."
            )
        return hints
