"""
Objects of xAPI rows, one JSON object a line with the columns of ``xapi_events_all``
(``event_id``, ``emission_time``, ``event``): Aspects' own archive, which Vector's ``aws_s3`` sink
writes under ``xapi/%Y/%m/%d/%H/`` (zstd, ``emission_time`` in RFC 3339, names of Vector's
choosing), and this app's statement files (zstd or gzip, ``emission_time`` as ClickHouse writes
it). An object is told to be one by its content, never its name: compressed (zstd or gzip),
then rows. Read as a stream, so an object of any size takes a bounded amount of memory; a row
that is not a statement row, and an object cut short, are reported, not fatal. Free of Django.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]  # Python 3.14
except ImportError:
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

from backfill_app.core.json_codec import read_json

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
ROW_KEYS = ("event_id", "emission_time", "event")
# What a dead-letter record keeps of a bad row: enough to find it again in its object.
KEPT_ROW_CHARACTERS = 10_000


def compression_of(head: bytes) -> str | None:
    """``zstd``, ``gzip`` or None (not a statement object: a manifest, a README...) from its first bytes."""
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    return None


@dataclass(frozen=True)
class StatementRow:
    event_id: str  # canonical lower-case UUID
    emission_time: datetime  # UTC
    event: str  # the statement's JSON, as stored
    line_number: int


@dataclass(frozen=True)
class BadRow:
    line_number: int
    reason: str  # not_json, not_a_statement_row, bad_event_id, bad_emission_time, bad_event
    detail: str
    line: str


class NotStatementObject(ValueError):
    """The object's first bytes are not zstd or gzip: a manifest, a README, not rows. Raised before any row."""


class ObjectCut(Exception):
    """The object ends inside its compressed data: the rows before the cut were read."""

    def __init__(self, rows_read: int, detail: str):
        super().__init__(f"cut short after {rows_read} lines ({detail})")
        self.rows_read = rows_read


def parse_emission_time(text: str) -> datetime:
    """ClickHouse's ``2024-03-02 10:00:00.123456`` (UTC) or RFC 3339 (``%+``: a ``T``, any offset, ``Z``)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_row(line: bytes, line_number: int) -> StatementRow | BadRow:
    def bad(reason: str, detail: str) -> BadRow:
        return BadRow(line_number, reason, detail, line[:KEPT_ROW_CHARACTERS].decode("utf-8", "replace"))

    try:
        row = read_json(line)
    except (ValueError, RecursionError) as exc:
        return bad("not_json", str(exc)[:200])
    if not isinstance(row, dict) or not all(isinstance(row.get(key), str) for key in ROW_KEYS):
        return bad("not_a_statement_row", f"not an object with the string fields {', '.join(ROW_KEYS)}")
    try:
        event_id = str(uuid.UUID(row["event_id"]))
    except ValueError:
        return bad("bad_event_id", "event_id is not a UUID")
    try:
        emission_time = parse_emission_time(row["emission_time"])
    except (ValueError, OverflowError):
        return bad("bad_emission_time", "emission_time is not an ISO 8601 time")
    try:
        # Stored as UTF-8 (a lone surrogate cannot be) and read downstream as JSON: a statement's JSON object.
        row["event"].encode("utf-8")
        is_statement = isinstance(read_json(row["event"]), dict)
    except (ValueError, RecursionError):
        is_statement = False
    if not is_statement:
        return bad("bad_event", "event is not a statement's JSON object")
    return StatementRow(event_id, emission_time, row["event"], line_number)


def _decompressor(kind: str):
    if kind == "zstd":
        return zstd.ZstdDecompressor()
    return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip framing


def _decompressed(chunks: Iterable[bytes], kind_found: Callable[[str], None] | None = None) -> Iterator[bytes]:
    """
    The object's data, frame after frame (zstd and gzip both allow several in one object);
    ``kind_found`` is told its compression once its first bytes are read.
    """
    decompressor, kind = None, None
    for chunk in chunks:
        while chunk:
            if decompressor is None:
                if kind is None:
                    kind = compression_of(chunk)
                    if kind is None:
                        raise NotStatementObject("not a compressed statement object")
                    if kind_found is not None:
                        kind_found(kind)
                decompressor = _decompressor(kind)
            try:
                yield decompressor.decompress(chunk)
            except (zstd.ZstdError, zlib.error) as exc:
                raise _Unreadable(f"unreadable compressed data: {str(exc)[:100]}") from None
            chunk = decompressor.unused_data if decompressor.eof else b""
            if decompressor.eof:
                decompressor = None
    if decompressor is not None or kind is None:
        raise _Unreadable("its compressed data ends early")


class _Unreadable(Exception):
    pass


def statement_rows(chunks: Iterable[bytes]) -> Iterator[StatementRow | BadRow]:
    """
    Every row of one statement object (its bytes in ``chunks``), in order; raises
    :class:`NotStatementObject` before any row, or :class:`ObjectCut` after the last whole row
    when the compressed data ends early.
    """
    pending = b""
    line_number = 0
    try:
        for data in _decompressed(chunks):
            lines = (pending + data).split(b"\n")
            pending = lines.pop()
            for line in lines:
                line_number += 1
                if line.strip():
                    yield parse_row(line, line_number)
    except _Unreadable as exc:
        raise ObjectCut(line_number, str(exc)) from None
    if pending.strip():  # a last row without its newline
        yield parse_row(pending, line_number + 1)


def compression_and_lines(chunks: Iterable[bytes]) -> tuple[str, int]:
    """
    One statement object's compression and non-blank lines, without parsing them; raises
    :class:`NotStatementObject`, or :class:`ObjectCut` when the compressed data ends early.
    ClickHouse reads a zstd object cut inside its first block as an empty one, without an error:
    what it read is checked against this.
    """
    kinds: list[str] = []
    lines, pending = 0, b""
    try:
        for data in _decompressed(chunks, kinds.append):
            parts = (pending + data).split(b"\n")
            pending = parts.pop()
            lines += sum(1 for part in parts if part.strip())
    except _Unreadable as exc:
        raise ObjectCut(lines, str(exc)) from None
    return kinds[0], lines + (1 if pending.strip() else 0)


def starts_with_statement_rows(head: bytes) -> bool | None:
    """
    Do an object's first bytes hold compressed xAPI rows (not, say, a rotated tracking log)?
    None when they cannot tell: compressed, but no whole line in them (an empty object).
    """
    kind = compression_of(head)
    if kind is None:
        return False
    try:
        text = _decompressor(kind).decompress(head)
    except (zstd.ZstdError, zlib.error):
        return False
    first = next((line for line in text.split(b"\n")[:-1] if line.strip()), None)
    return None if first is None else isinstance(parse_row(first, 1), StatementRow)


def hour_folders(prefix: str, start: datetime, end: datetime) -> list[str]:
    """The archive's folders (``PREFIX%Y/%m/%d/%H/``) of every hour from ``start``'s to before ``end``."""
    folders, hour = [], start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        folders.append(f"{prefix}{hour:%Y/%m/%d/%H}/")
        hour += timedelta(hours=1)
    return folders
