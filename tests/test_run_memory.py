"""What a run keeps in memory does not grow with the lines it has read, whatever they hold."""

from __future__ import annotations

import gc
import json
from datetime import UTC, datetime

from backfill_app.reporting.dead_letter import DeadLetterFile
from backfill_app.sinks.base import DryRunSink
from backfill_app.sources.lines import LogLine
from backfill_app.sources.storage import LogStore, StorageLocation
from backfill_app.tracking.pipeline import LOOKUP_BLOCK_LINES, BatchOptions, TrackingLogBackfill
from backfill_app.transform.statements import StatementTransformer
from demo.corpus import ProductionShape, production_lines
from demo.seed import seed_courses, seed_users

# Deleted learners and courses met again and again, block after block, as in a real log.
SHAPE = ProductionShape(unknown_users=0.03, deleted_users=4, unknown_courses=0.01, deleted_courses=2, malformed=0.002)


def lines_still_referenced() -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is LogLine)  # isinstance would wake lazy objects


def test_no_line_is_kept_once_its_block_is_handled(tmp_path, db):
    users = seed_users(30)
    seed_courses()
    blocks = 6
    logs = tmp_path / "logs"
    logs.mkdir()
    lines = production_lines(users, datetime(2025, 3, 1, tzinfo=UTC), 1, blocks * LOOKUP_BLOCK_LINES, SHAPE)
    (logs / "tracking.log").write_text("".join(line + "\n" for _, line in lines))
    location = StorageLocation.from_options(
        "LOCAL", json.dumps({"key": str(tmp_path), "container": "logs", "prefix": ""}), "--source_config"
    )
    backfill = TrackingLogBackfill(
        LogStore(location),
        StatementTransformer("xapi"),
        DryRunSink(),
        DeadLetterFile(str(tmp_path / "dead.jsonl")),
        BatchOptions(sleep_between_batches_secs=0, quiet=True),
    )

    summary = backfill.run()

    # Every block met the same few deleted users and courses again: their failures are remembered.
    assert summary.bad_lines["unknown_user"] > 20 * SHAPE.deleted_users
    assert summary.bad_lines["unknown_course"] > 5 * SHAPE.deleted_courses
    assert summary.lines == blocks * LOOKUP_BLOCK_LINES
    # The run's caches are alive here, holding the users and courses it met (the deleted ones among
    # them, remembered as missing); none of the lines it read is.
    assert backfill.lookups.entries >= SHAPE.deleted_users + SHAPE.deleted_courses
    assert lines_still_referenced() == 0
