"""
Count the events per hour in the tracking logs that can become statements, and the
statements per hour in Aspects' raw xAPI table (xapi_events_all); check the hours where ClickHouse has
fewer by transforming their events, and list those where it still has fewer than ERB makes:
the hours to backfill with ``transform_tracking_logs --gaps_only``.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.clickhouse.connection import xapi_table_from_config
from backfill_app.core.errors import BackfillConfigError, Refused, ServiceUnavailable
from backfill_app.core.options import parse_json_object
from backfill_app.core.secrets import command_line_notices
from backfill_app.sinks.clickhouse import ClickHouseSink
from backfill_app.sources.storage import LogStore, StorageLocation
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
            config = parse_json_object(options["destination_config"], "--destination_config")
            xapi = xapi_table_from_config(config)
            window = TimeWindow.from_options(options["start"], options["end"])
            if options["plot"]:
                require_plotting()
            store = LogStore(location)
            objects = store.list_objects()
            if not objects:
                raise BackfillConfigError(f"No files found at {location.describe()}*.")
            self.stdout.write(f"Statements in: {xapi.describe()}")
            clickhouse = ClickHouseSink(xapi)
            try:
                held = HeldStatements.read_from(clickhouse)
            finally:
                clickhouse.close()
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
