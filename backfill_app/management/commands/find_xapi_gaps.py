"""
Count the events per hour in the tracking logs that can become statements, and the
statements per hour in Aspects' raw xAPI table (xapi_events_all); check the hours where ClickHouse has
fewer by transforming their events, and list those where it still has fewer than ERB makes:
the hours to backfill with ``transform_tracking_logs --gaps_only``. When the source is an
archive of statements instead (Aspects' xAPI archive, statement files: told by their content),
list the hours where the table lacks some of its statements: the hours ``load_xapi_files
--gaps_only`` restores.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.core.errors import BackfillConfigError, Refused, ServiceUnavailable
from backfill_app.core.secrets import command_line_notices
from backfill_app.sinks.destinations import CLICKHOUSE, Destination
from backfill_app.sources.storage import LogStore, StorageLocation
from backfill_app.tracking.archive_gaps import (
    archive_gap_table,
    archive_surplus_table,
    is_statement_archive,
    list_statement_objects,
    search_archive_gaps,
)
from backfill_app.tracking.gap_search import search_gaps
from backfill_app.tracking.gaps import gap_table, plot_gaps, require_plotting, surplus_table
from backfill_app.tracking.statement_identity import HeldStatements, lms_root_url_in_use, settle_root_url
from backfill_app.tracking.window import TimeWindow
from backfill_app.transform.statements import DirectPathMismatch


class Command(BaseCommand):
    help = __doc__.strip()

    def add_arguments(self, parser):
        parser.add_argument("--source_provider", required=True, help="as for transform_tracking_logs")
        parser.add_argument("--source_config", required=True, help="as for transform_tracking_logs")
        parser.add_argument(
            "--destination_config",
            help="ClickHouse: {'url', 'username', 'password'} or {'dsn'}, 'database', 'table' (default: settings)",
        )
        parser.add_argument("--start", help="only hours from this time (ISO 8601, UTC by default)")
        parser.add_argument("--end", help="only hours before this time (ISO 8601, UTC by default)")
        parser.add_argument("--plot", metavar="PATH", help="draw both series per hour, gaps shaded, as a PNG")
        parser.add_argument(
            "--allow_other_statement_ids",
            action="store_true",
            help="compare even though ClickHouse's statements were made with another LMS root URL or "
            "XAPI_AGENT_IFI_TYPE (every hour then looks short)",
        )

    def handle(self, *args, **options):
        for notice in command_line_notices(options):
            self.stdout.write(notice)
        try:
            location = StorageLocation.from_options(
                options["source_provider"], options["source_config"], "--source_config"
            )
            destination = Destination.from_options(CLICKHOUSE, options["destination_config"])
            xapi = destination.xapi_table
            window = TimeWindow.from_options(options["start"], options["end"])
            if options["plot"]:
                require_plotting()
            store = LogStore(location)
            objects, listed = list_statement_objects(store, window)
            if not objects:
                raise BackfillConfigError(f"No files found at {location.describe()}* ({listed}).")
            if is_statement_archive(store, objects):
                self._compare_with_archive(store, objects, xapi, window, options["plot"])
                return
            self.stdout.write(f"Statements in: {xapi.describe()}")
            opened = destination.open()
            try:
                held = HeldStatements.read_from(opened)
            finally:
                opened.close()
            root_url = settle_root_url(held, False, options["allow_other_statement_ids"], self.stdout.write)
            with lms_root_url_in_use(root_url):
                report = search_gaps(store, objects, xapi, window)
        except (BackfillConfigError, DirectPathMismatch, Refused) as exc:
            raise CommandError(str(exc)) from None
        except ServiceUnavailable as exc:
            raise CommandError(f"{exc}. Run the command again once it answers.") from None

        hours = len(report.events_per_hour)
        if report.gaps:
            self.stdout.write("\n".join(gap_table(report.gaps)))
        self.stdout.write(
            f"Hours with events in the logs: {hours}\n"
            f"Hours checked by transforming their events: {report.hours_checked}\n"
            f"Hours where ClickHouse has fewer statements: {len(report.gaps)}"
        )
        if report.events_without_user:
            self.stdout.write(
                f"{report.events_without_user} events of unknown users (deleted since) or of no user (anonymous "
                "visitors): not backfillable, not counted"
            )
        if report.surpluses:
            self.stdout.write(
                f"Hours where ClickHouse holds more statements than the logs can give: {len(report.surpluses)}\n"
                + "\n".join(surplus_table(report.surpluses))
                + "\nThese statements are likely doubles: the same events written again under other ids, by a "
                "backfill made with another LMS root URL or XAPI_AGENT_IFI_TYPE than the live pipeline's, or by two "
                "pipelines at once. Aspects counts them twice."
            )
        if not report.gaps:
            self.stdout.write("No gaps: ClickHouse holds every statement the logs can give.")
        if options["plot"]:
            plot_gaps(
                options["plot"], report.events_per_hour, report.statements_per_hour, report.gaps, report.surpluses
            )
            self.stdout.write(f"Plot: {options['plot']}")

    def _compare_with_archive(self, store, objects, xapi, window, plot: str | None) -> None:
        self.stdout.write(f"Reference: the statements of {store.location.describe()}* (an xAPI archive)")
        self.stdout.write(f"Statements in: {xapi.describe()}")
        report = search_archive_gaps(store, objects, xapi, window)
        contents = report.contents
        if report.gaps:
            self.stdout.write("\n".join(archive_gap_table(report.gaps)))
        self.stdout.write(
            f"Hours with statements in the archive: {len(contents.ids_per_hour)}\n"
            f"Hours where ClickHouse lacks some of them: {len(report.gaps)}\n"
            f"Rows of the archive that are not statement rows: {sum(contents.bad_rows.values())}"
            + "".join(f"\n  {reason}: {count}" for reason, count in sorted(contents.bad_rows.items()))
            + f"\nObjects cut short (their whole rows counted): {len(contents.cut_objects)}"
            + "".join(f"\n  {name}: {why}" for name, why in sorted(contents.cut_objects.items()))
        )
        if report.surpluses:
            self.stdout.write(
                f"Hours where ClickHouse holds more statements than the archive: {len(report.surpluses)}\n"
                + "\n".join(archive_surplus_table(report.surpluses))
                + "\nThese may be doubles (the same events under other ids) or statements the archive never "
                "received (written by a backfill, or before the archive was turned on)."
            )
        if not report.gaps:
            self.stdout.write("No gaps: ClickHouse holds every statement of the archive.")
        else:
            self.stdout.write("Restore them with load_xapi_files --gaps_only and the same source.")
        if plot:
            plot_gaps(
                plot, report.archive_per_hour, report.statements_per_hour, report.gaps, report.surpluses,
                reference=("the archive", "statements in the archive"),
            )  # fmt: skip
            self.stdout.write(f"Plot: {plot}")
