"""
Tracking logs built from real event shapes: event-routing-backends' own fixtures
(tests/fixtures/erb), re-targeted to other users and times, written as Tutor writes them
and rotated into .gz files as logrotate does.
"""

from __future__ import annotations

import copy
import gzip
import json
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

ERB_FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "erb"


def erb_raw_events() -> dict[str, dict]:
    """ERB's raw fixture events by file stem, as ERB's tests feed them to the transformers."""
    return {path.stem: json.loads(path.read_text()) for path in sorted((ERB_FIXTURES / "current").glob("*.json"))}


def erb_expected_statements(transformer_type: str) -> dict[str, object]:
    folder = ERB_FIXTURES / f"expected_{transformer_type}"
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def as_log_record(event: dict) -> dict:
    """The tracking-log shape of an event: payload under ``event``, time under ``time``."""
    record = copy.deepcopy(event)
    if "event" not in record and "data" in record:
        record["event"] = record.pop("data")
    if "time" not in record and "timestamp" in record:
        record["time"] = record.pop("timestamp")
    return record


def tutor_line(record: dict) -> str:
    """One line as Tutor's LMS logger writes it."""
    when = datetime.fromisoformat(str(record.get("time") or record.get("timestamp")))
    user = record.get("context", {}).get("user_id") or "None"
    prefix = f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d} INFO 7 [tracking] [user {user}] [ip 172.18.0.1]"
    return f"{prefix} logger.py:41 - {json.dumps(record)}"


def _retarget(value, user_id: int, username: str):
    if isinstance(value, dict):
        return {
            key: user_id
            if key == "user_id" and item not in (None, "")
            else username
            if key == "username" and item not in (None, "")
            else _retarget(item, user_id, username)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_retarget(item, user_id, username) for item in value]
    return value


def _sent_live(expected) -> bool:
    """The live xAPI processor sends only statements whose object has an id."""
    statements = expected if isinstance(expected, list) else [expected]
    return all(statement.get("object", {}).get("id") for statement in statements)


def usable_templates(transformer_type: str = "xapi") -> dict[str, dict]:
    """
    Fixture events that the live pipeline turns into statements: not the 'anonymous' one (no
    user), not one without a payload (a log line always has ``event``), not one it drops.
    """
    expected = erb_expected_statements(transformer_type)
    return {
        name: event
        for name, event in erb_raw_events().items()
        if name in expected
        and "anonymous" not in name
        and ("data" in event or "event" in event)
        and _sent_live(expected[name])
    }


def sample_records(users: list[tuple[int, str]], start: datetime, days: int, events_per_day: int, seed: int = 7):
    """Log records spread over ``days`` from ``start``, in time order, deterministic for a seed."""
    rng = random.Random(seed)
    templates = list(usable_templates().values())
    for day in range(days):
        offsets = sorted(rng.uniform(0, 86400) for _ in range(events_per_day))
        for offset in offsets:
            user_id, username = rng.choice(users)
            record = as_log_record(_retarget(rng.choice(templates), user_id, username))
            record["time"] = (start + timedelta(days=day, seconds=offset)).isoformat()
            yield record


def write_rotated_logs(lines_by_day: Iterator[tuple[int, list[str]]], folder: Path, days: int) -> list[Path]:
    """
    logrotate's numbered scheme: day 0 (oldest) -> tracking.log.{days-1}.gz ... the day
    before last -> tracking.log.1 (not compressed yet, delaycompress), last day -> tracking.log.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for day, lines in lines_by_day:
        age = days - 1 - day
        if age == 0:
            path = folder / "tracking.log"
        elif age == 1:
            path = folder / "tracking.log.1"
        else:
            path = folder / f"tracking.log.{age}.gz"
        data = ("\n".join(lines) + "\n").encode("utf-8")
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        written.append(path)
    return written
