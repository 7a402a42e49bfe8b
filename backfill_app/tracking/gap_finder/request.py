"""What one ``find_xapi_gaps`` run is asked to do, typed: built once by the command from its options."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import StorageLocation
from backfill_app.tracking.window import TimeWindow


@dataclass(frozen=True)
class GapRequest:
    source: StorageLocation  # tracking logs, or an archive of statements (told by their content)
    destination: Destination  # ClickHouse: its xAPI table is compared with the source
    start: datetime | None = None  # --start / --end: only the hours between
    end: datetime | None = None
    plot_path: str | None = None  # --plot: a PNG of both series per hour
    allow_other_statement_ids: bool = False  # compare though the table's statements were made otherwise
    drift: bool = False  # compare the table's statements with today's ERB's by event, hour by hour

    def window(self) -> TimeWindow:
        return TimeWindow(start=self.start, end=self.end)
