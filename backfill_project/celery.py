"""
The standalone project's Celery app (inside the LMS/CMS, the platform's own app runs the
tasks). Configured from the Django settings named CELERY_*; workers start with
``celery -A backfill_project worker -Q backfill``.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backfill_project.settings")

app = Celery("backfill_project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Our tasks only: event-routing-backends' own need edx-platform's celery_utils app.
app.autodiscover_tasks(["backfill_app"])
