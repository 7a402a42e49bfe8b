"""
Create the external ids (xAPI or Caliper) that the live pipeline creates at a user's first
event, for the users whose events a backfill against a read replica set aside as
``no_external_id``, or for every user without one. Run it against the platform's primary
database; then rerun the backfill (--gaps_only, or --restart) to finish those events.
"""

from django.core.management.base import BaseCommand, CommandError

from backfill_app.core.errors import BackfillConfigError, Refused, ServiceUnavailable
from backfill_app.reporting.summary_json import COMPLETED, add_summary_json_option, summary_json_file
from backfill_app.transform.missing_external_ids import create_missing_external_ids, user_keys_set_aside
from backfill_app.transform.statements import TRANSFORMER_TYPES


class Command(BaseCommand):
    help = __doc__.strip()

    def add_arguments(self, parser):
        parser.add_argument("--type", choices=TRANSFORMER_TYPES, default="xapi", help="the external id type (xapi)")
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument(
            "--from_dead_letters",
            nargs="+",
            metavar="FILE",
            help="dead-letter files of transform_tracking_logs: the users of their no_external_id lines",
        )
        which.add_argument("--all_users", action="store_true", help="every user who has no external id of the type")
        add_summary_json_option(parser)

    def handle(self, *args, **options):
        with summary_json_file("create_external_ids", options["summary_json"]) as summary_file:
            try:
                keys = (
                    user_keys_set_aside(options["from_dead_letters"], options["type"])
                    if options["from_dead_letters"]
                    else None
                )
                report = create_missing_external_ids(options["type"], keys)
            except (BackfillConfigError, Refused, ServiceUnavailable) as exc:
                raise CommandError(str(exc)) from None
            self.stdout.write("\n".join(report.lines_of_text()))
            summary_file.write(COMPLETED, report)
