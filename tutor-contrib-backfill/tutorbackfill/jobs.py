"""
The ``tutor [local|dev|k8s] do backfill-*`` jobs: each gives the command line of one of
openedx-backfill's management commands, with every option of that command, and the service it
runs in. The LMS's tracking logs and the job's lasting folder are mounted by the
``backfill-job`` service (patches/local-docker-compose-jobs-services, patches/k8s-jobs).

Each option is declared once, as the management command spells it; openedx-backfill's tests
hold these lists equal to its commands' own parsers, so a job can pass every option and no
option the command would refuse.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

import click

VALUE, FLAG, VALUES = "value", "flag", "values"


@dataclass(frozen=True)
class Option:
    name: str  # as the management command spells it, e.g. "--source_config" or "--lrs-urls"
    kind: str  # VALUE, FLAG or VALUES (one or more)
    help: str = ""
    type: type | None = None  # int or float where the command takes a number: click refuses text


# Every command's summary as data (openedx-backfill's README: Summary as JSON), for a script around the job.
SUMMARY_JSON = Option(
    "--summary_json", VALUE, "also write the summary as JSON, under /openedx/data (host: data/backfill)"
)
TRACKING_OPTIONS = (
    Option("--source_provider", VALUE, "libcloud provider of the logs (default: BACKFILL_SOURCE_PROVIDER, LOCAL)"),
    Option("--source_config", VALUE, "JSON or @file (default: BACKFILL_SOURCE_CONFIG, the LMS's own logs)"),
    Option("--destination_provider", VALUE, "CLICKHOUSE (default: BACKFILL_DESTINATION_PROVIDER), LRS, or files"),
    Option("--destination_config", VALUE, "JSON or @file (default: the settings: Aspects' ClickHouse)"),
    Option("--transformer_type", VALUE, "xapi (default) or caliper"),
    Option("--batch_size", VALUE, "statements per write (default: BACKFILL_BATCH_SIZE)", int),
    Option(
        "--sleep_between_batches_secs",
        VALUE,
        "pause between batches (default: BACKFILL_SLEEP_BETWEEN_BATCHES_SECS)",
        float,
    ),
    Option("--dry_run", FLAG, "transform and count, write nothing"),
    Option("--lrs-urls", VALUES, "LRS destination: only these configured routes"),
    Option("--start", VALUE, "only events from this time (ISO 8601)"),
    Option("--end", VALUE, "only events before this time (ISO 8601)"),
    Option("--gaps_only", FLAG, "only the hours ClickHouse lacks"),
    Option(
        "--workers", VALUE, "transforming processes (default: BACKFILL_WORKERS, else what the container allows)", int
    ),
    Option("--distributed", FLAG, "one Celery task per file on --queue"),
    Option("--queue", VALUE, "the Celery queue of --distributed"),
    Option("--restart", FLAG, "forget where earlier runs stopped"),
    Option("--verify_sample", VALUE, "share of fast-path events also transformed by ERB and compared", float),
    Option("--allow_secrets_in_queue", FLAG, "let --distributed send secrets written inline"),
    Option("--allow_other_statement_ids", FLAG, "write though the destination's statements were made otherwise"),
    Option("--replace_drifted", FLAG, "replace what an older ERB made live by today's statements (not an LRS)"),
    Option("--dead_letter_path", VALUE, "where set-aside lines go (default: /openedx/data/backfill/dead-letter)"),
    SUMMARY_JSON,
)
GAPS_OPTIONS = (
    Option("--source_provider", VALUE, "as for backfill-tracking-logs"),
    Option("--source_config", VALUE, "as for backfill-tracking-logs"),
    Option("--destination_config", VALUE, "ClickHouse (default: the settings: Aspects' ClickHouse)"),
    Option("--start", VALUE, "only hours from this time (ISO 8601)"),
    Option("--end", VALUE, "only hours before this time (ISO 8601)"),
    Option("--plot", VALUE, "a PNG of both series per hour, under /openedx/data (host: data/backfill)"),
    Option("--allow_other_statement_ids", FLAG, "compare though ClickHouse's statements were made otherwise"),
    Option("--drift", FLAG, "per hour: statements held as today's ERB makes them, stale, under another id"),
    SUMMARY_JSON,
)
DUMP_OPTIONS = (
    Option("--object", VALUE, "course_overviews (in the CMS), user_profile, external_id, course_enrollment, tag..."),
    Option("--ids", VALUES, "only these ids (course keys for courses)"),
    Option("--ids_to_skip", VALUES, "not these ids"),
    Option("--start_pk", VALUE, "from this primary key", int),
    Option("--force", FLAG, "dump again objects that did not change"),
    Option("--limit", VALUE, "at most this many objects", int),
    Option("--batch_size", VALUE, "objects per page", int),
    Option("--sleep_time", VALUE, "pause between pages", float),
    Option("--force_pii", FLAG, "dump personal data though its sink is off"),
    Option("--confirm_delete", FLAG, "with --object auth_user: delete retired users' rows"),
    Option("--dead_letter_path", VALUE, "where set-aside objects go"),
    SUMMARY_JSON,
)
ARCHIVE_OPTIONS = (
    Option("--source_provider", VALUE, "where the archive is (default: S3, Aspects' ASPECTS_XAPI_S3_*)"),
    Option("--source_config", VALUE, "JSON or @file (default: Aspects' archive bucket, keys by reference)"),
    Option("--destination_config", VALUE, "ClickHouse (default: the settings: Aspects' ClickHouse)"),
    Option("--start", VALUE, "only statements from this time (ISO 8601): only those hour folders are read"),
    Option("--end", VALUE, "only statements before this time (ISO 8601)"),
    Option("--gaps_only", FLAG, "only the hours where the table lacks some of the archive's statements"),
    Option("--replace_drifted", FLAG, "rows replace what an older ERB made live of their events"),
    Option("--dead_letter_path", VALUE, "where bad rows and cut objects are named"),
    SUMMARY_JSON,
)
EXTERNAL_IDS_OPTIONS = (
    Option("--type", VALUE, "xapi (default) or caliper"),
    Option("--from_dead_letters", VALUES, "dead-letter files of a run on a read replica"),
    Option("--all_users", FLAG, "every user without an id of the type"),
    SUMMARY_JSON,
)


@dataclass(frozen=True)
class FromConfig:
    """A job's default taken from the plugin's config when tutor renders the command: one shell
    word (``backfill_argument``), and the option left out where the config holds nothing."""

    name: str
    value: str = ""  # a template of the word, when it is not the config's value itself

    def words(self, option: str) -> str:
        value = self.value or "{{ " + self.name + "|backfill_argument }}"
        return "{% if " + self.name + "|default(None) not in (None, '') %}" + f"{option} {value}" + "{% endif %}"


TRACKING_DEFAULTS: dict[str, str | FromConfig] = {
    "--source_provider": FromConfig("BACKFILL_SOURCE_PROVIDER"),
    "--source_config": FromConfig("BACKFILL_SOURCE_CONFIG"),
    "--destination_provider": FromConfig("BACKFILL_DESTINATION_PROVIDER"),
    "--destination_config": FromConfig("BACKFILL_DESTINATION_CONFIG"),
    "--transformer_type": "xapi",
    "--batch_size": FromConfig("BACKFILL_BATCH_SIZE"),
    "--sleep_between_batches_secs": FromConfig("BACKFILL_SLEEP_BETWEEN_BATCHES_SECS"),
    "--workers": FromConfig("BACKFILL_WORKERS"),
}
# Aspects' archive (tutor-contrib-aspects >= 6.1: Vector's aws_s3 sink, ASPECTS_XAPI_S3_*); its keys
# reach the job as environment variables (ARCHIVE_KEY_VARIABLES), never on the command line.
ARCHIVE_DEFAULTS: dict[str, str | FromConfig] = {
    "--source_provider": "S3",
    "--source_config": FromConfig(
        "ASPECTS_XAPI_S3_BUCKET",
        "{{ backfill_archive_source(ASPECTS_XAPI_S3_BUCKET, ASPECTS_XAPI_S3_REGION, ASPECTS_XAPI_S3_ENDPOINT, "
        "ASPECTS_XAPI_S3_ACCESS_KEY != '')|backfill_argument }}",
    ),
}
ARCHIVE_KEY_VARIABLES = ("BACKFILL_XAPI_ARCHIVE_KEY", "BACKFILL_XAPI_ARCHIVE_SECRET")
GAPS_DEFAULTS: dict[str, str | FromConfig] = {
    "--source_provider": FromConfig("BACKFILL_SOURCE_PROVIDER"),
    "--source_config": FromConfig("BACKFILL_SOURCE_CONFIG"),
}


def backfill_argument(value) -> str:
    """
    A config value as one shell word of a command line (a Jinja filter of the plugin). A mapping
    or a list is written as JSON: ``tutor config save --set 'BACKFILL_SOURCE_CONFIG={"container":
    "logs"}'`` stores YAML's reading of it, a mapping, whose Python form is not JSON. Text (JSON
    already, ``@/path/config.json``, a name) is passed as written. None or "" passes nothing.
    """
    if value is None or value == "":
        return ""
    if isinstance(value, (dict, list)):
        return shlex.quote(json.dumps(value))
    if isinstance(value, bool):
        return shlex.quote(str(value).lower())
    return shlex.quote(str(value))


def archive_source(bucket: str, region: str, endpoint: str, with_keys: bool) -> dict:
    """
    load_xapi_files' --source_config for Aspects' xAPI archive, from its ASPECTS_XAPI_S3_* settings:
    Vector writes under xapi/ of the bucket; an endpoint (MinIO) becomes the driver's host, port
    and scheme; the keys are references to the job's environment (ARCHIVE_KEY_VARIABLES).
    """
    from urllib.parse import urlsplit

    config: dict = {"container": bucket, "prefix": "xapi/", "region": region or "us-east-1"}
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        config.update(host=parts.hostname, secure=parts.scheme == "https")
        if parts.port:
            config["port"] = parts.port
    if with_keys:
        key, secret = ARCHIVE_KEY_VARIABLES
        config.update(key={"env": key}, secret={"env": secret})
    return config


def worker_arguments(queue: str, concurrency) -> list[str]:
    """
    The Celery worker of ``--distributed``: the LMS's Celery app and settings, the backfill's
    queue only, a process per task (prefork: a task patches nothing another thread can see), and
    one task taken at a time (a shard runs for minutes; prefetching would hold others back).
    """
    return [
        "celery", "--app=lms.celery", "worker", "--loglevel=info", "--hostname=backfill.%h",
        f"--queues={queue}", "--pool=prefork", f"--concurrency={concurrency}", "--prefetch-multiplier=1",
        "--without-gossip", "--without-mingle",
    ]  # fmt: skip


def parameter_name(option: Option) -> str:
    return option.name.lstrip("-").replace("-", "_")


def with_options(options: Iterable[Option]):
    """Click options for ``options``, as the management command takes them."""

    def decorate(function):
        for option in reversed(tuple(options)):
            if option.kind == FLAG:
                function = click.option(option.name, parameter_name(option), is_flag=True, help=option.help)(function)
            elif option.kind == VALUES:
                function = click.option(option.name, parameter_name(option), multiple=True, help=option.help)(function)
            else:
                function = click.option(option.name, parameter_name(option), type=option.type, help=option.help)(
                    function
                )
        return function

    return decorate


def command_line(
    base: str, options: Iterable[Option], given: dict, defaults: dict[str, str | FromConfig] | None = None
) -> str:
    """``base`` with every option given (shell-quoted) and the defaults of those not given."""
    words = [base]
    for option in options:
        value = given.get(parameter_name(option))
        if option.kind == FLAG:
            if value:
                words.append(option.name)
        elif option.kind == VALUES:
            if value:
                words += [option.name, *(shlex.quote(str(item)) for item in value)]
        elif value not in (None, ""):
            words += [option.name, shlex.quote(str(value))]
        elif defaults and option.name in defaults:
            default = defaults[option.name]
            words += [default.words(option.name)] if isinstance(default, FromConfig) else [option.name, default]
    return " ".join(words)


def tracking_logs_tasks(given: dict) -> list[tuple[str, str]]:
    """transform_tracking_logs with the options given, the plugin's defaults for the others."""
    return [
        (
            "backfill",
            command_line("./manage.py lms transform_tracking_logs", TRACKING_OPTIONS, given, TRACKING_DEFAULTS),
        )
    ]


