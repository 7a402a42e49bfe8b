"""
tutor plugins enable backfill: openedx-backfill in the openedx image, its settings in the
LMS and CMS, a ``backfill-job`` service that reads the LMS's tracking logs read-only and keeps
its working files, and the ``do backfill-*`` jobs (jobs.py).
"""

from __future__ import annotations

from importlib import resources

from tutor import hooks

from tutorbackfill.__about__ import __version__
from tutorbackfill.jobs import DO_COMMANDS

hooks.Filters.CONFIG_DEFAULTS.add_items(
    [
        ("BACKFILL_VERSION", __version__),
        # What the image installs: a version of openedx-backfill, or any pip requirement.
        ("BACKFILL_PIP_REQUIREMENT", "openedx-backfill=={{ BACKFILL_VERSION }}"),
        # Where the jobs read tracking logs by default: the LMS's own, mounted read-only.
        ("BACKFILL_SOURCE_PROVIDER", "LOCAL"),
        ("BACKFILL_SOURCE_CONFIG", '{"key": "/openedx", "container": "tracking-logs", "prefix": "tracking.log"}'),
        ("BACKFILL_DESTINATION_PROVIDER", "CLICKHOUSE"),
        ("BACKFILL_BATCH_SIZE", 10000),
        ("BACKFILL_SLEEP_BETWEEN_BATCHES_SECS", 0),
        # Transforming processes; empty: what the container's CPUs and memory allow.
        ("BACKFILL_WORKERS", ""),
        # Kubernetes: claims holding the LMS's tracking logs and the jobs' working files.
        ("BACKFILL_K8S_LOGS_CLAIM", ""),
        ("BACKFILL_K8S_DATA_CLAIM", ""),
    ]
)

for patch in resources.files("tutorbackfill").joinpath("patches").iterdir():
    if patch.is_file():
        hooks.Filters.ENV_PATCHES.add_item((patch.name, patch.read_text(encoding="utf-8")))

hooks.Filters.CLI_DO_COMMANDS.add_items(list(DO_COMMANDS))
