"""
What one ``transform_tracking_logs`` run is asked to do, validated and typed: built once by
the command from its options, and the only thing the feature below it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import StorageLocation
from backfill_app.tracking.pipeline import BatchOptions
from backfill_app.tracking.window import TimeWindow
from backfill_app.transform.statements import DEFAULT_VERIFY_SAMPLE


@dataclass(frozen=True)
class TimeSelection:
    """Which events by time: ``--start``/``--end``, and with ``--gaps_only`` only the gap hours."""

    start: datetime | None = None
    end: datetime | None = None
    gaps_only: bool = False

    @classmethod
    def from_options(cls, start: str | None, end: str | None, gaps_only: bool) -> TimeSelection:
        """As the operator typed them; a bad time or an empty window is a BackfillConfigError."""
        window = TimeWindow.from_options(start, end)
        return cls(window.start, window.end, gaps_only)

    def window(self) -> TimeWindow:
        """A new window (it learns the files' time ranges as the run goes)."""
        return TimeWindow(start=self.start, end=self.end)

    @property
    def bounded(self) -> bool:
        return bool(self.start or self.end)


@dataclass(frozen=True)
class RunMode:
    """Where the work happens: here (``workers`` processes, None for the default) or on Celery."""

    workers: int | None = None
    distributed: bool = False
    queue: str | None = None  # --distributed only; None: BACKFILL_CELERY_QUEUE
    secrets_in_queue: bool = False  # task messages may carry secrets written inline (else refused)


@dataclass(frozen=True)
class TransformRequest:
    source: StorageLocation
    destination: Destination
    batch: BatchOptions
    time: TimeSelection = field(default_factory=TimeSelection)
    mode: RunMode = field(default_factory=RunMode)
    restart: bool = False
    dead_letter_path: str | None = None
    verify_sample: float = DEFAULT_VERIFY_SAMPLE  # share of fast-path events also transformed by ERB
    allow_other_statement_ids: bool = False  # write though the destination's statements were made otherwise

    @property
    def transformer_type(self) -> str:
        return self.destination.transformer_type
