"""
Transform edX tracking logs into xAPI (or Caliper) statements with event-routing-backends'
own transformers, and write them to ClickHouse (or check them with --dry_run).

Keeps the command line of event-routing-backends' command of the same name.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app import conf
from backfill_app.checkpoints import checkpoints_for
from backfill_app.dead_letter import DeadLetterFile
from backfill_app.destinations import open_statement_sink
from backfill_app.errors import BackfillConfigError, DestinationUnavailable
from backfill_app.gap_search import time_window_from_options
from backfill_app.parallel import ParallelBackfill, WorkerFailed, WorkerJob, parallel_workers
from backfill_app.pipeline import BatchOptions, TrackingLogBackfill
from backfill_app.sources.storage import LogStore, StorageLocation
from backfill_app.transform.statements import TRANSFORMER_TYPES, StatementTransformer


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
            "--restart",
            action="store_true",
            help="forget where earlier runs of this source and destination stopped, and start from the beginning",
        )
        parser.add_argument(
            "--dead_letter_path",
            help="JSON lines file for lines that could not be transformed (default: under var/dead-letter/)",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch_size must be at least 1.")
        if options["workers"] is not None and options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        if options["sleep_between_batches_secs"] < 0:
            raise CommandError("--sleep_between_batches_secs cannot be negative.")
        if options["lrs_urls"] and (options["destination_provider"] or "").upper() != "LRS":
            raise CommandError("--lrs-urls applies to the LRS destination only.")
        try:
            location = StorageLocation.from_options(
                options["source_provider"], options["source_config"], "--source_config"
            )
            sink = open_statement_sink(
                options["destination_provider"],
                options["destination_config"],
                options["transformer_type"],
                options["dry_run"],
                options["lrs_urls"],
            )
            store = LogStore(location)
            objects = store.list_objects()
            if not objects:
                raise BackfillConfigError(f"No files found at {location.describe()}*.")
            window = time_window_from_options(options, store, objects)
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
        if window is not None and window.hours is not None and not window.hours:
            self.stdout.write(
                "No gaps: ClickHouse has at least as many statements as the logs have events, every hour."
            )
            return
        if window is not None:
            window.prepare(store, objects)
            self.stdout.write(f"Time window: {window.describe()}")
        self.stdout.write(f"Found {len(objects)} files at {location.describe()}*; writing to {sink.describe()}")

        dead_letters = DeadLetterFile.for_command(options["dead_letter_path"], "transform_tracking_logs")
        try:
            checkpoints = checkpoints_for(location, sink, options["transformer_type"], window)
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
        if options["restart"]:
            forgotten = checkpoints.restart()
            self.stdout.write(f"--restart: forgot the progress of {forgotten} files from earlier runs")
        backfill = TrackingLogBackfill(
            store,
            StatementTransformer(options["transformer_type"]),
            sink,
            dead_letters,
            BatchOptions(
                batch_size=options["batch_size"],
                sleep_between_batches_secs=options["sleep_between_batches_secs"],
                progress_log_interval_secs=conf.get("BACKFILL_PROGRESS_LOG_INTERVAL_SECS"),
            ),
            dry_run=options["dry_run"],
            checkpoints=checkpoints,
            event_filter=window,
        )
        parts = sum(len(obj.split(conf.get("BACKFILL_RANGE_BYTES"))) for obj in objects)
        workers = parallel_workers(options["workers"] or conf.default_workers(), parts)
        try:
            if workers > 1:
                self.stdout.write(f"Transforming in {workers} processes")
                backfill.start_run(objects)
                jobs = [
                    WorkerJob(
                        location.provider, location.container, location.prefix, location.driver_options,
                        part.name, options["transformer_type"], checkpoints.key, window,
                        part.range_start, part.range_end,
                    )
                    for obj in objects
                    for part in obj.split(conf.get("BACKFILL_RANGE_BYTES"))
                ]  # fmt: skip
                summary = ParallelBackfill(backfill, jobs, workers).run()
            else:
                summary = backfill.run(objects)
        except DestinationUnavailable:
            self._print_summary(backfill.summary)
            raise CommandError(backfill.summary.stopped) from None
        except WorkerFailed as exc:
            self._print_summary(backfill.summary)
            raise CommandError(f"{exc}. What was written is kept; rerun the same command to continue.") from None
        finally:
            sink.close()
        self._print_summary(summary)

    def _print_summary(self, summary):
        self.stdout.write("\n".join(summary.lines_of_text()))
