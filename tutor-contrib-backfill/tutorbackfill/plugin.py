"""
tutor plugins enable backfill: openedx-backfill in the openedx image (from the package index,
a wheel or sdist dropped into the image's build folder, or a checkout added with ``tutor mounts
add``), its settings in the LMS and CMS, a ``backfill-job`` service that reads the LMS's tracking
logs read-only and keeps its working files, Celery workers for ``--distributed`` (none unless
asked), and the ``do backfill-*`` jobs (jobs.py).
"""

from __future__ import annotations

from importlib import resources

from tutor import hooks

from tutorbackfill.__about__ import __version__
from tutorbackfill.jobs import DO_COMMANDS, archive_source, backfill_argument, worker_arguments

# The folder of a checkout that `tutor mounts add` installs into the image (and mounts in the
# backfill's containers); tutor's own rule for openedx-* folders matches it as well.
CHECKOUT_FOLDER = "openedx-backfill"

hooks.Filters.CONFIG_DEFAULTS.add_items(
    [
        ("BACKFILL_VERSION", __version__),
        # What the image installs when no checkout is mounted: a version of openedx-backfill, or any
        # pip requirement. A wheel or sdist in env/build/openedx/backfill-packages/ is found first.
        ("BACKFILL_PIP_REQUIREMENT", "openedx-backfill[plot]=={{ BACKFILL_VERSION }}"),
        # Where the jobs read tracking logs by default: the LMS's own, mounted read-only.
        ("BACKFILL_SOURCE_PROVIDER", "LOCAL"),
        ("BACKFILL_SOURCE_CONFIG", '{"key": "/openedx", "container": "tracking-logs", "prefix": "tracking.log"}'),
        ("BACKFILL_DESTINATION_PROVIDER", "CLICKHOUSE"),
        # Empty: Aspects' ClickHouse, database and table from the platform's settings.
        ("BACKFILL_DESTINATION_CONFIG", ""),
        ("BACKFILL_BATCH_SIZE", 10000),
        ("BACKFILL_SLEEP_BETWEEN_BATCHES_SECS", 0),
        # Transforming processes; empty: what the container's CPUs and memory allow.
        ("BACKFILL_WORKERS", ""),
        # Names of environment variables the job and workers get from the host's environment
        # (docker compose) or from the Kubernetes secret BACKFILL_K8S_ENV_SECRET: what {"env": NAME}
        # references in a source or destination config read. Values are never written by the plugin.
        ("BACKFILL_JOB_ENV", []),
        ("BACKFILL_K8S_ENV_SECRET", ""),
        # Celery workers of `do backfill-tracking-logs --distributed` (0: none), on this queue.
        ("BACKFILL_CELERY_QUEUE", "backfill"),
        ("BACKFILL_WORKER_REPLICAS", 0),
        ("BACKFILL_WORKER_CONCURRENCY", 1),
        # Kubernetes: claims holding the LMS's tracking logs and the jobs' working files.
        ("BACKFILL_K8S_LOGS_CLAIM", ""),
        ("BACKFILL_K8S_DATA_CLAIM", ""),
    ]
)

hooks.Filters.ENV_TEMPLATE_ROOTS.add_item(str(resources.files("tutorbackfill") / "templates"))
hooks.Filters.ENV_TEMPLATE_FILTERS.add_item(("backfill_argument", backfill_argument))
hooks.Filters.ENV_TEMPLATE_VARIABLES.add_items(
    [
        ("BACKFILL_CHECKOUT_FOLDER", CHECKOUT_FOLDER),
        ("backfill_worker_arguments", worker_arguments),
        ("backfill_archive_source", archive_source),
    ]
)
hooks.Filters.MOUNTED_DIRECTORIES.add_item(("openedx", CHECKOUT_FOLDER))

for patch in resources.files("tutorbackfill").joinpath("patches").iterdir():
    if patch.is_file():
        hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text(encoding="utf-8")))

hooks.Filters.CLI_DO_COMMANDS.add_items(list(DO_COMMANDS))
