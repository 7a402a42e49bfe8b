"""
Which events a run keeps by time (``--start``/``--end``, or the gap hours of
``--gaps_only``), and which files it need not open at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.json_codec import read_json
from backfill_app.sources.lines import LineReader
from backfill_app.sources.storage import LogObject, LogStore, rotation_order

log = logging.getLogger(__name__)

TAIL_BYTES = 256 * 1024
HEAD_LINES = 50


def parse_moment(text: str, option: str) -> datetime:
    """ISO 8601; UTC when no zone is given."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BackfillConfigError(
            f"{option} {text!r} is not an ISO 8601 date or time (e.g. 2024-03-01T12:00)."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def event_time(event: dict) -> datetime | None:
    value = event.get("time") or event.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601, or year 0 once in UTC
        return None


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hour_after(hour: datetime) -> datetime:
    """The end of ``hour``: the next one, or the last moment a datetime holds for 9999-12-31 23:00."""
    try:
        return hour + timedelta(hours=1)
    except OverflowError:
        return datetime.max.replace(tzinfo=hour.tzinfo)


def _time_in_line(text: str) -> datetime | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        event = read_json(text[start:])
    except (ValueError, RecursionError):  # not JSON, or JSON Python will not read
        return None
    return event_time(event) if isinstance(event, dict) else None


@dataclass
class TimeWindow:
    """Events with ``start <= time < end`` and, when ``hours`` is given, in one of those hours."""

    start: datetime | None = None
    end: datetime | None = None
    hours: frozenset[datetime] | None = None
    _ranges: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.hours is not None and self.hours:
            self.start = max(self.start or min(self.hours), min(self.hours))
            self.end = min(self.end or hour_after(max(self.hours)), hour_after(max(self.hours)))
        if self.start and self.end and self.start >= self.end:
            raise BackfillConfigError("--start must be before --end.")

    @classmethod
    def from_options(cls, start: str | None, end: str | None) -> TimeWindow:
        """``--start``/``--end`` as the operator typed them."""
        return cls(
            start=parse_moment(start, "--start") if start else None,
            end=parse_moment(end, "--end") if end else None,
        )

    def describe(self) -> str:
        parts = [
            f"from {self.start:%Y-%m-%dT%H:%M}Z" if self.start else "",
            f"to {self.end:%Y-%m-%dT%H:%M}Z" if self.end else "",
        ]
        if self.hours is not None:
            parts.append(f"in {len(self.hours)} gap hours")
        return " ".join(part for part in parts if part)

    def to_json(self) -> dict:
        """For a Celery message: times as ISO 8601, with the file time ranges already found."""

        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "hours": sorted(iso(hour) for hour in self.hours) if self.hours is not None else None,
            "ranges": {name: [iso(first), iso(last)] for name, (first, last) in self._ranges.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> TimeWindow:
        def moment(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text) if text else None

        hours = frozenset(datetime.fromisoformat(hour) for hour in data["hours"]) if data["hours"] is not None else None
        window = cls(start=moment(data["start"]), end=moment(data["end"]), hours=hours)
        window.known_ranges({name: (moment(first), moment(last)) for name, (first, last) in data["ranges"].items()})
        return window

    def identity(self) -> str:
        hours = ",".join(sorted(f"{hour:%Y%m%d%H}" for hour in self.hours)) if self.hours is not None else ""
        return f"{self.start}|{self.end}|{hours}"

    def contains(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        if (self.start and moment < self.start) or (self.end and moment >= self.end):
            return False
        return self.hours is None or hour_of(moment) in self.hours

    def keeps(self, event: dict) -> bool:
        return self.contains(event_time(event))

    def overlaps(self, first: datetime | None, last: datetime | None) -> bool:
        """Could a file whose events run from ``first`` to ``last`` hold an event in the window?"""
        if first is not None and self.end is not None and first >= self.end:
            return False
        if last is not None and self.start is not None and last < self.start:
            return False
        if self.hours is not None and first is not None and last is not None:
            return any(hour_of(first) <= hour <= last for hour in self.hours)
        return True

    def known_ranges(self, ranges: dict) -> None:
        self._ranges.update(ranges)

    @property
    def time_ranges(self) -> dict[str, tuple[datetime | None, datetime | None]]:
        """Each prepared file's (first, last) event time, None where it could not be told."""
        return dict(self._ranges)

    def prepare(self, store: LogStore, objects: list[LogObject]) -> None:
        """
        The time range of each file, from its first line and its last (a plain file's tail);
        a .gz file ends where the next file of its log begins, as logrotate writes them.
        """
        pending = [obj for obj in objects if obj.name not in self._ranges]
        firsts = {obj.name: _first_time(store, obj) for obj in pending}
        ordered = sorted(pending, key=lambda obj: rotation_order(obj.name))
        for index, obj in enumerate(ordered):
            last = _dateext_bound(obj.name) if obj.is_gzip else _last_time(store, obj)
            if last is None and index + 1 < len(ordered):
                following = ordered[index + 1]
                if rotation_order(following.name)[0] == rotation_order(obj.name)[0]:
                    last = firsts[following.name]
            self._ranges[obj.name] = (firsts[obj.name], last)

    def may_hold_events(self, store: LogStore, obj: LogObject) -> bool:
        first, last = self._ranges.get(obj.name, (None, None))
        return self.overlaps(first, last)


def _dateext_bound(name: str) -> datetime | None:
    """
    logrotate's dateext (``tracking.log-20240301.gz``) names the day of rotation, or with
    dateyesterday the day of the content: either way nothing in it is later than that day's end.
    """
    order = rotation_order(name)
    if order[1] != 1:
        return None
    try:
        day = datetime.strptime(order[3][:8], "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) - timedelta(microseconds=1)


def _first_time(store: LogStore, obj: LogObject) -> datetime | None:
    try:
        reader = LineReader(store.opener(obj), gzipped=obj.is_gzip, read_ahead=False)  # a few lines
        for count, line in enumerate(reader):
            if (moment := _time_in_line(line.text)) is not None:
                return moment
            if count >= HEAD_LINES:
                return None
    except (OSError, EOFError, ConnectionError) as exc:
        log.warning("could not read the start of %s (%s): it will be read whole", obj.name, type(exc).__name__)
    return None


def _last_time(store: LogStore, obj: LogObject) -> datetime | None:
    start = max(0, obj.size - TAIL_BYTES)
    try:
        tail = b"".join(store.read_chunks(obj, start=start))
    except (OSError, ConnectionError) as exc:
        log.warning("could not read the end of %s (%s): it will be read whole", obj.name, type(exc).__name__)
        return None
    lines = tail.decode("utf-8", errors="replace").splitlines()
    for text in reversed(lines[1:] if start else lines):  # the first line of a tail may be cut
        if (moment := _time_in_line(text)) is not None:
            return moment
    return None
