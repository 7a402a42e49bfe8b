"""
Settings of the standalone project (``./manage.py``), configured by environment variables
so that nobody edits a file to point it at real systems:

- ``BACKFILL_DATABASE``: the platform's database, read only (users, external ids, courses,
  profiles...), e.g. a read replica of the LMS MySQL: ``mysql://user:password@host:3306/edxapp``.
  Unset: the platform's tables are the state database's own (a demo, the tests).
- ``BACKFILL_STATE_DATABASE``: this app's own state (checkpoints), default a sqlite file under
  ``var/``; with ``--distributed``, one every Celery worker reaches.
- ``BACKFILL_CLICKHOUSE``: ``http(s)://user:password@host:port`` or ``chdb:///path``
  (default: the embedded engine in ``var/clickhouse``).
- ``BACKFILL_XAPI_DATABASE`` / ``BACKFILL_XAPI_TABLE``: the raw xAPI table (default
  ``xapi.xapi_events_all``, Ralph's; Aspects 6.x fed by Vector, its default, reads ``openedx``).
- ``BACKFILL_LMS_ROOT_URL``: the LMS root URL that the live pipeline puts in every actor
  (must match production for statements identical to the live ones).
- ``BACKFILL_VAR_DIR``: where the sqlite file, embedded ClickHouse and dead-letter files go.
- ``BACKFILL_CELERY_BROKER``: the Celery broker of ``--distributed`` (default
  ``redis://127.0.0.1:6379/0``); ``BACKFILL_CELERY_RESULTS``: where task results go
  (default: the broker); ``BACKFILL_CELERY_VISIBILITY_TIMEOUT``: seconds before a task
  whose worker vanished runs elsewhere (default 6 hours).
"""

import os
import sys
from pathlib import Path

from event_routing_backends.settings import common as erb_settings

from backfill_app.core.private_files import make_private_folders
from backfill_app.settings.common import plugin_settings as backfill_plugin_settings
from backfill_project.database_url import database_from_url
from backfill_project.routers import PLATFORM_DATABASE

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("BACKFILL_VAR_DIR", BASE_DIR / "var")).resolve()
make_private_folders(VAR_DIR)

SECRET_KEY = os.environ.get("BACKFILL_SECRET_KEY", "standalone-backfill-not-a-web-server")
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "config_models",
    "backfill_app",
    "backfill_app.standalone",
    "event_routing_backends",
]

DATABASES = {
    "default": database_from_url(
        os.environ.get("BACKFILL_STATE_DATABASE") or f"sqlite:///{VAR_DIR / 'backfill.sqlite3'}"
    )
}
if os.environ.get("BACKFILL_DATABASE"):  # the platform's, read apart from our state
    DATABASES[PLATFORM_DATABASE] = database_from_url(os.environ["BACKFILL_DATABASE"])
    DATABASE_ROUTERS = ["backfill_project.routers.PlatformDatabaseRouter"]

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Every actor's homePage, and so every statement id: no silent default for a run that writes
# (unset, a run takes it from the destination's statements, or is refused; see statement_identity).
LMS_ROOT_URL = os.environ.get("BACKFILL_LMS_ROOT_URL", "http://localhost:18000")
BACKFILL_LMS_ROOT_URL_GIVEN = bool(os.environ.get("BACKFILL_LMS_ROOT_URL"))
BACKFILL_ROOT_URL_SETTING = "BACKFILL_LMS_ROOT_URL"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "backfill_app": {"level": "INFO", "propagate": True},
        # ERB logs a traceback at import when edx-platform is absent, as it is here by design.
        "event_routing_backends.helpers": {"level": "CRITICAL", "propagate": True},
        # Each failed connection is also reported by our own one-line error: no double noise.
        "urllib3.connectionpool": {"level": "ERROR", "propagate": True},
        "clickhouse_connect.driver": {"level": "ERROR", "propagate": True},
    },
}

# event-routing-backends' own defaults (allow-lists, agent IFI type, toggles), applied as
# the LMS applies them through its plugin settings.
erb_settings.plugin_settings(sys.modules[__name__])
CALIPER_EVENTS_ENABLED = True
# One log line per statement would drown a backfill of millions of events.
XAPI_EVENT_LOGGING_ENABLED = False
CALIPER_EVENT_LOGGING_ENABLED = False

BACKFILL_VAR_DIR = str(VAR_DIR)
BACKFILL_COURSES_DIR = os.environ.get("BACKFILL_COURSES_DIR") or None
# Aspects' personal-data switch, as tutor-contrib-aspects renders it: the models that hold
# personal data, and whether their sinks are on. Off until turned on (BACKFILL_ENABLE_PII=true),
# as Aspects ships (ASPECTS_ENABLE_PII: false).
PII_ENABLED = os.environ.get("BACKFILL_ENABLE_PII", "false").lower() in ("1", "true", "yes", "on")
EVENT_SINK_CLICKHOUSE_PII_MODELS = ["user_profile", "external_id", "auth_user"]
EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED = PII_ENABLED
EVENT_SINK_CLICKHOUSE_EXTERNAL_ID_ENABLED = PII_ENABLED
BACKFILL_CLICKHOUSE = os.environ.get("BACKFILL_CLICKHOUSE") or f"chdb://{VAR_DIR / 'clickhouse'}"
BACKFILL_CLICKHOUSE_EMBEDDED_SCHEMA = True
BACKFILL_XAPI_DATABASE = os.environ.get("BACKFILL_XAPI_DATABASE") or None
BACKFILL_XAPI_TABLE = os.environ.get("BACKFILL_XAPI_TABLE") or None
backfill_plugin_settings(sys.modules[__name__])

# transform_tracking_logs --distributed: tasks on Celery (workers: celery -A backfill_project worker -Q backfill).
CELERY_BROKER_URL = os.environ.get("BACKFILL_CELERY_BROKER", "redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = os.environ.get("BACKFILL_CELERY_RESULTS") or CELERY_BROKER_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A shard takes minutes: a worker takes one at a time, so an idle worker can take the next.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis gives a task whose worker vanished (machine lost, kill -9) to another worker after this
# many seconds: longer than the longest shard (a large .gz file is one shard), or it would be
# given out again while still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("BACKFILL_CELERY_VISIBILITY_TIMEOUT", 6 * 3600)),
    "unacked_restore_interval": 1,
}
