"""
Dump platform data into Aspects' ClickHouse event_sink tables: course overviews and blocks
(CMS), user profiles and external ids (LMS, personal data), enrollments and tags. Only what
is missing or changed since its last dump is written, unless --force.

Keeps the command line of platform-plugin-aspects' command of the same name.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backfill_app.clickhouse.connection import target_from_settings
from backfill_app.clickhouse.schema import open_table
from backfill_app.core import conf
from backfill_app.core.errors import BackfillConfigError, DestinationUnavailable
from backfill_app.dump.retirement import delete_retired, plan_retirement, retired_user_ids
from backfill_app.dump.runner import COURSE_OBJECT, MODEL_OBJECTS, PII_OBJECTS, Dump, DumpOptions
from backfill_app.dump.tables import COURSE_OVERVIEWS
from backfill_app.reporting.dead_letter import DeadLetterFile

RETIREMENT_OBJECT = "auth_user"
OBJECTS = sorted([COURSE_OBJECT, RETIREMENT_OBJECT, *MODEL_OBJECTS])


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
        parser.add_argument("--password", help="ClickHouse password")
        parser.add_argument("--database", help="ClickHouse database (default: event_sink)")
        parser.add_argument("--timeout_secs", type=int, help="ClickHouse timeout in seconds")
        parser.add_argument(
            "--force_pii",
            action="store_true",
            help="dump user_profile / external_id although EVENT_SINK_CLICKHOUSE_PII_MODELS leaves them out",
        )
        parser.add_argument(
            "--confirm_delete",
            action="store_true",
            help="auth_user: really delete the personal data rows of retired users (shown first without it)",
        )
        parser.add_argument("--dead_letter_path", help="JSON lines file for rows that could not be written")

    def handle(self, *args, **options):
        name = options["object"]
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit must be greater than 0.")
        if options["limit"] is not None and options["force"]:
            raise CommandError("--limit cannot be used with --force.")
        if options["batch_size"] < 1:
            raise CommandError("--batch_size must be at least 1.")
        pii_models = set(getattr(settings, "EVENT_SINK_CLICKHOUSE_PII_MODELS", []) or [])
        if name in PII_OBJECTS and name not in pii_models and not options["force_pii"]:
            raise CommandError(
                f"{name} holds personal data and PII is turned off here ({name} is not in "
                "EVENT_SINK_CLICKHOUSE_PII_MODELS): nothing dumped. Pass --force_pii to dump it anyway."
            )
        overrides = {key: options[key] for key in ("url", "username", "password", "timeout_secs") if options[key]}
        try:
            target = target_from_settings(overrides)
            database = options["database"] or conf.aspects_clickhouse_config().get("database") or "event_sink"
            client = open_table(target, database, COURSE_OVERVIEWS.name)
            if name == RETIREMENT_OBJECT:
                return self._delete_retired_users(client, database, options)
            dead_letters = DeadLetterFile.for_command(options["dead_letter_path"], "dump_data_to_clickhouse")
            dump = Dump(
                client,
                database,
                DumpOptions(
                    object_name=name,
                    ids=tuple(options["ids"] or ()),
                    ids_to_skip=tuple(options["ids_to_skip"] or ()),
                    start_pk=options["start_pk"],
                    force=options["force"],
                    limit=options["limit"],
                    batch_size=options["batch_size"],
                    sleep_time=options["sleep_time"],
                ),
                dead_letters,
                destination=f"{database} in {target.describe()}",
            )
            summary = dump.run()
        except BackfillConfigError as exc:
            raise CommandError(str(exc)) from None
        except DestinationUnavailable as exc:
            self.stdout.write("\n".join(dump.summary.lines_of_text()))
            raise CommandError(f"{exc}. Rerun the same command: what was written is not written again.") from None
        self.stdout.write("\n".join(summary.lines_of_text()))

    def _delete_retired_users(self, client, database, options):
        user_ids = retired_user_ids(tuple(options["ids"] or ()))
        plan = plan_retirement(client, database, user_ids)
        self.stdout.write("\n".join(plan.lines_of_text(database)))
        if not options["confirm_delete"]:
            raise CommandError("Nothing deleted: pass --confirm_delete to delete these rows.")
        delete_retired(client, database, plan)
        self.stdout.write(f"Deleted the personal data rows of {len(plan.user_ids)} retired users.")
