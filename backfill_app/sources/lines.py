"""
Byte chunks -> numbered text lines, with gzip decompressed on the fly and UTF-8 decoded
per line (a newline byte never sits inside a multi-byte character, so a character split
across two chunks is whole again once its line is).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# A line longer than this is cut off and reported, so one runaway line cannot exhaust memory.
MAX_LINE_BYTES = 32 * 1024 * 1024
BUFFER_BYTES = 1024 * 1024


class ChunkStream(io.RawIOBase):
    """A readable file over an iterator of byte chunks, counting the bytes it has handed out."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._pending = memoryview(b"")
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size


@dataclass(slots=True)
class LogLine:
    number: int
    text: str
    invalid_utf8: bool = False
    too_long: bool = False


class LineReader:
    """Iterates the lines of one (possibly gzip-compressed) object; ``bytes_read`` is its progress."""

    def __init__(self, chunks: Iterable[bytes], gzipped: bool):
        self._raw = ChunkStream(chunks)
        buffered = io.BufferedReader(self._raw, BUFFER_BYTES)
        self._stream = gzip.GzipFile(fileobj=buffered, mode="rb") if gzipped else buffered

    @property
    def bytes_read(self) -> int:
        return self._raw.bytes_read

    def __iter__(self) -> Iterator[LogLine]:
        number = 0
        readline = self._stream.readline
        while raw := readline(MAX_LINE_BYTES):
            number += 1
            too_long = not raw.endswith(b"\n") and len(raw) >= MAX_LINE_BYTES
            if too_long:
                self._skip_rest_of_line()
            text = raw.rstrip(b"\r\n")
            if not text.strip():
                continue
            try:
                yield LogLine(number, text.decode("utf-8"), too_long=too_long)
            except UnicodeDecodeError:
                yield LogLine(number, text.decode("utf-8", errors="replace"), invalid_utf8=True, too_long=too_long)

    def _skip_rest_of_line(self) -> None:
        while rest := self._stream.readline(BUFFER_BYTES):
            if rest.endswith(b"\n"):
                return
