"""
Files that hold personal data (raw tracking lines set aside, the state database, statement
files) are readable by their owner only, whatever the process's umask: files 0600, the
folders this app creates for them 0700. A folder that already exists is left as it is: it
may be the platform's (``/openedx/data``).
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_FOLDER_MODE = 0o700
PARTIAL_SUFFIX = ".partial"  # a file being written by write_private_file_whole


def make_private_folders(folder: str | os.PathLike) -> None:
    """Create ``folder`` and any missing parent, each 0700; existing ones are not changed."""
    missing = []
    path = Path(folder).absolute()
    while not path.exists():
        missing.append(path)
        path = path.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=PRIVATE_FOLDER_MODE)
        except FileExistsError:  # another process made it meanwhile
            continue
        os.chmod(path, PRIVATE_FOLDER_MODE)  # mkdir's mode is narrowed by the umask, never widened


def create_private_file(path: str | os.PathLike) -> None:
    """Create ``path`` empty and 0600 unless it exists (a database file, before its engine opens it)."""
    make_private_folders(Path(path).parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass


def open_private_for_append(path: str | os.PathLike):
    """A text stream appending to ``path``, created 0600 in private folders when new."""
    make_private_folders(Path(path).parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE)
    return os.fdopen(descriptor, "a", encoding="utf-8")


def write_private_file_whole(path: str | os.PathLike, data: bytes) -> None:
    """
    ``data`` into ``path``, 0600 in private folders from its first byte, written as
    ``path.partial`` and renamed once whole (atomic on one file system): a process killed
    mid-write leaves no half file under ``path``.
    """
    make_private_folders(Path(path).parent)
    partial = f"{path}{PARTIAL_SUFFIX}"
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    os.replace(partial, path)
