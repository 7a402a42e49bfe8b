"""The standalone settings, plus what ERB's own command needs to run outside the LMS (bench.speed)."""

from backfill_project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "celery_utils"]  # noqa: F405 (ERB's Celery tasks persist failures there)
