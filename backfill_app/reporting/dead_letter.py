"""
Lines set aside: each bad line is kept, whole, with where it came from and why, in a JSON
lines file that only its owner can read (0600: it holds personal data; logs never do).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Protocol, TextIO

from backfill_app.core.private_files import PRIVATE_FOLDER_MODE, open_private_for_append

# File systems that die with their container or machine: a dead-letter file there is lost.
EPHEMERAL_FILE_SYSTEMS = {
    "overlay": "the container's own file system",
    "aufs": "the container's own file system",
    "tmpfs": "memory (tmpfs)",
    "ramfs": "memory (ramfs)",
}


MOUNTS_FILE = "/proc/self/mounts"


def ephemeral_reason(path: str, mounts_file: str | None = None) -> str | None:
    """Where ``path`` lies when that place is thrown away with the container (or at reboot); else None."""
    try:
        with open(mounts_file or MOUNTS_FILE, encoding="utf-8") as mounts:
            entries = [line.split() for line in mounts]
    except OSError:
        return None
    path = os.path.abspath(path)
    holding = None  # the mount that holds path: the longest mount point above it, the last one mounted
    for fields in entries:
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        above = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if above and (holding is None or len(mount_point) >= len(holding[0])):
            holding = (mount_point, fields[2])
    if holding is None or holding[1] not in EPHEMERAL_FILE_SYSTEMS:
        return None
    return f"{EPHEMERAL_FILE_SYSTEMS[holding[1]]} ({holding[1]} mounted at {holding[0]})"


def dead_letter_summary(path: str | None) -> list[str]:
    """The summary's line about the dead-letter file, and a warning when it will not last."""
    if not path:
        return ["Dead-letter file: none (nothing was set aside)"]
    lines = [f"Dead-letter file: {path}"]
    place = ephemeral_reason(path)
    if place:
        lines.append(
            f"WARNING: the dead-letter file is in {place}, which is thrown away with the container: copy it "
            "now, and next time pass --dead_letter_path or set BACKFILL_VAR_DIR to a mounted folder "
            "(Tutor: under /openedx/data)."
        )
    return lines


class DeadLetters(Protocol):
    """Where lines set aside go: a file here, or the parent process from a worker."""

    @property
    def written_path(self) -> str | None: ...

    def add(self, *, source: str, line_number: int | None, reason: str, detail: str, line: str | None) -> None: ...

    def close(self) -> None: ...


class DeadLetterFile:
    """Created on the first line set aside, so a clean run leaves no file."""

    def __init__(self, path: str, own_folder: bool = False):
        self.path = path
        self.own_folder = own_folder  # var/dead-letter: ours to keep private, even if an older version made it
        self._stream: TextIO | None = None
        self.count = 0

    @classmethod
    def for_command(cls, path: str | None, command: str) -> DeadLetterFile:
        """The file the operator named, or a new one per run under var/dead-letter/."""
        if path:
            return cls(path)
        from backfill_app.core import conf

        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return cls(
            os.path.join(conf.var_dir(), "dead-letter", f"{command}-{stamp}-{os.getpid()}.jsonl"), own_folder=True
        )

    def add(self, *, source: str, line_number: int | None, reason: str, detail: str, line: str | None) -> None:
        if self._stream is None:
            self._stream = open_private_for_append(self.path)
            if self.own_folder:
                os.chmod(os.path.dirname(os.path.abspath(self.path)), PRIVATE_FOLDER_MODE)
        record = {"source": source, "line_number": line_number, "reason": reason, "detail": detail, "line": line}
        # ASCII: a lone surrogate cannot be written as UTF-8, and U+2028 or U+0085 left raw would end
        # the record early for a reader that splits lines on them.
        self._stream.write(json.dumps(record) + "\n")
        self.count += 1

    @property
    def written_path(self) -> str | None:
        return self.path if self.count else None

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
