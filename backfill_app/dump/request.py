"""
What one ``dump_data_to_clickhouse`` run is asked to do, validated and typed: built once by
the command from its options, and the only thing the feature below it reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from backfill_app.core.secrets import resolved
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
        """The overrides given, the password read now when it was given as @/path/to/file."""
        password = {"file": self.password[1:]} if self.password and self.password.startswith("@") else self.password
        given: dict[str, object] = {
            "url": self.url,
            "username": self.username,
            "password": password,
            "timeout_secs": self.timeout_secs,
        }
        return resolved({key: value for key, value in given.items() if value}, "--password")


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