def gaps_tasks(given: dict) -> list[tuple[str, str]]:
    return [("backfill", command_line("./manage.py lms find_xapi_gaps", GAPS_OPTIONS, given, GAPS_DEFAULTS))]


def dump_tasks(given: dict) -> list[tuple[str, str]]:
    """Courses are read in the CMS (its modulestore); every other object in the LMS's settings."""
    if not given.get("object"):
        raise click.UsageError("--object is required (e.g. course_overviews, user_profile).")
    if given["object"] == "course_overviews":
        return [("cms", command_line("./manage.py cms dump_data_to_clickhouse", DUMP_OPTIONS, given))]
    return [("backfill", command_line("./manage.py lms dump_data_to_clickhouse", DUMP_OPTIONS, given))]


def archive_tasks(given: dict) -> list[tuple[str, str]]:
    return [("backfill", command_line("./manage.py lms load_xapi_files", ARCHIVE_OPTIONS, given, ARCHIVE_DEFAULTS))]


def external_ids_tasks(given: dict) -> list[tuple[str, str]]:
    given = {**given, "type": given.get("type") or "xapi"}
    return [("backfill", command_line("./manage.py lms create_external_ids", EXTERNAL_IDS_OPTIONS, given))]


@click.command(name="backfill-tracking-logs")
@with_options(TRACKING_OPTIONS)
def tracking_logs(**given) -> list[tuple[str, str]]:
    """
    Backfill statements from tracking logs (default: the LMS's own, read-only) into Aspects'
    ClickHouse with the credentials Tutor already holds: openedx-backfill's
    transform_tracking_logs, every option of it.
    """
    return tracking_logs_tasks(given)


