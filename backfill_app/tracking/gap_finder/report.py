"""
What one ``find_xapi_gaps`` run found, one object for both of its faces: the text the command
prints (``lines_of_text``) and the same findings as data (``to_json``, the ``--summary_json``
document's own fields; README: find_xapi_gaps). No personal data: hours, counts, the table
and object names.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from backfill_app.clickhouse import xapi_queries
from backfill_app.clickhouse.connection import XapiTable
from backfill_app.tracking.gap_finder.archive_comparison import ArchiveComparison
from backfill_app.tracking.gap_finder.drift_by_hour import DriftComparison
from backfill_app.tracking.gap_finder.log_comparison import LogComparison
from backfill_app.tracking.gap_finder.text_tables import (
    ARCHIVE_GAP_COLUMNS,
    ARCHIVE_SURPLUS_COLUMNS,
    ARCHIVE_SURPLUS_EXPLANATION,
    ARCHIVE_SURPLUS_HEADING,
    DRIFT_COLUMNS,
    GAP_COLUMNS,
    LOG_SURPLUS_EXPLANATION,
    LOG_SURPLUS_HEADING,
    SURPLUS_COLUMNS,
    Column,
    hours_table,
)


def table_json(table: XapiTable) -> dict:
    return {"table": table.name, "clickhouse": table.target.describe(), "chosen_from": table.chosen_from}


@dataclass(kw_only=True)
class DriftReport:
    """``--drift``: each hour's statements as the table holds them, against today's ERB's (sinks/drift.py)."""

    table: XapiTable
    found: DriftComparison
    plot_path: str | None = None

    def to_json(self) -> dict:
        found = self.found
        hours = [hour.to_json() for hour in found.hours]
        return {
            "destination": table_json(self.table),
            "reference": "logs",
            "hours": hours,
            "drifted_hours": len(found.drifted_hours),
            "totals": {kind: sum(row[kind] for row in hours) for kind in ("same", "stale", "other_id", "missing")},
            "drift": [
                {"class": kind, "verb": verb, "behaviour": behaviour, "statements": count}
                for (kind, verb, behaviour), count in sorted(found.behaviours.items())
            ],
            "compared_by_id_only": found.compared_by_id_only,
            "plot": self.plot_path,
        }

    def lines_of_text(self) -> list[str]:
        data = self.to_json()
        drifted = [row for row in data["hours"] if row["stale"] or row["other_id"]]
        totals = data["totals"]
        lines = hours_table(DRIFT_COLUMNS, drifted) if drifted else []
        lines += [
            f"Hours compared by event: {len(data['hours'])}",
            f"Statements today's ERB makes of them: {sum(totals.values())}: held as today's {totals['same']}, "
            f"stale {totals['stale']}, under another id {totals['other_id']}, missing {totals['missing']}",
        ]
        lines += [
            f"  {entry['class']} ({entry['verb']}): {entry['statements']}: {entry['behaviour']}"
            for entry in data["drift"]
        ]
        if data["compared_by_id_only"]:
            lines.append(
                f"Compared by id only (over {xapi_queries.IDS_READ_WHOLE:,} statements in a time range): "
                f"{data['compared_by_id_only']}"
            )
        if drifted:
            lines.append(
                f"Hours holding an older ERB's statements: {len(drifted)}. A backfill over them writes none of these "
                "events again: it sets their statements aside with the id the table holds, or replaces what the "
                "table holds with --replace_drifted."
            )
        else:
            lines.append("No drift: the table holds these events as today's ERB makes them, or not at all.")
        if data["plot"]:
            lines.append(f"Plot: {data['plot']}")
        return lines


