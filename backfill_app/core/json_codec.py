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
from json import encoder as _encoder

import msgspec

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


def _statement_encoder():
    fallback = json.JSONEncoder(allow_nan=False).encode
    make = getattr(_encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return fallback
    default = json.JSONEncoder().default  # the TypeError json.dumps raises for a non-JSON value
    try:
        encode = make(None, default, _encoder.encode_basestring_ascii, None, ": ", ", ", False, False, False)
    except TypeError:  # another interpreter's signature
        return fallback

    def write(value) -> str:
        return "".join(encode(value, 0))

    return write


write_json = _statement_encoder()
