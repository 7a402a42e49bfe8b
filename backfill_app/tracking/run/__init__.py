"""How a tracking-log backfill executes: in this process, in --workers processes, or as Celery tasks."""
