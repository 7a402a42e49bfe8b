"""
What one ``dump_data_to_clickhouse`` run is asked to do, validated and typed: built once by
the command from its options, and the only thing the feature below it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backfill_app.dump.runner import DumpOptions


@dataclass(frozen=True)
class ClickHouseOverrides:
    """--url, --username, --password, --timeout_secs, --database: what replaces the settings' values."""

    url: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout_secs: int | None = None
    database: str | None = None

    def connection(self) -> dict:
        given: dict[str, object] = {
            "url": self.url,
            "username": self.username,
            "password": self.password,
            "timeout_secs": self.timeout_secs,
        }
        return {key: value for key, value in given.items() if value}


@dataclass(frozen=True)
class DumpRequest:
    dump: DumpOptions
    clickhouse: ClickHouseOverrides = field(default_factory=ClickHouseOverrides)
    force_pii: bool = False  # --force_pii: personal data although the platform's switch is off
    confirm_delete: bool = False  # --object auth_user: delete, not only show
    dead_letter_path: str | None = None

    @property
    def object_name(self) -> str:
        return self.dump.object_name
