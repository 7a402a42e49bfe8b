"""
Every setting of the app and its default, in one place.

Inside the LMS/CMS these defaults are applied by the plugin settings; the standalone
project sets some of them from environment variables (``backfill_project/settings.py``).
"""

import os

from django.conf import settings

DEFAULTS = {
    # Where ClickHouse is: "http(s)://user:password@host:port" or "chdb:///path". None means:
    # use Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG when it is set.
    "BACKFILL_CLICKHOUSE": None,
    # Create Aspects' schema when the target is the embedded engine (never on a server).
    "BACKFILL_CLICKHOUSE_EMBEDDED_SCHEMA": True,
    # Where statements go in ClickHouse. None: Aspects' own choice, as the platform has it
    # (EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG's xapi_database / xapi_table: ``openedx`` under
    # Vector, Aspects 6.x's default, ``xapi`` under Ralph), else xapi.xapi_events_all.
    "BACKFILL_XAPI_DATABASE": None,
    "BACKFILL_XAPI_TABLE": None,
    # Course exports (OLX folders or .tar.gz) for dump_data_to_clickhouse outside the CMS.
    "BACKFILL_COURSES_DIR": None,
    # Working files (dead-letter files); relative to the current directory when not absolute.
    # None: inside the platform, <DATA_DIR>/backfill (see var_dir); elsewhere ./var.
    "BACKFILL_VAR_DIR": None,
    # Aspects drops events older than its data TTL downstream (tutor default: 1 year).
    "BACKFILL_ASPECTS_TTL_DAYS": 365,
    # Processes that transform with --workers unset (None: what the CPUs, the container's CPU
    # quota and its memory limit allow; see tracking/run/capacity.py).
    "BACKFILL_WORKERS": None,
    # With --workers, a plain file larger than this is read by several workers, a range each.
    "BACKFILL_RANGE_BYTES": 256 * 1024 * 1024,
    # Transient failures of a destination (timeouts, dropped connections): tries and first pause.
    "BACKFILL_RETRY_ATTEMPTS": 5,
    "BACKFILL_RETRY_BASE_DELAY_SECS": 0.5,
    # The Celery queue of transform_tracking_logs --distributed (workers must consume it).
    "BACKFILL_CELERY_QUEUE": "backfill",
    # How often, in seconds, progress is logged when stdout is not a terminal.
    "BACKFILL_PROGRESS_LOG_INTERVAL_SECS": 30,
    # xAPI statements written directly where the fast path was verified (transform/direct);
    # False sends every event through event-routing-backends' transformer.
    "BACKFILL_DIRECT_STATEMENTS": True,
}

# What the standalone project says of itself, not settings an operator sets: read like the
# others, never copied into the platform's settings by the plugin settings.
PROJECT_FACTS = {
    # Whether LMS_ROOT_URL was chosen by the operator (inside the platform it is the platform's);
    # standalone, unset, it is taken from the destination's statements (tracking/statement_identity.py).
    "BACKFILL_LMS_ROOT_URL_GIVEN": True,
    # The setting that sets LMS_ROOT_URL, as messages name it.
    "BACKFILL_ROOT_URL_SETTING": "LMS_ROOT_URL",
}


def get(name: str):
    """The value of a BACKFILL_* setting, or its default."""
    return getattr(settings, name, DEFAULTS[name] if name in DEFAULTS else PROJECT_FACTS[name])


def var_dir() -> str:
    """
    BACKFILL_VAR_DIR, or inside the platform ``<DATA_DIR>/backfill``: the platform's data
    folder, which Tutor mounts from the host (``/openedx/data``), so what a run sets aside
    outlives a ``tutor local run`` or a Kubernetes job; the current directory there is the
    image's code folder, thrown away with the container. Read when used, not at start-up:
    production settings set DATA_DIR after the plugin settings have run.
    """
    chosen = get("BACKFILL_VAR_DIR")
    if not chosen:
        data_dir = getattr(settings, "DATA_DIR", None)
        chosen = os.path.join(str(data_dir), "backfill") if data_dir else "var"
    return os.path.abspath(chosen)


def lms_root_url() -> str:
    return getattr(settings, "LMS_ROOT_URL", "")


def aspects_clickhouse_config() -> dict:
    """Aspects' own ClickHouse settings, when the platform has them (platform-plugin-aspects)."""
    return dict(getattr(settings, "EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG", None) or {})
