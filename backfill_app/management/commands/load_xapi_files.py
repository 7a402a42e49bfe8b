"""
Load objects of xAPI rows into the xAPI table that Aspects reads: Aspects' own archive (what
Vector's aws_s3 sink writes under xapi/%Y/%m/%d/%H/, ASPECTS_XAPI_S3_BUCKET) or the statement
files that ``transform_tracking_logs`` wrote to a file destination, told apart by their content.
Statements the table holds are not inserted again, nor a statement met in two objects: loading
the same objects twice adds nothing, and no OPTIMIZE is needed.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.core.errors import BackfillConfigError, DestinationUnavailable
from backfill_app.core.secrets import command_line_notices
from backfill_app.reporting.summary_json import (
    COMPLETED,
    NOTHING_TO_DO,
    REFUSED,
    STOPPED,
    SummaryJsonFile,
    add_summary_json_option,
    summary_json_file,
)
from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import StorageLocation
from backfill_app.tracking.window import TimeWindow
from backfill_app.tracking.xapi_restore import RestoreRequest, XapiRestore


class Command(BaseCommand):
    help = __doc__.strip()

    def add_arguments(self, parser):
        parser.add_argument("--source_provider", required=True, help="where the objects are: S3, MINIO, LOCAL...")
        parser.add_argument(
            "--source_config",
            required=True,
            help="JSON with 'container' and 'prefix' (the archive's 'xapi/', or a file destination's folder), and "
            "the driver's options (secrets by reference), as for transform_tracking_logs",
        )
        parser.add_argument(
            "--destination_config",
            help="JSON: ClickHouse {'url', 'username', 'password'} or {'dsn'}, 'database', 'table' "
            "(default: settings, as for transform_tracking_logs)",
        )
        parser.add_argument(
            "--start", help="only statements from this time (ISO 8601, UTC by default); with --end, only the "
            "archive's hour folders of the window are listed"
        )  # fmt: skip
        parser.add_argument("--end", help="only statements before this time (ISO 8601, UTC by default)")
        parser.add_argument(
            "--gaps_only",
            action="store_true",
            help="only the hours where the table holds fewer of these statements (find_xapi_gaps with them as source)",
        )
        parser.add_argument(
            "--replace_drifted",
            action="store_true",
            help="where the table holds an event as an older ERB release made it (other content, or another id), "
            "replace it by the row loaded instead of setting the row aside (statement files of a run with "
            "--replace_drifted do so without it)",
        )
        parser.add_argument(
            "--dead_letter_path", help="where rows that are not statement rows, and objects cut short, are named"
        )
        add_summary_json_option(parser)

    def handle(self, *args, **options):
        with summary_json_file("load_xapi_files", options["summary_json"]) as report:
            self._load(options, report)

    def _load(self, options: dict, report: SummaryJsonFile) -> None:
        for notice in command_line_notices(options):
            self.stdout.write(notice)
        restore = XapiRestore(self._request(options), announce=self.stdout.write)
        try:
            summary = restore.run()
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
        except DestinationUnavailable as exc:
            message = f"{exc}. What was loaded is kept: run the same command again to load the rest."
            if restore.summary is not None:
                self.stdout.write("\n".join(restore.summary.lines_of_text()))
            report.write(STOPPED, restore.summary, message)
            raise CommandError(message) from None
        if summary.gap_hours == 0:
            report.write(NOTHING_TO_DO, summary, "No gaps: nothing to load.")
            return
        if not summary.objects:
            where = restore.request.location.describe()
            message = f"No statement objects (zstd or gzip JSON rows) at {where}* ({summary.listed})."
            report.write(REFUSED, summary, message)
            raise CommandError(message)
        self.stdout.write("\n".join(summary.lines_of_text()))
        report.write(COMPLETED, summary)

    @staticmethod
    def _request(options: dict) -> RestoreRequest:
        """The options, checked and typed: the one thing the restore reads."""
        try:
            return RestoreRequest(
                location=StorageLocation.from_options(
                    options["source_provider"], options["source_config"], "--source_config"
                ),
                destination=Destination.from_options("CLICKHOUSE", options["destination_config"]),
                window=TimeWindow.from_options(options["start"], options["end"])
                if options["start"] or options["end"]
                else None,
                gaps_only=options["gaps_only"],
                dead_letter_path=options["dead_letter_path"],
                replace_drifted=options["replace_drifted"],
            )
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
