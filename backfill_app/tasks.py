"""
Celery looks for an app's tasks in its ``tasks`` module (the LMS's workers and the standalone
project's alike): the backfill's one task is defined with the rest of a distributed run.
"""

from backfill_app.tracking.run.celery_task import transform_shard

__all__ = ["transform_shard"]
