"""
The JSON reading and writing of the hot path (every log line, every statement), with the
results of the standard library's ``json`` and a third of its cost or less.

- :func:`read_json` is ``json.loads``: msgspec reads what it can (integers of any size,
  floats rounded the same way, the last of repeated keys at the first one's place); whatever
  msgspec refuses (NaN, Infinity, 1e400, escaped lone surrogates, nesting past the recursion
  limit) goes to ``json.loads``, which reads it or raises as it always did. orjson is not
  used: it reads an integer past 64 bits as a float, without a word.
- :func:`write_json` is ``json.dumps(value, allow_nan=False)``: the same C encoder, made once
  instead of per call, and without the cycle check (a value read from JSON has no cycle).
"""

from __future__ import annotations

import json
import re

import msgspec

from backfill_app.core.stdlib_internals import c_json_writer

_msgspec_decode = msgspec.json.Decoder().decode


# What json.loads reads a value from: after its whitespace, an object, array, string, number,
# true, false, null, NaN or Infinity. Text that starts otherwise is not JSON to it.
_MAY_BE_JSON = re.compile(r"[ \t\n\r]*[{\[\"\-0-9tfnNI]")


def may_be_json(text: str) -> bool:
    """False for text ``json.loads`` refuses at its first character (a URL-encoded form, a word)."""
    return _MAY_BE_JSON.match(text) is not None


def read_json(text: str | bytes):
    try:
        return _msgspec_decode(text)
    except Exception:  # json.loads reads it, or raises what callers have always caught
        return json.loads(text)


def make_write_json():
    """What :func:`write_json` is: the C encoder made once, else ``json.JSONEncoder``'s (json.dumps' cost)."""
    return c_json_writer() or json.JSONEncoder(allow_nan=False).encode


write_json = make_write_json()
