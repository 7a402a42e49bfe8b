"""
The measured programs of bench.speed that are not our command, each run as
`python -m bench.child NAME ...` in its own process with the bench's standalone settings, so
that its memory is its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time


def setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()


def statements_digest(pairs) -> str:
    """One digest of (statement id, statement JSON) pairs, whatever their order."""
    digest = hashlib.sha256()
    for statement_id, statement_json in sorted(pairs):
        digest.update(f"{statement_id} {hashlib.sha256(statement_json.encode()).hexdigest()}\n".encode())
    return digest.hexdigest()


def ceiling(logs_folder: str, how: str = "shipped") -> dict:
    """
    ERB's transformer alone (registry, transform, JSON), every lookup answered from memory;
    ``how="accelerated"``: with the changes our pipeline makes to how ERB runs when an event
    takes ERB's path (backfill_app/transform/accelerations.py); ``how="direct"``: our
    transformer as the pipeline runs it (the fast path, ERB for what it hands back).
    Also the digest of every statement it made, the reference the other runs must equal.
    """
    setup()
    from contextlib import nullcontext
    from pathlib import Path

    from django.conf import settings

    from backfill_app.sources.lines import LineReader
    from backfill_app.sources.storage import rotation_order
    from backfill_app.sources.tracking_log import BadLine, parse_tracking_line
    from backfill_app.transform.accelerations import erb_accelerated
    from backfill_app.transform.lookups import PlatformLookups
    from backfill_app.transform.statements import StatementTransformer, TransformFailure

    settings.BACKFILL_DIRECT_STATEMENTS = how == "direct"
    transformer = StatementTransformer("xapi", verify_sample=0)
    events = []
    for path in sorted(Path(logs_folder).iterdir(), key=lambda p: rotation_order(p.name)):
        data = path.read_bytes()
        for line in LineReader(lambda _, data=data: [data], gzipped=path.suffix == ".gz"):
            try:
                event = parse_tracking_line(line.text)
            except BadLine:
                continue
            if transformer.is_supported(event):
                events.append(event)
    lookups = PlatformLookups()
    accelerated = erb_accelerated() if how != "shipped" else nullcontext()
    made = []
    with lookups.installed(), accelerated:
        # Every user and course answered from memory from here on.
        lookups.prefetch_actors({transformer.user_key(event) for event in events} - {None}, "XAPI")
        for event in events[:2000]:
            try:
                transformer.transform(event)
            except TransformFailure:
                pass
        started = time.perf_counter()
        for event in events:
            try:
                made.extend(transformer.transform(event))
            except TransformFailure:
                pass
        elapsed = time.perf_counter() - started
    return {
        "events": len(events),
        "statements": len(made),
        "seconds": elapsed,
        "digest": statements_digest((statement.id, statement.json) for statement in made),
    }


def erb_command(logs_folder: str) -> dict:
    """
    ERB's own transform_tracking_logs to the LRS destination with no route configured: it reads,
    parses and transforms every event (its router processes events before it looks for
    routes), and sends nothing; the CPU an operator pays, without an LRS's own time.
    """
    setup()
    from django.core.management import call_command
    from event_routing_backends.management.commands.transform_tracking_logs import Command as ErbCommand
    from event_routing_backends.models import RouterConfiguration

    # The LMS registers event-tracking's Django tracker at start-up; ERB's command needs it.
    from eventtracking import tracker
    from eventtracking.django.django_tracker import DjangoTracker

    tracker.register_tracker(DjangoTracker())
    RouterConfiguration.objects.all().delete()
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


def table_digest(dsn: str) -> dict:
    """The digest of xapi.xapi_events_all in an embedded ClickHouse (which opens in one process)."""
    setup()
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn)
    rows = client.query("SELECT toString(event_id), event FROM xapi.xapi_events_all").result_rows
    return {"statements": len(rows), "digest": statements_digest(rows)}


TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"


def age_statements(dsn: str, every: str) -> dict:
    """
    Every ``every``-th statement of xapi.xapi_events_all made as ERB 9.0.1 made it (its transformer
    version says so), alternately:
    stale (its content changed where ERB 9.0.x differs: a forum statement's object name dropped,
    here the object's definition name, set where there is none) and the same event under another
    id (the actor another user, the id a new one: ERB before 9.3.8 acting as the staff).
    """
    setup()
    import uuid

    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=dsn)
    rows = client.query(
        f"SELECT toString(event_id), emission_time, event FROM xapi.xapi_events_all "
        f"WHERE cityHash64(event_id) % {int(every)} = 0"
    ).result_rows
    aged, kinds = [], {"stale": 0, "other_id": 0}
    for number, (statement_id, moment, text) in enumerate(rows):
        statement = json.loads(text)
        statement["context"]["extensions"][TRANSFORMER_VERSION] = "event-routing-backends@9.0.1"
        if number % 2 == 0:
            definition = statement.setdefault("object", {}).setdefault("definition", {})
            definition["name"] = {"en-US": "a title an older release wrote"}
            kinds["stale"] += 1
        else:
            statement["actor"] = {"objectType": "Agent", "account": {"homePage": "http://staff", "name": "staff"}}
            statement_id = statement["id"] = str(uuid.uuid4())
            kinds["other_id"] += 1
        aged.append((uuid.UUID(statement_id), moment, json.dumps(statement)))
    ids = ",".join(f"'{row[0]}'" for row in rows)
    client.command(f"DELETE FROM xapi.xapi_events_all WHERE event_id IN ({ids})")
    client.insert("xapi.xapi_events_all", aged, column_names=["event_id", "emission_time", "event"])
    return kinds


def files_digest(folder: str) -> dict:
    """The digest of every statement in the statement files under ``folder`` (each row counted)."""
    from pathlib import Path

    from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIXES, statement_file_rows

    rows = [
        json.loads(line)
        for path in sorted(Path(folder).rglob("*"))
        if path.name.endswith(STATEMENT_FILE_SUFFIXES)
        for line in statement_file_rows(path.name, path.read_bytes())
    ]
    return {
        "statements": len(rows),
        "digest": statements_digest((row["event_id"], row["event"]) for row in rows),
    }


if __name__ == "__main__":
    name, *args = sys.argv[1:]
    functions = {
        "ceiling": ceiling, "erb_command": erb_command, "table_digest": table_digest, "age_statements": age_statements
    }  # fmt: skip
    result = {**functions, "files_digest": files_digest}[name](*args)
    print("RESULT " + json.dumps(result))
