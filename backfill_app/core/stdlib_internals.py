"""
Every use of the standard library's private APIs, each behind a function that answers "not
available" (None or False) where the interpreter lacks the API or it changed shape, so that
the caller takes its fallback instead of failing. ``tests/test_stdlib_internals.py`` fails on a
Python whose private APIs no longer look as these functions expect, and checks each fallback.

Free of Django: the fork server's module imports this before Django is set up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as json_encoder
from multiprocessing import forkserver
from typing import Any

# -- json.encoder.c_make_encoder ------------------------------------------------------------
# json.dumps builds a new encoder for every call. Writing statements is the hot path: one C
# encoder made once writes a statement in about 5 µs where json.dumps(value, allow_nan=False)
# takes about 8 µs (100,000 statement-shaped values, CPython 3.11 and 3.12: 0.49-0.63 s against
# 0.81-0.93 s). The private part is c_make_encoder's positional signature, undocumented.
# Fallback: None, and the caller writes with json.JSONEncoder(allow_nan=False).encode, which is
# json.dumps' own cost; on an interpreter without the C accelerator at all that is the
# pure-Python encoder, about 28 µs a statement (2.8 s per 100,000), json.dumps' cost there too.


def c_json_writer() -> Callable[[Any], str] | None:
    """
    ``json.dumps(value, allow_nan=False)`` made once: the same text, and the same ValueError or
    TypeError for NaN or a value JSON cannot hold. Without the cycle check: a value holding
    itself raises RecursionError, so give it values read from JSON only.

    None where ``json.encoder`` has no C encoder, or its factory refuses these arguments.
    """
    make = getattr(json_encoder, "c_make_encoder", None)
    if not callable(make):
        return None
    default = json.JSONEncoder().default  # raises json.dumps' TypeError for a non-JSON value
    try:
        # markers (None: no cycle check), default, string encoder, indent, key separator,
        # item separator, sort_keys, skipkeys, allow_nan
        encode = make(None, default, json_encoder.encode_basestring_ascii, None, ": ", ", ", False, False, False)
    except TypeError:  # the factory takes other arguments on this interpreter
        return None

    def write(value: Any) -> str:
        return "".join(encode(value, 0))

    return write


# -- multiprocessing.forkserver._forkserver ------------------------------------------------------
# multiprocessing starts one fork server per process and offers no public way to see or stop it.
# Its pid (_forkserver_pid) lets the run's summary count the server's own CPU (its set-up, about
# 0.3 CPU s, measured, done once for every worker). Its _stop() ends it at the end of a run, so
# that the next run in the same process starts a server with that run's environment (the LMS
# root URL, the variables secrets are read from) instead of forking workers with the last one's.
# Fallbacks: no pid, and the summary leaves the server's CPU out; not stopped, and the server
# lives until this process ends (as it does anyway after the command's one run), and a later
# run of this process spawns its workers (about 0.35 CPU s each, measured, to set up again).


def _fork_server() -> object | None:
    return getattr(forkserver, "_forkserver", None)


def fork_server_pid() -> int | None:
    """The pid of this process's multiprocessing fork server, or None: none running, or no way to know."""
    pid = getattr(_fork_server(), "_forkserver_pid", None)
    return pid if isinstance(pid, int) else None


def stop_fork_server_process() -> bool:
    """
    Stop this process's multiprocessing fork server (waiting for it to end), if one runs; the
    next ``forkserver.ensure_running()`` starts a new one. True when stopped or none ran,
    False when it cannot be asked to stop here: it may still run.
    """
    stop = getattr(_fork_server(), "_stop", None)
    if not callable(stop):
        return False
    stop()
    return True
