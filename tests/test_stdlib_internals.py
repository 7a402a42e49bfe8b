"""
The standard library's private APIs we use (core/stdlib_internals.py) still have the shape we
rely on: on a Python where one changes, a test here fails by name before a run slows down or
leaves a server behind unnoticed. And each fallback works when the private API is gone.
"""

from __future__ import annotations

import json
import logging
import os
from json import encoder as json_encoder
from multiprocessing import forkserver
from types import SimpleNamespace

import pytest

from backfill_app.core.json_codec import make_write_json
from backfill_app.core.stdlib_internals import c_json_writer, fork_server_pid, stop_fork_server_process
from backfill_app.tracking.run import fork_server

SAMPLES = [
    {
        "id": "2b1f1e2c-6d3a-4c6b-9f9b-1b2c3d4e5f60",
        "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.example.com", "name": "é\ud800\x00"}},
        "result": {"score": {"scaled": 0.5, "raw": 1, "min": -0.0, "max": 1e300}, "success": False, "response": None},
        "context": {"contextActivities": {"parent": [{"id": "x", "objectType": "Activity"}]}, "extensions": {}},
        "timestamp": "2024-01-01T00:00:00.000Z",
    },
    {7: "int key", 2.5: "float key", True: "bool key", None: "null key", "": []},
    [10**40, -(10**40), 1.1, 0.1 + 0.2, 1e-7, '\u2028\n\t"\\/', ("a", "tuple"), [[[]]], {}],
    "a string alone: ✓",
    12,
    None,
    float("nan"),  # refused: allow_nan=False
    [float("inf")],
    {"a": {1, 2}},  # not JSON
    {(1,): "a tuple key"},  # not a JSON key
]


def outcome(write, value) -> tuple[str, str]:
    """The text written, or the kind of error (its message differs between json's two encoders on 3.11)."""
    try:
        return "text", write(value)
    except (ValueError, TypeError) as exc:
        return "error", type(exc).__name__


def pure_python_outcomes(monkeypatch) -> list[tuple[str, str]]:
    """What json's own pure-Python encoder writes for each sample, with allow_nan=False."""
    with monkeypatch.context() as patched:
        patched.setattr(json_encoder, "c_make_encoder", None)
        patched.setattr(json_encoder, "encode_basestring_ascii", json_encoder.py_encode_basestring_ascii)
        write = json.JSONEncoder(allow_nan=False).encode
        return [outcome(write, value) for value in SAMPLES]


# -- json.encoder.c_make_encoder ---------------------------------------------------------------


def test_c_make_encoder_takes_our_arguments_and_writes_as_the_pure_python_encoder(monkeypatch):
    assert callable(getattr(json_encoder, "c_make_encoder", None)), "json.encoder.c_make_encoder is gone"
    write = c_json_writer()
    assert write is not None, "json.encoder.c_make_encoder refuses the arguments stdlib_internals gives it"
    assert [outcome(write, value) for value in SAMPLES] == pure_python_outcomes(monkeypatch)


@pytest.mark.parametrize("change", ["None", "other arguments"])
def test_without_c_make_encoder_json_is_written_by_the_json_encoder(monkeypatch, change):
    expected = pure_python_outcomes(monkeypatch)
    if change == "None":
        monkeypatch.setattr(json_encoder, "c_make_encoder", None)  # how json.encoder says it has no _json
    else:
        real = json_encoder.c_make_encoder

        def c_make_encoder(markers, *arguments):  # json's own call (a dict of markers) still works
            if markers is None:
                raise TypeError("make_encoder() argument 1 must be dict, not None")
            return real(markers, *arguments)

        monkeypatch.setattr(json_encoder, "c_make_encoder", c_make_encoder)

    assert c_json_writer() is None
    write = make_write_json()
    assert [outcome(write, value) for value in SAMPLES] == expected


def test_without_the_name_c_make_encoder_there_is_no_c_writer(monkeypatch):
    # json.JSONEncoder itself reads that name: without it json cannot write at all, so only ours is asked
    monkeypatch.delattr(json_encoder, "c_make_encoder")
    assert c_json_writer() is None


# -- multiprocessing.forkserver._forkserver ------------------------------------------------------


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_fork_server_is_found_and_stopped_through_forkserver_private_object():
    server = getattr(forkserver, "_forkserver", None)
    assert server is not None, "multiprocessing.forkserver._forkserver is gone"
    assert hasattr(server, "_forkserver_pid"), "the fork server no longer keeps its pid in _forkserver_pid"
    assert callable(getattr(server, "_stop", None)), "the fork server has no _stop() any more"

    forkserver.ensure_running()
    pid = fork_server_pid()
    assert pid is not None and alive(pid)

    assert stop_fork_server_process() is True
    assert not alive(pid)  # _stop() waited for it: gone, not a zombie
    assert fork_server_pid() is None

    assert stop_fork_server_process() is True  # none running: nothing to do
    forkserver.ensure_running()  # and the next one starts
    restarted = fork_server_pid()
    assert restarted is not None and restarted != pid and alive(restarted)
    assert stop_fork_server_process() is True
    assert not alive(restarted)


@pytest.mark.parametrize("change", ["no _forkserver", "no _forkserver_pid nor _stop", "a pid that is not one"])
def test_without_forkserver_private_object_there_is_no_pid_and_no_stop(monkeypatch, change):
    if change == "no _forkserver":
        monkeypatch.delattr(forkserver, "_forkserver")
    elif change == "no _forkserver_pid nor _stop":
        monkeypatch.setattr(forkserver, "_forkserver", SimpleNamespace())
    else:
        monkeypatch.setattr(forkserver, "_forkserver", SimpleNamespace(_forkserver_pid="1234", _stop=None))

    assert fork_server_pid() is None
    assert stop_fork_server_process() is False


def test_a_run_whose_fork_server_cannot_be_stopped_leaves_later_runs_spawning_their_workers(monkeypatch, caplog):
    monkeypatch.setattr(forkserver, "_forkserver", SimpleNamespace(_forkserver_pid=None))  # no _stop
    monkeypatch.setattr(fork_server, "_started", True)  # as a run that started the server
    monkeypatch.setattr(fork_server, "_left_running", False)
    monkeypatch.setattr(fork_server, "forks_safely", lambda: False)  # as beside the embedded engine's threads

    def no_new_server():
        raise AssertionError("a later run asked for a fork server: it would get the earlier run's")

    monkeypatch.setattr(forkserver, "ensure_running", no_new_server)

    with caplog.at_level(logging.WARNING, logger=fork_server.__name__):
        fork_server.stop_fork_server()
    assert "cannot be stopped" in caplog.text
    assert fork_server.fork_server_cpu_seconds() == 0.0

    fork_server.start_fork_server()  # the next run
    assert fork_server.worker_context().get_start_method() == "spawn"
