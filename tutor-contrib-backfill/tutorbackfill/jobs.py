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


TRACKING_OPTIONS = (
    Option("--source_provider", VALUE, "libcloud provider of the logs (default: BACKFILL_SOURCE_PROVIDER, LOCAL)"),
    Option("--source_config", VALUE, "JSON or @file (default: BACKFILL_SOURCE_CONFIG, the LMS's own logs)"),
    Option("--destination_provider", VALUE, "CLICKHOUSE (default: BACKFILL_DESTINATION_PROVIDER), LRS, or files"),
    Option("--destination_config", VALUE, "JSON or @file (default: the settings: Aspects' ClickHouse)"),
    Option("--transformer_type", VALUE, "xapi (default) or caliper"),
    Option("--batch_size", VALUE, "statements per write (default: BACKFILL_BATCH_SIZE)"),
    Option(
        "--sleep_between_batches_secs", VALUE, "pause between batches (default: BACKFILL_SLEEP_BETWEEN_BATCHES_SECS)"
    ),
    Option("--dry_run", FLAG, "transform and count, write nothing"),
    Option("--lrs-urls", VALUES, "LRS destination: only these configured routes"),
    Option("--start", VALUE, "only events from this time (ISO 8601)"),
    Option("--end", VALUE, "only events before this time (ISO 8601)"),
    Option("--gaps_only", FLAG, "only the hours ClickHouse lacks"),
    Option("--workers", VALUE, "transforming processes (default: BACKFILL_WORKERS, else what the container allows)"),
    Option("--distributed", FLAG, "one Celery task per file on --queue"),
    Option("--queue", VALUE, "the Celery queue of --distributed"),
    Option("--restart", FLAG, "forget where earlier runs stopped"),
    Option("--verify_sample", VALUE, "share of fast-path events also transformed by ERB and compared"),
    Option("--allow_secrets_in_queue", FLAG, "let --distributed send secrets written inline"),
    Option("--allow_other_statement_ids", FLAG, "write though the destination's statements were made otherwise"),
    Option("--dead_letter_path", VALUE, "where set-aside lines go (default: /openedx/data/backfill/dead-letter)"),
)
GAPS_OPTIONS = (
    Option("--source_provider", VALUE, "as for backfill-tracking-logs"),
    Option("--source_config", VALUE, "as for backfill-tracking-logs"),
    Option("--destination_config", VALUE, "ClickHouse (default: the settings: Aspects' ClickHouse)"),
    Option("--start", VALUE, "only hours from this time (ISO 8601)"),
    Option("--end", VALUE, "only hours before this time (ISO 8601)"),
    Option("--plot", VALUE, "a PNG of both series per hour, under /openedx/data (host: data/backfill)"),
    Option("--allow_other_statement_ids", FLAG, "compare though ClickHouse's statements were made otherwise"),
)
DUMP_OPTIONS = (
    Option("--object", VALUE, "course_overviews (in the CMS), user_profile, external_id, course_enrollment, tag..."),
    Option("--ids", VALUES, "only these ids (course keys for courses)"),
    Option("--ids_to_skip", VALUES, "not these ids"),
    Option("--start_pk", VALUE, "from this primary key"),
    Option("--force", FLAG, "dump again objects that did not change"),
    Option("--limit", VALUE, "at most this many objects"),
    Option("--batch_size", VALUE, "objects per page"),
    Option("--sleep_time", VALUE, "pause between pages"),
    Option("--force_pii", FLAG, "dump personal data though its sink is off"),
    Option("--confirm_delete", FLAG, "with --object auth_user: delete retired users' rows"),
    Option("--dead_letter_path", VALUE, "where set-aside objects go"),
)
EXTERNAL_IDS_OPTIONS = (
    Option("--type", VALUE, "xapi (default) or caliper"),
    Option("--from_dead_letters", VALUES, "dead-letter files of a run on a read replica"),
    Option("--all_users", FLAG, "every user without an id of the type"),
)

# What a job passes when the operator does not: the plugin's config, rendered by tutor.
TRACKING_DEFAULTS = {
    "--source_provider": "{{ BACKFILL_SOURCE_PROVIDER }}",
    "--source_config": "{{ BACKFILL_SOURCE_CONFIG }}",
    "--destination_provider": "{{ BACKFILL_DESTINATION_PROVIDER }}",
    "--transformer_type": "xapi",
    "--batch_size": "{{ BACKFILL_BATCH_SIZE }}",
    "--sleep_between_batches_secs": "{{ BACKFILL_SLEEP_BETWEEN_BATCHES_SECS }}",
}
GAPS_DEFAULTS = {
    "--source_provider": "{{ BACKFILL_SOURCE_PROVIDER }}",
    "--source_config": "{{ BACKFILL_SOURCE_CONFIG }}",
}


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
                function = click.option(option.name, parameter_name(option), help=option.help)(function)
        return function

    return decorate


def command_line(base: str, options: Iterable[Option], given: dict, defaults: dict | None = None) -> str:
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
            # Rendered by tutor: the config's value, quoted whole (it holds JSON).
            words += [option.name, f"'{defaults[option.name]}'"]
    return " ".join(words)


def tracking_logs_tasks(given: dict) -> list[tuple[str, str]]:
    """transform_tracking_logs with the options given, the plugin's defaults for the others."""
    command = command_line("./manage.py lms transform_tracking_logs", TRACKING_OPTIONS, given, TRACKING_DEFAULTS)
    if not given.get("workers"):
        command += "{% if BACKFILL_WORKERS %} --workers {{ BACKFILL_WORKERS }}{% endif %}"
    return [("backfill", command)]


def gaps_tasks(given: dict) -> list[tuple[str, str]]:
    return [("backfill", command_line("./manage.py lms find_xapi_gaps", GAPS_OPTIONS, given, GAPS_DEFAULTS))]


def dump_tasks(given: dict) -> list[tuple[str, str]]:
    """Courses are read in the CMS (its modulestore); every other object in the LMS's settings."""
    if not given.get("object"):
        raise click.UsageError("--object is required (e.g. course_overviews, user_profile).")
    if given["object"] == "course_overviews":
        return [("cms", command_line("./manage.py cms dump_data_to_clickhouse", DUMP_OPTIONS, given))]
    return [("backfill", command_line("./manage.py lms dump_data_to_clickhouse", DUMP_OPTIONS, given))]


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


@click.command(name="backfill-external-ids")
@with_options(EXTERNAL_IDS_OPTIONS)
def external_ids(**given) -> list[tuple[str, str]]:
    """Create the xAPI external ids of learners who have none yet (create_external_ids)."""
    return external_ids_tasks(given)


DO_COMMANDS = (tracking_logs, gaps, dump, external_ids)