@click.command(name="backfill-gaps")
@with_options(GAPS_OPTIONS)
def gaps(**given) -> list[tuple[str, str]]:
    """The hours where Aspects' ClickHouse lacks statements the logs can give (find_xapi_gaps)."""
    return gaps_tasks(given)


@click.command(name="backfill-dump")
@with_options(DUMP_OPTIONS)
def dump(**given) -> list[tuple[str, str]]:
    """Platform data into Aspects' event_sink tables (dump_data_to_clickhouse): courses in the CMS."""
    return dump_tasks(given)


@click.command(name="backfill-archive")
@with_options(ARCHIVE_OPTIONS)
def archive(**given) -> list[tuple[str, str]]:
    """
    Restore statements from Aspects' xAPI archive (ASPECTS_XAPI_S3_BUCKET, which Vector fills) into
    the table Aspects reads: load_xapi_files, each statement once; --gaps_only for the missing hours.
    """
    return archive_tasks(given)


@click.command(name="backfill-external-ids")
@with_options(EXTERNAL_IDS_OPTIONS)
def external_ids(**given) -> list[tuple[str, str]]:
    """Create the xAPI external ids of learners who have none yet (create_external_ids)."""
    return external_ids_tasks(given)


DO_COMMANDS = (tracking_logs, gaps, dump, archive, external_ids)
