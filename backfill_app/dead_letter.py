"""
Lines set aside: each bad line is kept, whole, with where it came from and why, in a JSON
lines file that only the operator reads (it holds personal data; logs never do).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Protocol, TextIO


class DeadLetters(Protocol):
    """Where lines set aside go: a file here, or the parent process from a worker."""

    @property
    def written_path(self) -> str | None: ...

    def add(self, *, source: str, line_number: int | None, reason: str, detail: str, line: str | None) -> None: ...

    def close(self) -> None: ...


class DeadLetterFile:
    """Created on the first line set aside, so a clean run leaves no file."""

    def __init__(self, path: str):
        self.path = path
        self._stream: TextIO | None = None
        self.count = 0

    @classmethod
    def for_command(cls, path: str | None, command: str) -> DeadLetterFile:
        """The file the operator named, or a new one per run under var/dead-letter/."""
        if path:
            return cls(path)
        from backfill_app import conf

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return cls(os.path.join(conf.var_dir(), "dead-letter", f"{command}-{stamp}-{os.getpid()}.jsonl"))

    def add(self, *, source: str, line_number: int | None, reason: str, detail: str, line: str | None) -> None:
        if self._stream is None:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            self._stream = open(self.path, "a", encoding="utf-8")
        record = {"source": source, "line_number": line_number, "reason": reason, "detail": detail, "line": line}
        self._stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    @property
    def written_path(self) -> str | None:
        return self.path if self.count else None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
