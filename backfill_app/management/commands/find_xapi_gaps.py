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
from backfill_app.reporting.summary_json import (
    COMPLETED,
    STOPPED,
    SummaryJsonFile,
    add_summary_json_option,
    summary_json_file,
)
from backfill_app.sinks.destinations import CLICKHOUSE, Destination
from backfill_app.sources.storage import StorageLocation
from backfill_app.tracking.gap_finder.job import GapFinderJob
from backfill_app.tracking.gap_finder.request import GapRequest
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
        parser.add_argument(
            "--drift",
            action="store_true",
            help="compare, hour by hour, the table's statements of the logs' events with today's ERB's, by event: "
            "held as today's, stale (an older ERB's content), under another id, missing",
        )
        add_summary_json_option(parser)

    def handle(self, *args, **options):
        with summary_json_file("find_xapi_gaps", options["summary_json"]) as summary_file:
            self._find(self._request(options), options, summary_file)

    def _find(self, request: GapRequest, options: dict, summary_file: SummaryJsonFile) -> None:
        for notice in command_line_notices(options):
            self.stdout.write(notice)
        try:
            report = GapFinderJob(request, announce=self.stdout.write).run()
        except (BackfillConfigError, Refused) as exc:
            raise CommandError(str(exc)) from None  # written as refused, with its message
        except (DirectPathMismatch, ServiceUnavailable) as exc:
            message = str(exc)
            if isinstance(exc, ServiceUnavailable):
                message += ". Run the command again once it answers."
            summary_file.write(STOPPED, message=message)
            raise CommandError(message) from None
        self.stdout.write("\n".join(report.lines_of_text()))
        summary_file.write(COMPLETED, report)

    @staticmethod
    def _request(options: dict) -> GapRequest:
        """The options, checked and typed: the one thing the gap finder reads."""
        try:
            window = TimeWindow.from_options(options["start"], options["end"])
            return GapRequest(
                source=StorageLocation.from_options(
                    options["source_provider"], options["source_config"], "--source_config"
                ),
                destination=Destination.from_options(CLICKHOUSE, options["destination_config"]),
                start=window.start,
                end=window.end,
                plot_path=options["plot"],
                allow_other_statement_ids=options["allow_other_statement_ids"],
                drift=options["drift"],
            )
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
