"""
Imported once by the fork server of --workers (fork_server.py): Django set up, and the modules
a worker runs imported, so that every worker forked from it starts ready. A failure here is
not reported: the worker sets itself up again and reports what fails (local._start_worker).
"""

from backfill_app.tracking.run.parent_death import end_with_parent

end_with_parent()  # the server ends with the command; the workers forked from it, with the server

try:
    import django

    django.setup()

    import event_routing_backends.processors.xapi.transformer  # noqa: F401

    import backfill_app.sinks.destinations  # noqa: F401
    import backfill_app.tracking.pipeline  # noqa: F401
    import backfill_app.transform.statements  # noqa: F401
except Exception:  # noqa: BLE001, S110
    pass
