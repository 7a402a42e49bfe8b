"""One hour's row of a gap report, as data: its fields under the names the JSON document uses."""

from __future__ import annotations

from dataclasses import fields
from typing import ClassVar


class HourRow:
    """Mixed into a dataclass whose first field is ``hour``."""

    json_names: ClassVar[dict[str, str]] = {}  # field -> its name in the document, where they differ

    def to_json(self) -> dict:
        row = {"hour": self.hour.isoformat()}  # type: ignore[attr-defined]
        for item in fields(self):  # type: ignore[arg-type]
            if item.name != "hour":
                row[self.json_names.get(item.name, item.name)] = getattr(self, item.name)
        return row
