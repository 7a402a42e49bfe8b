"""
Writes in a thread of their own, one batch at a time, while the next batch is being made:
the destination's time (an LRS or a ClickHouse server answering, an upload) overlaps the
transformation instead of adding to it. The embedded engine is written to from a thread too:
it lets go of the GIL while it inserts. Only a sink that is Python all the way (a dry run, a
worker's hand-off queue) is written to in line.

At most one batch is in flight, so memory stays bounded; its outcome (or its error) is
handed back when the caller waits, before it submits the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from backfill_app.reporting.cpu import CpuAccount
from backfill_app.sinks.base import WriteResult


@dataclass
class Settled:
    """A batch whose write finished: its result, and what the caller attached to it."""

    result: WriteResult
    attached: Any


class BackgroundWriter:
    def __init__(
        self, write: Callable[[list], WriteResult], threaded: bool = True, cpu: CpuAccount | None = None, role="writing"
    ):
        self.write = write  # one batch, all or nothing
        self.threaded = threaded
        self.cpu = cpu or CpuAccount()
        self.cpu_role = role  # a worker's hand-off queue: "handing off"
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: tuple[Future, Any] | None = None
        self.failed: Any = None

    def submit(self, statements: list, attached: Any) -> None:
        """Start writing ``statements``; the batch before must have been waited for."""
        assert self._in_flight is None, "one batch in flight at a time"
        if not self.threaded:
            written: Future = Future()
            try:
                with self.cpu.role(self.cpu_role):
                    written.set_result(self.write(statements))
            except BaseException:
                self.failed = attached
                raise
            self._in_flight = (written, attached)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backfill-writer")
        self._in_flight = (self._executor.submit(self._timed_write, statements), attached)

    def _timed_write(self, statements: list) -> WriteResult:
        started = time.thread_time()
        try:
            return self.write(statements)
        finally:
            self.cpu.add(self.cpu_role, time.thread_time() - started)

    def wait(self) -> Settled | None:
        """The batch in flight, once written; its error (DestinationUnavailable) is raised here."""
        if self._in_flight is None:
            return None
        future, attached = self._in_flight
        self._in_flight = None
        try:
            return Settled(future.result(), attached)
        except BaseException:
            self.failed = attached  # what the caller attached to the batch that could not be written
            raise

    def close(self) -> None:
        """A write still in flight (the run is failing) is finished, not cut halfway."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