@dataclass(kw_only=True)
class GapReport:
    """The table compared, what it was compared with and found, and the plot drawn (``--plot``)."""

    table: XapiTable
    found: LogComparison | ArchiveComparison
    plot_path: str | None = None

    reference: ClassVar[str]  # what the table was compared with: "logs" or "archive"
    plot_reference: ClassVar[tuple[str, str]]  # its name in the plot's title, its series' label
    gap_columns: ClassVar[tuple[Column, ...]]
    surplus_columns: ClassVar[tuple[Column, ...]]
    surplus_heading: ClassVar[str]
    surplus_explanation: ClassVar[str]

    def lines_of_text(self) -> list[str]:
        """The gap hours' table, the counts, the surplus hours' table, what to do next: from ``to_json``."""
        data = self.to_json()
        lines = hours_table(self.gap_columns, data["gaps"]) if data["gaps"] else []
        lines += self.count_lines(data)
        if data["surpluses"]:
            lines.append(f"{self.surplus_heading}: {len(data['surpluses'])}")
            lines += hours_table(self.surplus_columns, data["surpluses"])
            lines.append(self.surplus_explanation)
        lines += self.closing_lines()
        if self.plot_path:
            lines.append(f"Plot: {self.plot_path}")
        return lines

    def to_json(self) -> dict:
        return {
            "destination": table_json(self.table),
            "reference": self.reference,
            **self.counts_json(),
            "gaps": [gap.to_json() for gap in self.found.gaps],
            "surpluses": [surplus.to_json() for surplus in self.found.surpluses],
            "plot": self.plot_path,
        }

    # What each reference says its own way.
    def count_lines(self, data: dict) -> list[str]:
        raise NotImplementedError

    def closing_lines(self) -> list[str]:
        raise NotImplementedError

    def counts_json(self) -> dict:
        raise NotImplementedError

    # The plot's series and shaded hours.
    def reference_per_hour(self) -> Counter:
        raise NotImplementedError

    def statements_per_hour(self) -> Counter:
        return Counter(self.found.statements_per_hour)

    def gap_hours(self) -> list[datetime]:
        return [gap.hour for gap in self.found.gaps]

    def surplus_hours(self) -> list[datetime]:
        return [surplus.hour for surplus in self.found.surpluses]


@dataclass(kw_only=True)
class LogGapReport(GapReport):
    """The tracking logs as the reference: what ERB makes of their events against the table."""

    found: LogComparison

    reference, plot_reference = "logs", ("the logs", "events in the logs that can become statements")
    gap_columns, surplus_columns = GAP_COLUMNS, SURPLUS_COLUMNS
    surplus_heading, surplus_explanation = LOG_SURPLUS_HEADING, LOG_SURPLUS_EXPLANATION

    def count_lines(self, data: dict) -> list[str]:
        lines = [
            f"Hours with events in the logs: {data['hours_with_events']}",
            f"Hours checked by transforming their events: {data['hours_checked']}",
            f"Hours where ClickHouse has fewer statements: {len(data['gaps'])}",
        ]
        if data["events_without_user"]:
            lines.append(
                f"{data['events_without_user']} events of unknown users (deleted since) or of no user (anonymous "
                "visitors): not backfillable, not counted"
            )
        return lines

    def closing_lines(self) -> list[str]:
        return [] if self.found.gaps else ["No gaps: ClickHouse holds every statement the logs can give."]

    def counts_json(self) -> dict:
        found = self.found
        return {
            "hours_with_events": len(found.events_per_hour),
            "hours_checked": found.hours_checked,
            "events_without_user": found.events_without_user,
        }

    def reference_per_hour(self) -> Counter:
        return Counter(self.found.events_per_hour)


@dataclass(kw_only=True)
class ArchiveGapReport(GapReport):
    """An archive of statements as the reference (Aspects' xAPI archive, statement files): compared by id."""

    found: ArchiveComparison

    reference, plot_reference = "archive", ("the archive", "statements in the archive")
    gap_columns, surplus_columns = ARCHIVE_GAP_COLUMNS, ARCHIVE_SURPLUS_COLUMNS
    surplus_heading, surplus_explanation = ARCHIVE_SURPLUS_HEADING, ARCHIVE_SURPLUS_EXPLANATION

    def count_lines(self, data: dict) -> list[str]:
        bad_rows, cut_objects = data["bad_rows"], data["cut_objects"]
        return [
            f"Hours with statements in the archive: {data['hours_with_statements']}",
            f"Hours where ClickHouse lacks some of them: {len(data['gaps'])}",
            f"Rows of the archive that are not statement rows: {sum(bad_rows.values())}",
            *(f"  {reason}: {count}" for reason, count in bad_rows.items()),
            f"Objects cut short (their whole rows counted): {len(cut_objects)}",
            *(f"  {name}: {why}" for name, why in cut_objects.items()),
        ]

    def closing_lines(self) -> list[str]:
        if self.found.gaps:
            return ["Restore them with load_xapi_files --gaps_only and the same source."]
        return ["No gaps: ClickHouse holds every statement of the archive."]

    def counts_json(self) -> dict:
        contents = self.found.contents
        return {
            "hours_with_statements": len(contents.ids_per_hour),
            "bad_rows": dict(sorted(contents.bad_rows.items())),
            "cut_objects": dict(sorted(contents.cut_objects.items())),
            "other_objects": contents.other_objects,
        }

    def reference_per_hour(self) -> Counter:
        return self.found.archive_per_hour
