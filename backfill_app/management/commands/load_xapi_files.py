"""
Load the statement files that ``transform_tracking_logs`` wrote to a file destination into
ClickHouse's ``xapi_events_all``. ClickHouse reads them itself (``s3()`` / ``file()``);
loading the same files twice adds nothing.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.clickhouse.connection import xapi_table_from_config
from backfill_app.core.errors import BackfillConfigError, DestinationUnavailable
from backfill_app.core.options import parse_json_object
from backfill_app.core.secrets import command_line_notices
from backfill_app.sources.storage import LogStore, StorageLocation
from backfill_app.tracking.xapi_files import XapiFileLoader


class Command(BaseCommand):
    help = __doc__.strip()

    def add_arguments(self, parser):
        parser.add_argument("--source_provider", required=True, help="where the files are: S3, MINIO, LOCAL...")
        parser.add_argument(
            "--source_config",
            required=True,
            help="JSON with 'container' and 'prefix' (the files' folder), and the driver's options, "
            "as given to transform_tracking_logs' --destination_config",
        )
        parser.add_argument(
            "--destination_config",
            help="JSON: ClickHouse {'url', 'username', 'password'} or {'dsn'}, 'database', 'table' "
            "(default: settings, as for transform_tracking_logs)",
        )

    def handle(self, *args, **options):
        for notice in command_line_notices(options):
            self.stdout.write(notice)
        try:
            location = StorageLocation.from_options(
                options["source_provider"], options["source_config"], "--source_config"
            )
            config = parse_json_object(options["destination_config"], "--destination_config")
            loader = XapiFileLoader.open(xapi_table_from_config(config), location)
            files = [obj for obj in LogStore(location).list_objects() if loader.is_statement_file(obj)]
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
        if not files:
            raise CommandError(f"No statement files (*.jsonl.zst, *.jsonl.gz) at {location.describe()}*.")

        self.stdout.write(f"Into: {loader.xapi.describe()}")
        inserted = already_present = 0
        for obj in sorted(files, key=lambda item: item.name):
            try:
                result = loader.load(obj.name)
            except DestinationUnavailable as exc:
                self.stdout.write(f"Loaded {inserted} rows before the failure.")
                raise CommandError(f"{obj.name}: {exc}") from None
            inserted += result.inserted
            already_present += result.already_present
            self.stdout.write(f"{obj.name}: {result.inserted} rows inserted, {result.already_present} already present")
        self.stdout.write(
            f"Files: {len(files)}\nRows inserted: {inserted}\nRows already present (not inserted again): "
            f"{already_present}"
        )
