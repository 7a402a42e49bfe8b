"""
Statements as ClickHouse's RowBinary rows of ``xapi_events_all`` (event_id UUID, emission_time
DateTime64(6), event String), made where the statements are made: a --workers worker hands
the embedded engine's single writer bytes ready to insert, with the ids and the time range it
needs to leave out statements already stored, instead of statement objects it would unpickle
and encode again (its CPU per event was the limit of how many workers it could keep busy).
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backfill_app.transform.statements import Statement

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TICKS = struct.Struct("<q")  # DateTime64(6): microseconds since the epoch, a signed 64-bit integer
ROW_HEAD_BYTES = 16 + 8  # the UUID and the DateTime64 before the statement's String


def _length(size: int) -> bytes:
    """A String's length, as RowBinary writes it (LEB128)."""
    out = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        if size:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_ONE_BYTE_LENGTHS = [bytes((size,)) for size in range(0x80)]


def _uuid_bytes(statement_id: str) -> bytes:
    if len(statement_id) == 36 and statement_id.count("-") == 4:  # the canonical form ERB and we write
        return bytes.fromhex(statement_id.replace("-", ""))
    return uuid.UUID(statement_id).bytes


def micros_of(moment: datetime) -> int:
    """A moment as DateTime64(6) holds it: microseconds since the epoch."""
    since_epoch = moment - EPOCH
    return (since_epoch.days * 86_400 + since_epoch.seconds) * 1_000_000 + since_epoch.microseconds


def row_binary(statement: Statement) -> bytes:
    # A UUID is two 64-bit halves, high then low, each little-endian.
    big_endian = _uuid_bytes(statement.id)
    ticks = micros_of(statement.timestamp)
    text = statement.json.encode()
    size = len(text)
    length = _ONE_BYTE_LENGTHS[size] if size < 0x80 else _length(size)
    return b"".join((big_endian[7::-1], big_endian[:7:-1], _TICKS.pack(ticks), length, text))


@dataclass
class PreparedStatements:
    """Statements made ready to insert, in order; what a worker hands the writer."""

    ids: list[str]
    rows: bytes
    ends: list[int]  # where each statement's row ends in ``rows``
    earliest: datetime
    latest: datetime
    first_source: str = ""
    first_line: int = 0
    origins: list[tuple[str, int]] = field(default_factory=list)  # each statement's log object and line

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def of(cls, statements: list[Statement]) -> PreparedStatements:
        rows, ends, size = [], [], 0
        for statement in statements:
            row = row_binary(statement)
            rows.append(row)
            size += len(row)
            ends.append(size)
        times = [statement.timestamp for statement in statements]
        return cls(
            ids=[statement.id for statement in statements],
            rows=b"".join(rows),
            ends=ends,
            earliest=min(times),
            latest=max(times),
            first_source=statements[0].source,
            first_line=statements[0].line_number,
            origins=[(statement.source, statement.line_number) for statement in statements],
        )

    def micros(self) -> list[int]:
        """Each statement's time as its row holds it (microseconds since the epoch)."""
        starts = [0, *self.ends[:-1]]
        return [_TICKS.unpack_from(self.rows, start + 16)[0] for start in starts]

    def text_at(self, index: int) -> str:
        """One statement's JSON, read back from its row (to compare it with what is stored)."""
        position, size, shift = (self.ends[index - 1] if index else 0) + ROW_HEAD_BYTES, 0, 0
        while True:  # the String's LEB128 length
            byte = self.rows[position]
            position += 1
            size |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        return self.rows[position : position + size].decode()

    def rows_except(self, left_out: set[int]) -> bytes:
        """The rows but those at the positions ``left_out``."""
        if not left_out:
            return self.rows
        kept, start = [], 0
        for position, end in enumerate(self.ends):
            if position not in left_out:
                kept.append(self.rows[start:end])
            start = end
        return b"".join(kept)
