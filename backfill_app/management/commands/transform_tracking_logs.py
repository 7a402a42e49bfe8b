"""
Transform edX tracking logs into xAPI (or Caliper) statements with event-routing-backends'
own transformers, and write them to ClickHouse (or check them with --dry_run).

Keeps the command line of event-routing-backends' command of the same name.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.core import conf
from backfill_app.core.errors import BackfillConfigError, Refused, RunStopped
from backfill_app.core.secrets import command_line_notices
from backfill_app.reporting.summary import RunSummary
from backfill_app.reporting.summary_json import (
    COMPLETED,
    NOTHING_TO_DO,
    STOPPED,
    SummaryJsonFile,
    add_summary_json_option,
    summary_json_file,
)
from backfill_app.sinks.destinations import Destination
from backfill_app.sources.storage import StorageLocation
from backfill_app.tracking.job import TrackingLogJob
from backfill_app.tracking.pipeline import BatchOptions
from backfill_app.tracking.request import RunMode, TimeSelection, TransformRequest
from backfill_app.transform.statements import DEFAULT_VERIFY_SAMPLE, TRANSFORMER_TYPES


class Command(BaseCommand):
    help = __doc__.strip()

    def add_arguments(self, parser):
        parser.add_argument(
            "--source_provider",
            required=True,
            help="libcloud storage provider of the logs: LOCAL, S3, MINIO, GOOGLE_STORAGE, AZURE_BLOBS...",
        )
        parser.add_argument(
            "--source_config",
            required=True,
            help="JSON with 'container' and 'prefix'; other keys (key, secret, region, host, port, secure) "
            "go to the libcloud driver. LOCAL: key is the base folder, container a folder in it.",
        )
        parser.add_argument(
            "--destination_provider",
            default="LRS",
            help="CLICKHOUSE (xapi.xapi_events_all), LRS (default), or a libcloud provider for files.",
        )
        parser.add_argument(
            "--destination_config",
            help="JSON. CLICKHOUSE: {'url', 'username', 'password'} or {'dsn': 'chdb:///path'}, "
            "plus 'database' (default xapi) and 'table' (default xapi_events_all); "
            "default: BACKFILL_CLICKHOUSE or Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.",
        )
        parser.add_argument("--transformer_type", choices=TRANSFORMER_TYPES, required=True)
        parser.add_argument("--batch_size", type=int, default=10000, help="statements per write (default 10000)")
        parser.add_argument(
            "--sleep_between_batches_secs",
            type=float,
            default=10.0,
            help="pause between batches, to spare the LMS and the destination (default 10)",
        )
        parser.add_argument(
            "--dry_run", action="store_true", help="read and transform everything, count, write nothing"
        )
        parser.add_argument(
            "--lrs-urls", nargs="+", default=None, help="LRS destination: only these configured route URLs"
        )
        parser.add_argument("--start", help="only events from this time on (ISO 8601, UTC by default)")
        parser.add_argument("--end", help="only events before this time (ISO 8601, UTC by default)")
        parser.add_argument(
            "--gaps_only",
            action="store_true",
            help="only the hours where ClickHouse has fewer statements than the logs have events "
            "(see find_xapi_gaps); files outside those hours are not read",
        )
        parser.add_argument(
            "--workers",
            type=int,
            help="processes that transform, one file at a time each (default: one per core); "
            "the command's own process writes",
        )
        parser.add_argument(
            "--distributed",
            action="store_true",
            help="one Celery task per file (or byte range of a large file) on --queue; Celery workers read, "
            "transform and write, this command shows progress and the summary. Needs a ClickHouse server, "
            "an LRS or shared storage as destination",
        )
        parser.add_argument(
            "--queue",
            help="Celery queue of --distributed (default: BACKFILL_CELERY_QUEUE, 'backfill'); workers must consume it",
        )
        parser.add_argument(
            "--restart",
            action="store_true",
            help="forget where earlier runs of this source and destination stopped, and start from the beginning",
        )
        parser.add_argument(
            "--verify_sample",
            type=float,
            default=DEFAULT_VERIFY_SAMPLE,
            help="share of the events written by the fast path that are also transformed by event-routing-backends "
            f"and compared; the run stops on a difference (default {DEFAULT_VERIFY_SAMPLE}, 0 to turn off)",
        )
        parser.add_argument(
            "--allow_secrets_in_queue",
            action="store_true",
            help="with --distributed, let task messages carry secrets written inline in the configs (they then "
            "sit in the broker); without it such a run is refused: give secrets by reference",
        )
        parser.add_argument(
            "--allow_other_statement_ids",
            action="store_true",
            help="write even though the destination holds statements made with another LMS root URL or "
            "XAPI_AGENT_IFI_TYPE (a deliberate migration): the same events then have two statements",
        )
        parser.add_argument(
            "--replace_drifted",
            action="store_true",
            help="where the destination holds an event as an older ERB release made it (other content, or "
            "another id), replace it by today's statement instead of setting ours aside: ClickHouse (the "
            "raw table and the tables fed from it), or statement files that load_xapi_files then applies; "
            "an LRS is refused",
        )
        parser.add_argument(
            "--dead_letter_path",
            help="JSON lines file for lines that could not be transformed (default: under var/dead-letter/)",
        )
        add_summary_json_option(parser)

    def handle(self, *args, **options):
        with summary_json_file("transform_tracking_logs", options["summary_json"]) as report:
            self._transform(self._request(options), options, report)

    def _transform(self, request: TransformRequest, options: dict, report: SummaryJsonFile) -> None:
        for notice in command_line_notices(options):
            self.stdout.write(notice)
        try:
            summary = TrackingLogJob(request, announce=self.stdout.write).run()
        except (BackfillConfigError, Refused) as exc:
            raise CommandError(str(exc)) from None
        except RunStopped as stop:
            self._print_summary(stop.summary)
            report.write(STOPPED, stop.summary, str(stop))
            raise CommandError(str(stop)) from None
        if summary is None:  # --gaps_only found no gap (and said so)
            report.write(NOTHING_TO_DO, self._nothing_done(request), "No gaps: nothing to do.")
            return
        self._print_summary(summary)
        if summary.stopped:
            report.write(STOPPED, summary, summary.stopped)
            raise CommandError(summary.stopped)
        report.write(COMPLETED, summary)

    @staticmethod
    def _nothing_done(request: TransformRequest) -> RunSummary:
        """The summary of a run that found nothing to do: every count 0 (--gaps_only: the destination is ClickHouse)."""
        summary = RunSummary(
            destination=request.destination.xapi_table.describe(),
            transformer_type=request.transformer_type,
            dry_run=request.destination.dry_run,
        )
        summary.finish()
        return summary

    @staticmethod
    def _request(options: dict) -> TransformRequest:
        """The options, checked and typed: the one thing the run reads."""
        if options["batch_size"] < 1:
            raise CommandError("--batch_size must be at least 1.")
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        if not 0 <= options["verify_sample"] <= 1:
            raise CommandError("--verify_sample is a share of events, from 0 (none) to 1 (all).")
        if options["sleep_between_batches_secs"] < 0:
            raise CommandError("--sleep_between_batches_secs cannot be negative.")
        if options["distributed"] and options["workers"] is not None:
            raise CommandError(
                "--workers sets local processes; with --distributed the Celery workers' concurrency decides."
            )
        if options["queue"] and not options["distributed"]:
            raise CommandError("--queue applies to --distributed only.")
        if options["lrs_urls"] and (options["destination_provider"] or "").upper() != "LRS":
            raise CommandError("--lrs-urls applies to the LRS destination only.")
        try:
            return TransformRequest(
                source=StorageLocation.from_options(
                    options["source_provider"], options["source_config"], "--source_config"
                ),
                destination=Destination.from_options(
                    options["destination_provider"],
                    options["destination_config"],
                    options["transformer_type"],
                    options["dry_run"],
                    options["lrs_urls"],
                    options["replace_drifted"],
                ),
                batch=BatchOptions(
                    batch_size=options["batch_size"],
                    sleep_between_batches_secs=options["sleep_between_batches_secs"],
                    progress_log_interval_secs=conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"),
                ),
                time=TimeSelection.from_options(options["start"], options["end"], options["gaps_only"]),
                mode=RunMode(
                    workers=options["workers"],
                    distributed=options["distributed"],
                    queue=options["queue"],
                    secrets_in_queue=options["allow_secrets_in_queue"],
                ),
                restart=options["restart"],
                dead_letter_path=options["dead_letter_path"],
                verify_sample=options["verify_sample"],
                allow_other_statement_ids=options["allow_other_statement_ids"],
            )
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None

    def _print_summary(self, summary):
        self.stdout.write("\n".join(summary.lines_of_text()))
