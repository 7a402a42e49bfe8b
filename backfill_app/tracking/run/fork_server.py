"""
Where --workers processes come from: a fork server that has set Django and ERB up once,
started while the command lists its files, so that each worker is a fork of it (a few
milliseconds) instead of a new interpreter that imports and sets everything up again
(about 0.35 CPU seconds, measured, each).

The server lives for one run: it is started with the run's environment (the LMS root URL the
run settled on, the variables that secrets are read from) and stopped at the end of the run.
Where it cannot run (no fork, as on Windows), workers are spawned as before.

Imported by the command before Django is set up in its workers: nothing here needs Django at
its top.
"""

from __future__ import annotations

import logging
import multiprocessing
from multiprocessing import forkserver

from backfill_app.reporting.cpu import cpu_seconds_of

log = logging.getLogger(__name__)

PRELOAD_MODULE = "backfill_app.tracking.run.worker_preload"
_started = False  # by this run: workers come from it; otherwise they are spawned


def worker_context():
    """The multiprocessing context workers start from: this run's fork server, else spawned processes."""
    return multiprocessing.get_context("forkserver" if _started else "spawn")


def start_fork_server() -> None:
    """Start the server now, so that it sets itself up while this process goes on with its own work."""
    global _started
    if "forkserver" not in multiprocessing.get_all_start_methods():
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
    pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    return (cpu_seconds_of(pid) if pid is not None else None) or 0.0


def stop_fork_server() -> None:
    """The run is over: the next one starts a server with its own environment."""
    global _started
    if not _started:
        return
    _started = False
    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)  # multiprocessing's own (Python 3.8+), not public API
    if stop is not None:
        stop()
