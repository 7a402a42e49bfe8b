"""
A shard: one tracking-log object, or a byte range of a large plain one, with everything a
process elsewhere needs to read it (where it is, which transformer, which checkpoints,
which time window). --workers hands shards to local processes, --distributed to Celery.

Imported by spawned workers before Django is set up: nothing here needs Django.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backfill_app.sources.storage import LogObject, LogStore, StorageLocation
    from backfill_app.tracking.window import TimeWindow


@dataclass(frozen=True)
class Shard:
    source_provider: str
    source_container: str
    source_prefix: str
    driver_options: dict
    object_name: str
    transformer_type: str
    checkpoint_key: str | None
    window: TimeWindow | None = None
    range_start: int = 0
    range_end: int | None = None
    verify_sample: float = 0.0  # share of the fast path's events also transformed by ERB

    @property
    def label(self) -> str:
        return self.object_name if self.range_end is None else f"{self.object_name}@{self.range_start}-{self.range_end}"

    def location(self) -> StorageLocation:
        from backfill_app.sources.storage import StorageLocation

        return StorageLocation(self.source_provider, self.source_container, self.source_prefix, self.driver_options)

    def find_object(self, store: LogStore) -> tuple[LogObject, LogObject]:
        """(the whole object as it is now, the part of it this shard reads)."""
        whole = store.get_object(self.object_name)
        return whole, replace(whole, range_start=self.range_start, range_end=self.range_end)

    def to_json(self) -> dict:
        """For a Celery message (JSON): the window travels as its own dict."""
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        fields["window"] = self.window.to_json() if self.window is not None else None
        return fields

    @classmethod
    def from_json(cls, data: dict) -> Shard:
        from backfill_app.tracking.window import TimeWindow

        window = TimeWindow.from_json(data["window"]) if data.get("window") else None
        return cls(**{**data, "window": window})


def shards_of(
    location: StorageLocation,
    objects: list[LogObject],
    transformer_type: str,
    checkpoint_key: str | None,
    window: TimeWindow | None,
    range_bytes: int,
    verify_sample: float = 0.0,
) -> list[Shard]:
    """Every object as one shard, a large plain file as one shard per range of ``range_bytes``."""
    return [
        Shard(
            location.provider, location.container, location.prefix, location.driver_options,
            part.name, transformer_type, checkpoint_key, window, part.range_start, part.range_end,
            verify_sample,
        )
        for obj in objects
        for part in obj.split(range_bytes)
    ]  # fmt: skip
