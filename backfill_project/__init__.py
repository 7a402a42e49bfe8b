"""The standalone project: backfill_app run outside the LMS/CMS."""

from backfill_project.celery import app as celery_app

__all__ = ("celery_app",)
