"""
One ``find_xapi_gaps`` run, from its request to its report: list the source, tell tracking logs
from an archive of statements by their content, compare the right one with the xAPI table, and
draw the plot when asked. What the operator should see on the way goes to ``announce``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from backfill_app.core.errors import BackfillConfigError
from backfill_app.sources.storage import LogStore
from backfill_app.tracking.gap_finder.archive_comparison import (
    is_statement_archive,
    list_statement_objects,
    search_archive_gaps,
)
from backfill_app.tracking.gap_finder.drift_by_hour import drift_by_hour
from backfill_app.tracking.gap_finder.log_comparison import search_gaps
from backfill_app.tracking.gap_finder.plot import plot_drift, plot_gaps, require_plotting
from backfill_app.tracking.gap_finder.report import ArchiveGapReport, DriftReport, GapReport, LogGapReport
from backfill_app.tracking.gap_finder.request import GapRequest
from backfill_app.tracking.statement_identity import ids_as_the_destination_holds


class GapFinderJob:
    def __init__(self, request: GapRequest, announce: Callable[[str], None]):
        self.request = request
        self.announce = announce

    def run(self) -> GapReport | DriftReport:
        """The report; a bad option or config raises BackfillConfigError before anything long begins."""
        request = self.request
        xapi = request.destination.xapi_table
        if request.plot_path:
            require_plotting(request.plot_path)
        store, window = LogStore(request.source), request.window()
        objects, listed = list_statement_objects(store, window)
        if not objects:
            raise BackfillConfigError(f"No files found at {request.source.describe()}* ({listed}).")
        report: GapReport
        if request.drift:
            if is_statement_archive(store, objects):
                raise BackfillConfigError("--drift compares what today's ERB makes of tracking logs: give the logs.")
            self.announce(f"Statements in: {xapi.describe()}, compared by event with today's ERB's")
            with self._statements_made_as_the_table_holds():
                drift = DriftReport(table=xapi, found=drift_by_hour(store, objects, xapi, window))
            if request.plot_path:
                plot_drift(request.plot_path, drift.found)
                drift.plot_path = request.plot_path
            return drift
        if is_statement_archive(store, objects):
            self.announce(f"Reference: the statements of {request.source.describe()}* (an xAPI archive)")
            self.announce(f"Statements in: {xapi.describe()}")
            report = ArchiveGapReport(table=xapi, found=search_archive_gaps(store, objects, xapi, window))
        else:
            self.announce(f"Statements in: {xapi.describe()}")
            with self._statements_made_as_the_table_holds():
                report = LogGapReport(table=xapi, found=search_gaps(store, objects, xapi, window))
        if request.plot_path:
            plot_gaps(
                request.plot_path,
                report.reference_per_hour(),
                report.statements_per_hour(),
                report.gap_hours(),
                report.surplus_hours(),
                report.plot_reference,
            )
            report.plot_path = request.plot_path
        return report

    @contextmanager
    def _statements_made_as_the_table_holds(self) -> Iterator[None]:
        """
        ERB's statement ids made with the LMS root URL of the table's statements: with another,
        every hour would look short. Refused when they differ, unless --allow_other_statement_ids.
        """
        opened = self.request.destination.open()
        try:
            with ids_as_the_destination_holds(opened, False, self.request.allow_other_statement_ids, self.announce):
                yield
        finally:
            opened.close()
