"""
Dump platform data into Aspects' ClickHouse event_sink tables: course overviews and blocks
(CMS), user profiles and external ids (LMS, personal data), enrollments and tags. Only what
is missing or changed since its last dump is written, unless --force.

Keeps the command line of platform-plugin-aspects' command of the same name.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.core.errors import BackfillConfigError, Refused, RunStopped
from backfill_app.core.secrets import command_line_notices
from backfill_app.dump.job import OBJECTS, DumpJob
from backfill_app.dump.request import ClickHouseOverrides, DumpRequest
from backfill_app.dump.runner import DumpOptions
from backfill_app.reporting.summary_json import (
    COMPLETED,
    REFUSED,
    STOPPED,
    SummaryJsonFile,
    add_summary_json_option,
    summary_json_file,
)


class Command(BaseCommand):
    help = __doc__.strip()

    def add_arguments(self, parser):
        parser.add_argument("--object", required=True, choices=OBJECTS, help="the type of object to dump")
        parser.add_argument("--ids", metavar="KEY", nargs="*", help="keys of the objects to dump (default: all)")
        parser.add_argument("--ids_to_skip", metavar="KEY", nargs="*", help="keys of objects not to dump")
        parser.add_argument("--start_pk", type=int, help="the primary key to start at")
        parser.add_argument("--force", action="store_true", help="dump every object, changed or not")
        parser.add_argument("--limit", type=int, help="dump at most this many objects (not with --force)")
        parser.add_argument("--batch_size", type=int, default=10000, help="objects per page and insert")
        parser.add_argument("--sleep_time", type=float, default=1, help="seconds to sleep between pages")
        parser.add_argument("--url", help="ClickHouse URL (default: settings)")
        parser.add_argument("--username", help="ClickHouse user")
        parser.add_argument("--password", help="ClickHouse password, or @/path/to/a/file holding it")
        parser.add_argument("--database", help="ClickHouse database (default: event_sink)")
        parser.add_argument("--timeout_secs", type=int, help="ClickHouse timeout in seconds")
        parser.add_argument(
            "--force_pii",
            action="store_true",
            help="dump user_profile / external_id although their sink is off (EVENT_SINK_CLICKHOUSE_<MODEL>_ENABLED)",
        )
        parser.add_argument(
            "--confirm_delete",
            action="store_true",
            help="auth_user: really delete the personal data rows of retired users (shown first without it)",
        )
        parser.add_argument("--dead_letter_path", help="JSON lines file for rows that could not be written")
        add_summary_json_option(parser)

    def handle(self, *args, **options):
        with summary_json_file("dump_data_to_clickhouse", options["summary_json"]) as report:
            self._dump(self._request(options), options, report)

    def _dump(self, request: DumpRequest, options: dict, report: SummaryJsonFile) -> None:
        for notice in command_line_notices(options):
            self.stdout.write(notice)
        job = DumpJob(request, announce=self.stdout.write)
        try:
            summary = job.run()
        except (BackfillConfigError, Refused) as exc:
            report.write(REFUSED, job.retirement, str(exc))
            raise CommandError(str(exc)) from None
        except RunStopped as stop:
            self.stdout.write("\n".join(stop.summary.lines_of_text()))
            report.write(STOPPED, stop.summary, str(stop))
            raise CommandError(str(stop)) from None
        if summary is None:  # auth_user: announced
            report.write(COMPLETED, job.retirement)
            return
        self.stdout.write("\n".join(summary.lines_of_text()))
        if not summary.set_aside:
            report.write(COMPLETED, summary)
            return
        report.write(COMPLETED, summary, summary.set_aside_sentence(), exit_code=1)
        raise CommandError(summary.set_aside_sentence())

    @staticmethod
    def _request(options: dict) -> DumpRequest:
        """The options, checked and typed: the one thing the dump reads."""
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be greater than 0.")
        if options["limit"] is not None and options["force"]:
            raise CommandError("--limit cannot be used with --force.")
        if options["batch_size"] < 1:
            raise CommandError("--batch_size must be at least 1.")
        return DumpRequest(
            dump=DumpOptions(
                object_name=options["object"],
                ids=tuple(options["ids"] or ()),
                ids_to_skip=tuple(options["ids_to_skip"] or ()),
                start_pk=options["start_pk"],
                force=options["force"],
                limit=options["limit"],
                batch_size=options["batch_size"],
                sleep_time=options["sleep_time"],
            ),
            clickhouse=ClickHouseOverrides(
                url=options["url"],
                username=options["username"],
                password=options["password"],
                timeout_secs=options["timeout_secs"],
                database=options["database"],
            ),
            force_pii=options["force_pii"],
            confirm_delete=options["confirm_delete"],
            dead_letter_path=options["dead_letter_path"],
        )
