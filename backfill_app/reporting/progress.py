"""A progress bar on a terminal; a log line every so often elsewhere (cron, kubectl logs)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from tqdm import tqdm

log = logging.getLogger("backfill_app.reporting.progress")


class _Bar(tqdm):
    # No monitor thread (it only adjusts a bar that stalls): with one, --workers could not be
    # forks of the command (run/fork_server.py), and started a server instead.
    monitor_interval = 0


class ByteProgress:
    """Progress over bytes by default; ``unit`` names something else counted (objects)."""

    def __init__(
        self,
        total_bytes: int | None,
        interval_secs: float,
        stream=None,
        unit: str = "B",
        quiet: bool = False,
        listener: Callable[[int], None] | None = None,
    ):
        self.total_bytes = total_bytes
        self.done_bytes = 0
        self.interval_secs = interval_secs
        self._last_log = time.monotonic()
        self.quiet = quiet  # a worker process: its parent shows the progress
        self.listener = listener  # told the bytes done so far (a Celery task reports them)
        stream = stream or sys.stderr
        self._bar = (
            _Bar(
                total=total_bytes,
                unit=unit,
                unit_scale=unit == "B",
                unit_divisor=1024,
                file=stream,
                dynamic_ncols=True,
            )
            if stream.isatty() and not quiet
            else None
        )

    def start_object(self, name: str, size: int) -> None:
        if self.quiet:
            return
        if self._bar is not None:
            self._bar.set_description(name, refresh=True)
        else:
            log.info("reading %s (%d bytes)", name, size)

    def advance(self, delta_bytes: int, status: str = "") -> None:
        if delta_bytes <= 0:
            return
        self.done_bytes += delta_bytes
        if self.listener is not None:
            self.listener(self.done_bytes)
        if self._bar is not None:
            self._bar.update(delta_bytes)
            if status:
                self._bar.set_postfix_str(status, refresh=False)
        elif not self.quiet and time.monotonic() - self._last_log >= self.interval_secs:
            self._last_log = time.monotonic()
            if self.total_bytes:
                share = 100 * self.done_bytes / self.total_bytes
                log.info("progress: %.1f%% of %.1f MB read; %s", share, self.total_bytes / 1e6, status)
            else:
                log.info("progress: %d done; %s", self.done_bytes, status)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
