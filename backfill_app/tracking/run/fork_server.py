"""
Where --workers processes come from. Where this process may be forked (Linux, and no thread
but its main one), each worker is a fork of it: it starts in milliseconds with everything the
command has set up. Otherwise (the embedded ClickHouse's engine runs threads in this process;
a fork would copy their locks as they stand, held or not) a fork server that has set Django
and ERB up once, started while the command lists its files: each worker is a fork of it,
instead of a new interpreter that imports and sets everything up again (about 0.35 CPU
seconds, measured, each). The server's own set-up was measured at 0.3 CPU s and 0.35 s
before the first worker could start: what forking the command itself saves.

The server lives for one run: it is started with the run's environment (the LMS root URL the
run settled on, the variables that secrets are read from) and stopped at the end of the run.
Where it cannot run (no fork, as on Windows), workers are spawned as before; so are a later
run's in this process where the server could not be stopped (core/stdlib_internals.py).

Imported by the command before Django is set up in its workers: nothing here needs Django at
its top.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing import forkserver

from backfill_app.core.stdlib_internals import fork_server_pid, stop_fork_server_process
from backfill_app.reporting.cpu import cpu_seconds_of

log = logging.getLogger(__name__)

PRELOAD_MODULE = "backfill_app.tracking.run.worker_preload"
_started = False  # by this run: workers come from it; otherwise they are spawned
# A server that could not be stopped holds an earlier run's environment: later runs spawn instead.
_left_running = False


def forks_safely() -> bool:
    """Whether a worker may be a fork of this very process: fork exists and no other thread runs."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1  # the engine's threads are not Python's: counted here
    except OSError:  # no /proc to count them: the server
        return False


def worker_context():
    """The multiprocessing context workers start from: this process, this run's fork server, or spawned."""
    if not _started and forks_safely():
        return multiprocessing.get_context("fork")
    start_fork_server()  # already running, or a thread appeared since the run started
    return multiprocessing.get_context("forkserver" if _started else "spawn")


def start_fork_server() -> None:
    """Start the server now, so that it sets itself up while this process goes on with its own work."""
    global _started
    if _started or _left_running or "forkserver" not in multiprocessing.get_all_start_methods():
        return
    forkserver.set_forkserver_preload([PRELOAD_MODULE])
    try:
        forkserver.ensure_running()
    except OSError as exc:  # its socket or pipe could not be made here: workers are spawned instead
        log.warning("no fork server for the workers (%s): each worker starts its own interpreter", exc)
        return
    _started = True


def fork_server_cpu_seconds() -> float:
    """The server's own CPU seconds (its set-up, once for all workers): Linux's /proc, else 0."""
    if not _started:
        return 0.0
    pid = fork_server_pid()
    return (cpu_seconds_of(pid) if pid is not None else None) or 0.0


def stop_fork_server() -> None:
    """The run is over: the next one starts a server with its own environment."""
    global _started, _left_running
    if not _started:
        return
    _started = False
    if not stop_fork_server_process():
        _left_running = True
        log.warning("the fork server cannot be stopped here: later runs of this process spawn their workers")
