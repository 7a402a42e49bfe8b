"""
The format of a statement file: JSONEachRow rows in the columns of ``xapi.xapi_events_all``
(``event_id``, ``emission_time``, ``event``), zstd-compressed; ``.jsonl.gz`` files (what
earlier versions wrote) are still read. Kept free of Django and ERB so that anything can
read the files.
"""

from __future__ import annotations

import gzip
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING

from backfill_app.clickhouse.sql import datetime64_text  # read by ClickHouse as DateTime64(6, 'UTC')

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]  # Python 3.14
except ImportError:
    from backports import zstd  # type: ignore[no-redef,unused-ignore]

if TYPE_CHECKING:
    from backfill_app.transform.statements import Statement

STATEMENT_FILE_SUFFIX = ".jsonl.zst"
GZIP_STATEMENT_FILE_SUFFIX = ".jsonl.gz"  # what earlier versions wrote; still loaded
STATEMENT_FILE_SUFFIXES = (STATEMENT_FILE_SUFFIX, GZIP_STATEMENT_FILE_SUFFIX)
FORMAT_DESCRIPTION = "JSONEachRow, zstd; columns of xapi.xapi_events_all"

STATEMENT_FILE_ROW = '{"event_id": %s, "emission_time": "%s", "event": %s}'
json_string = encode_basestring_ascii  # json.dumps of a string, without json.dumps' own steps around it
# zstd's default level: measured on 105,514 statements (154 MB of rows), 0.085 CPU s and 6.8 MB,
# where gzip took 0.40 s (level 3) into 14.8 MB. With two workers on two cores, the writer's CPU
# is the backfill's time; ClickHouse reads .zst itself.
COMPRESS_LEVEL = 3


def statement_file_row(statement: Statement) -> str:
    """One JSONEachRow line (the time has digits and separators only: nothing to escape)."""
    return STATEMENT_FILE_ROW % (
        json_string(statement.id),
        datetime64_text(statement.timestamp),
        json_string(statement.json),
    )


def statement_file_content(statements: list[Statement]) -> bytes:
    rows = "\n".join(statement_file_row(statement) for statement in statements) + "\n"
    return zstd.compress(rows.encode(), level=COMPRESS_LEVEL)


def statement_file_rows(name: str, data: bytes) -> list[bytes]:
    """The JSONEachRow lines of a statement file, either compression (told by its name)."""
    text = gzip.decompress(data) if name.endswith(GZIP_STATEMENT_FILE_SUFFIX) else zstd.decompress(data)
    return text.splitlines()
