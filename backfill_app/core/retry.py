"""The one retry policy: exponential backoff with full jitter, for transient failures."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")  # not `def f[T]`: Python 3.11 platforms run this


def call_with_retries(
    action: Callable[[], T],
    *,
    retry_on: tuple[type[BaseException], ...],
    attempts: int | None = None,
    base_delay_secs: float | None = None,
    max_delay_secs: float = 30.0,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """
    ``action()``, tried up to ``attempts`` times (default: BACKFILL_RETRY_ATTEMPTS); the last
    failure is re-raised. The first pause is at most BACKFILL_RETRY_BASE_DELAY_SECS.
    """
    from backfill_app.core import conf

    attempts = attempts or conf.get("BACKFILL_RETRY_ATTEMPTS")
    base_delay_secs = conf.get("BACKFILL_RETRY_BASE_DELAY_SECS") if base_delay_secs is None else base_delay_secs
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except retry_on as exc:
            if attempt == attempts:
                raise
            delay = random.uniform(0, min(max_delay_secs, base_delay_secs * 2 ** (attempt - 1)))
            log.warning("%s failed (%s), try %d of %d in %.1fs", what, type(exc).__name__, attempt + 1, attempts, delay)
            sleep(delay)
    raise AssertionError("unreachable")
