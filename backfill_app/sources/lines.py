"""
Byte chunks -> numbered text lines, with gzip decompressed on the fly and UTF-8 decoded
per line (a newline byte never sits inside a multi-byte character, so a character split
across two chunks is whole again once its line is).
"""

from __future__ import annotations

import gzip
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import requests
import urllib3
from libcloud.common.types import LibcloudError

from backfill_app.sources.read_ahead import ReadAhead

log = logging.getLogger(__name__)

# A line longer than this is cut off and reported, so one runaway line cannot exhaust memory.
MAX_LINE_BYTES = 32 * 1024 * 1024
BUFFER_BYTES = 1024 * 1024
RECONNECTS_PER_OBJECT = 5

# What a storage connection dropped mid-object looks like from libcloud and requests.
DROPPED_READ_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
    LibcloudError,
)


class ChunkStream(io.RawIOBase):
    """
    A readable file over the chunks of one object. When the connection drops, it opens the
    object again at the first byte not yet received (``open_at(offset)``), a few times.
    """

    def __init__(self, open_at: Callable[[int], Iterable[bytes]], start: int = 0):
        self._open_at = open_at
        self._start = start
        self._chunks = iter(open_at(start))
        self._pending = memoryview(b"")
        self.bytes_read = 0
        self.reconnects = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            chunk = self._next_chunk()
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        self.bytes_read += size
        return size

    def _next_chunk(self) -> bytes | None:
        while True:
            try:
                return next(self._chunks, None)
            except DROPPED_READ_ERRORS as exc:
                if self.reconnects >= RECONNECTS_PER_OBJECT:
                    raise ConnectionError(f"the read kept failing ({type(exc).__name__})") from None
                self.reconnects += 1
                resume_at = self._start + self.bytes_read
                log.warning("read dropped (%s); reading again from byte %d", type(exc).__name__, resume_at)
                self._chunks = iter(self._open_at(resume_at))


@dataclass(slots=True)
class LogLine:
    number: int
    text: str
    end_offset: int = 0  # bytes of the (uncompressed) stream up to the end of this line
    invalid_utf8: bool = False
    too_long: bool = False


class LineReader:
    """
    Iterates the lines of one (possibly gzip-compressed) object from ``start_offset`` (a
    line boundary); lines are numbered from ``first_line``. ``bytes_read`` is the progress
    in stored (compressed) bytes. A gzip object is decompressed in a thread, ahead of the
    lines (sources/read_ahead.py), unless ``read_ahead`` is off (a reader of a few lines).
    """

    def __init__(
        self,
        open_at: Callable[[int], Iterable[bytes]],
        gzipped: bool,
        start_offset: int = 0,
        first_line: int = 1,
        skip_first_line: bool = False,
        stop_at: int | None = None,
        read_ahead: bool = True,
    ):
        self._raw = ChunkStream(open_at, start_offset)
        buffered = io.BufferedReader(self._raw, BUFFER_BYTES)
        self._stream: io.BufferedIOBase = gzip.GzipFile(fileobj=buffered, mode="rb") if gzipped else buffered
        self._read_ahead = gzipped and read_ahead
        self._offset = start_offset
        self._next_number = first_line
        # A byte range owns the lines that start in it: its reader starts one byte early and
        # drops what comes before the first line break, and stops at a line starting at stop_at.
        self._skip_first_line = skip_first_line
        self._stop_at = stop_at

    @property
    def bytes_read(self) -> int:
        return self._raw.bytes_read

    @property
    def reconnects(self) -> int:
        return self._raw.reconnects

    def __iter__(self) -> Iterator[LogLine]:
        # Only a gzip object (always read whole): a thread would read past a byte range's end.
        read_ahead = None
        if self._read_ahead:
            read_ahead = ReadAhead(self._stream)
            self._stream = io.BufferedReader(read_ahead, BUFFER_BYTES)
        try:
            yield from self._lines()
        finally:
            if read_ahead is not None:
                read_ahead.close()

    def _lines(self) -> Iterator[LogLine]:
        number = self._next_number - 1
        offset = self._offset
        readline = self._stream.readline
        if self._skip_first_line:
            partial = readline(MAX_LINE_BYTES)
            offset += len(partial)
            if partial and not partial.endswith(b"\n"):
                offset += self._skip_rest_of_line()
        while raw := readline(MAX_LINE_BYTES):
            if self._stop_at is not None and offset >= self._stop_at:
                return
            number += 1
            offset += len(raw)
            too_long = not raw.endswith(b"\n") and len(raw) >= MAX_LINE_BYTES
            if too_long:
                offset += self._skip_rest_of_line()
            text = raw.rstrip(b"\r\n")
            if not text or text.isspace():  # (no copy of every line, as strip() makes)
                continue
            try:
                yield LogLine(number, text.decode("utf-8"), offset, too_long=too_long)
            except UnicodeDecodeError:
                decoded = text.decode("utf-8", errors="replace")
                yield LogLine(number, decoded, offset, invalid_utf8=True, too_long=too_long)

    def _skip_rest_of_line(self) -> int:
        skipped = 0
        while rest := self._stream.readline(BUFFER_BYTES):
            skipped += len(rest)
            if rest.endswith(b"\n"):
                break
        return skipped
