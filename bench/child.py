"""
The measured programs of bench.speed, each run as `python -m bench.child NAME ...` in its own
process with the bench's standalone settings, so that its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import sys
import time


def setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def ceiling(logs_folder: str, filter_classes: str = "shipped") -> dict:
    """
    ERB's transformer alone (registry, transform, JSON), every lookup answered from memory;
    ``filter_classes="reused"``: with the one change our pipeline makes to how ERB runs
    (backfill_app/transform/filter_classes.py), to show what our pipeline itself costs.
    """
    setup()
    from contextlib import nullcontext
    from pathlib import Path

    from event_routing_backends.management.commands.helpers.event_log_parser import parse_json_event

    from backfill_app.sources.lines import LineReader
    from backfill_app.sources.storage import rotation_order
    from backfill_app.transform.filter_classes import filter_classes_reused
    from backfill_app.transform.lookups import PlatformLookups
    from backfill_app.transform.statements import StatementTransformer

    transformer = StatementTransformer("xapi")
    events = []
    for path in sorted(Path(logs_folder).iterdir(), key=lambda p: rotation_order(p.name)):
        data = path.read_bytes()
        for line in LineReader(lambda _, data=data: [data], gzipped=path.suffix == ".gz"):
            event = parse_json_event(line.text)
            if event and transformer.is_supported(event):
                events.append(event)
    lookups = PlatformLookups()
    reused = filter_classes_reused() if filter_classes == "reused" else nullcontext()
    with lookups.installed(), reused:
        # Every user and course answered from memory from here on.
        lookups.prefetch_actors({transformer.user_key(event) for event in events} - {None}, "XAPI")
        for event in events[:2000]:
            transformer.transform(event)
        started = time.perf_counter()
        statements = 0
        for event in events:
            try:
                statements += len(transformer.transform(event))
            except Exception:
                pass
        elapsed = time.perf_counter() - started
    return {"events": len(events), "statements": statements, "seconds": elapsed}


def erb_command(logs_folder: str, lrs_url: str, username: str, password: str) -> dict:
    """ERB's own transform_tracking_logs, to an LRS route, its Celery tasks run eagerly."""
    setup()
    from celery import current_app
    from django.core.management import call_command
    from event_routing_backends.management.commands.transform_tracking_logs import Command as ErbCommand
    from event_routing_backends.models import RouterConfiguration

    current_app.conf.task_always_eager = True
    # The LMS registers event-tracking's Django tracker at start-up; ERB's command needs it.
    from eventtracking import tracker
    from eventtracking.django.django_tracker import DjangoTracker

    tracker.register_tracker(DjangoTracker())
    RouterConfiguration.objects.all().delete()
    RouterConfiguration.objects.create(
        route_url=lrs_url, backend_name="xAPI", auth_scheme="Basic", username=username, password=password, enabled=True
    )
    source = {"key": os.path.dirname(logs_folder), "container": os.path.basename(logs_folder), "prefix": ""}
    started = time.perf_counter()
    call_command(
        ErbCommand(),
        source_provider="LOCAL",
        source_config=json.dumps(source),
        transformer_type="xapi",
        sleep_between_batches_secs=0,
        batch_size=1000,
    )
    return {"seconds": time.perf_counter() - started}


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    result = {"ceiling": ceiling, "erb_command": erb_command}[name](*args)
    print("RESULT " + json.dumps(result))
