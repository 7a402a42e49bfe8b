"""What a run did, counted as it goes and told at the end."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class RunSummary:
    destination: str = ""
    files_total: int = 0
    files_read: int = 0
    bytes_total: int = 0
    lines: int = 0
    events_transformed: int = 0
    statements_made: int = 0
    statements_written: int = 0
    statements_already_present: int = 0
    statements_rejected: int = 0
    skipped_unsupported: int = 0
    invalid_utf8_lines: int = 0
    bad_lines: Counter = field(default_factory=Counter)
    files_failed: Counter = field(default_factory=Counter)
    dead_letter_path: str | None = None
    stopped: str | None = None
    dry_run: bool = False
    started_at: float = field(default_factory=time.monotonic)
    finished_at: float | None = None

    @property
    def elapsed_secs(self) -> float:
        return (self.finished_at or time.monotonic()) - self.started_at

    @property
    def events_per_sec(self) -> float:
        return self.events_transformed / self.elapsed_secs if self.elapsed_secs > 0 else 0.0

    def finish(self) -> None:
        self.finished_at = time.monotonic()

    def lines_of_text(self) -> list[str]:
        written = "would be written (dry run)" if self.dry_run else "written"
        text = [
            f"Destination: {self.destination}",
            f"Files: {self.files_read} of {self.files_total} read ({self.bytes_total / 1e6:.1f} MB)"
            + (f", {sum(self.files_failed.values())} failed" if self.files_failed else ""),
            f"Lines: {self.lines}",
            f"Events transformed: {self.events_transformed}",
            f"Statements {written}: {self.statements_written}",
            f"Statements already present (not written again): {self.statements_already_present}",
            f"Statements refused by the destination (set aside): {self.statements_rejected}",
            f"Skipped as unsupported: {self.skipped_unsupported}",
            f"Bad lines: {sum(self.bad_lines.values())}"
            + "".join(f"\n  {reason}: {count}" for reason, count in sorted(self.bad_lines.items())),
            f"Lines with invalid UTF-8 (replaced by U+FFFD, still transformed): {self.invalid_utf8_lines}",
        ]
        for reason, count in sorted(self.files_failed.items()):
            text.append(f"Files not fully read ({reason}): {count}")
        if self.bad_lines["unknown_user"] > max(self.events_transformed, 10):
            text.append(
                "HINT: most events name users missing from the database: is BACKFILL_DATABASE "
                "(or the LMS database) the one these logs come from?"
            )
        text.append(f"Dead-letter file: {self.dead_letter_path or 'none (nothing was set aside)'}")
        text.append(f"Elapsed: {self.elapsed_secs:.1f} s, {self.events_per_sec:.0f} events/s")
        if self.stopped:
            text.append(f"STOPPED: {self.stopped}")
        return text
