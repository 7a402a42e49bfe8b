"""
Whether this process is the backfill's own: a run changes some of ERB's and tincan's functions
for its duration (transform/accelerations.py), which is safe where
nothing else runs in the process (the command, its forked workers, a prefork or solo Celery
worker) and wrong where a live event could be handled beside it (a threaded, gevent or eventlet
pool). Free of Django.
"""

from __future__ import annotations

import sys
import threading


class SharedProcess(Exception):
    """This worker runs tasks beside other work in one process: the shard is refused, saying why."""


def shared_with(current_thread=None) -> str | None:
    """What else may run in this process beside the caller (a pool's kind), or None when it is ours."""
    current = current_thread or threading.current_thread()
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("threading"):
        return "a gevent pool"
    eventlet = sys.modules.get("eventlet.patcher")
    if eventlet is not None and eventlet.is_monkey_patched("thread"):
        return "an eventlet pool"
    if current is not threading.main_thread():
        return "a threaded pool"
    return None


def require_own_process() -> None:
    kind = shared_with()
    if kind is not None:
        raise SharedProcess(
            f"this worker runs tasks in {kind}, where a live event handled beside a shard would meet the ERB "
            "functions a backfill replaces while it runs: start the backfill's Celery workers with --pool=prefork "
            "(or solo)."
        )
