"""
Tracking-log objects on any storage apache-libcloud reaches, listed oldest first and read
as a bounded stream of byte chunks.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial

from libcloud.common.types import LibcloudError
from libcloud.storage.providers import get_driver
from libcloud.storage.types import ContainerDoesNotExistError, ObjectDoesNotExistError, Provider

from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.options import parse_json_object
from backfill_app.core.redaction import redact, short_reason
from backfill_app.core.secrets import S3_PROVIDERS, aws_credentials, resolved, secret_values

READ_CHUNK_BYTES = 1024 * 1024

# Keys of --source_config that are ours; every other key goes to the libcloud driver.
LOCATION_KEYS = ("container", "prefix")


@dataclass(frozen=True)
class StorageLocation:
    """A libcloud provider, container and prefix, with the driver's own options."""

    provider: str
    container: str
    prefix: str
    driver_options: dict = field(repr=False)

    @classmethod
    def from_options(cls, provider: str, config_json: str | None, option: str) -> StorageLocation:
        """Parse ``--source_config`` style JSON; ``option`` names the option in errors."""
        if not config_json:
            raise BackfillConfigError(f"{option} is required: a JSON object with 'container' and 'prefix'.")
        return cls.from_config(provider, parse_json_object(config_json, option), option)

    @classmethod
    def from_config(cls, provider: str, config: dict, option: str) -> StorageLocation:
        """From a parsed config (its 'container' and 'prefix' are taken out of it)."""
        if not config:
            raise BackfillConfigError(f"{option} is required: a JSON object with 'container' and 'prefix'.")
        missing = [key for key in LOCATION_KEYS if key not in config]
        if missing:
            raise BackfillConfigError(f"{option} must define {' and '.join(repr(k) for k in missing)}.")
        container, prefix = config.pop("container"), config.pop("prefix") or ""
        provider_name = provider_constant(provider, option.replace("config", "provider"))
        return cls(provider=provider_name, container=str(container), prefix=str(prefix), driver_options=config)

    def describe(self) -> str:
        """Where this is, for logs and messages: never the driver's credentials."""
        return f"{self.provider}:{self.container}/{self.prefix}"

    def resolved_driver_options(self) -> dict:
        """
        The driver's options with their secrets read now, in this process (references resolved;
        S3-compatible storage given no key takes the AWS tools' credentials).
        """
        options = resolved(self.driver_options, f"the {self.provider} storage's config")
        if self.provider in S3_PROVIDERS and not options.get("key"):
            options.update(aws_credentials())
        return options

    def secrets(self) -> list[str]:
        """What a message about this storage must never show."""
        try:
            return secret_values(self.resolved_driver_options(), self.provider)
        except BackfillConfigError:
            return []


def provider_constant(name: str, option: str) -> str:
    if not name or not hasattr(Provider, name.upper()):
        raise BackfillConfigError(
            f"{option} {name!r} is not a libcloud storage provider "
            "(e.g. LOCAL, S3, MINIO, GOOGLE_STORAGE, AZURE_BLOBS)."
        )
    return getattr(Provider, name.upper())


@dataclass(frozen=True)
class LogObject:
    """One file of tracking logs, or the byte range of a large plain one (the lines that start in it)."""

    name: str
    size: int
    etag: str | None
    handle: object = field(repr=False, compare=False)
    range_start: int = 0
    range_end: int | None = None

    @property
    def is_gzip(self) -> bool:
        return self.name.endswith(".gz")

    @property
    def label(self) -> str:
        """What progress, dead letters and checkpoints call it."""
        return self.name if self.range_end is None else f"{self.name}@{self.range_start}-{self.range_end}"

    @property
    def span(self) -> int:
        """Bytes this part covers."""
        return self.size if self.range_end is None else self.range_end - self.range_start

    @property
    def ends_object(self) -> bool:
        return self.range_end is None or self.range_end >= self.size

    def split(self, range_bytes: int) -> list[LogObject]:
        """A large plain file as ranges of ``range_bytes``; a .gz file (not seekable) stays whole."""
        if self.is_gzip or self.size <= range_bytes:
            return [self]
        return [
            replace(self, range_start=start, range_end=min(start + range_bytes, self.size))
            for start in range(0, self.size, range_bytes)
        ]


# logrotate names: tracking.log.3.gz (number: higher is older) or tracking.log-20230101.gz
# (dateext: earlier is older); the live file (no suffix) is the newest.
ROTATION_NUMBER = re.compile(r"^(?P<base>.+)\.(?P<number>\d{1,4})$")
ROTATION_DATE = re.compile(r"^(?P<base>.+)-(?P<stamp>\d{8,14})$")


def rotation_order(name: str) -> tuple:
    """Sort key putting the oldest rotated file first, the live file last, per log."""
    stem = name[:-3] if name.endswith(".gz") else name
    if match := ROTATION_NUMBER.match(stem):
        return (match["base"], 0, -int(match["number"]), "")
    if match := ROTATION_DATE.match(stem):
        return (match["base"], 1, 0, match["stamp"])
    return (stem, 2, 0, "")


def connect_driver(location: StorageLocation):
    """The libcloud driver of a location, or a BackfillConfigError that names what is wrong."""
    options = location.resolved_driver_options()
    try:
        driver_cls = get_driver(location.provider)
        return driver_cls(**options)
    except TypeError as exc:
        raise BackfillConfigError(
            f"The {location.provider} storage driver does not accept these options "
            f"({', '.join(sorted(options)) or 'none'}): {exc}"
        ) from None
    except LibcloudError as exc:
        raise BackfillConfigError(f"Cannot open {location.describe()}: {exc.value}") from None


def get_container(driver, location: StorageLocation):
    try:
        return driver.get_container(location.container)
    except ContainerDoesNotExistError:
        raise BackfillConfigError(f"Container {location.container!r} does not exist at {location.provider}.") from None


def _log_object(obj) -> LogObject:
    return LogObject(name=obj.name, size=int(obj.size or 0), etag=obj.hash, handle=obj)


class LogStore:
    """Lists and reads the tracking-log objects at a :class:`StorageLocation`."""

    def __init__(self, location: StorageLocation):
        self.location = location
        self.driver = self._connect()

    def _connect(self):
        return connect_driver(self.location)

    def list_objects(self, prefix: str | None = None) -> list[LogObject]:
        """The objects under the location's prefix, or under ``prefix`` (a folder of it) when given."""
        prefix = prefix if prefix is not None else self.location.prefix
        try:
            container = get_container(self.driver, self.location)
            with warnings.catch_warnings():
                # Drivers without server-side prefix filtering (LOCAL) warn that they filter here.
                warnings.simplefilter("ignore", UserWarning)
                objects = [
                    _log_object(obj) for obj in self.driver.iterate_container_objects(container, prefix=prefix or None)
                ]
        except (LibcloudError, OSError) as exc:
            raise BackfillConfigError(f"Cannot list {self.location.describe()}: {self.failure_reason(exc)}") from None
        return sorted(objects, key=lambda obj: rotation_order(obj.name))

    def get_object(self, name: str) -> LogObject:
        """One object by name, as it is now: a shard's worker looks up its own file, not the whole listing."""
        try:
            obj = self.driver.get_object(self.location.container, name)
        except ObjectDoesNotExistError:
            raise BackfillConfigError(f"{name} is no longer at {self.location.describe()}.") from None
        except (LibcloudError, OSError) as exc:
            raise BackfillConfigError(
                f"Cannot read {name} at {self.location.describe()}: {self.failure_reason(exc)}"
            ) from None
        return _log_object(obj)

    def failure_reason(self, exc: Exception) -> str:
        """A storage failure in a few words, without the driver's secret."""
        secrets = self.location.secrets()
        return (
            short_reason(exc, secrets) if isinstance(exc, OSError) else redact(str(getattr(exc, "value", exc)), secrets)
        )

    def opener(self, obj: LogObject) -> Callable[[int], Iterator[bytes]]:
        """Opens ``obj`` at a byte offset: what a reader needs to resume after a dropped connection."""
        return partial(self.read_chunks, obj)

    def read_chunks(self, obj: LogObject, start: int = 0) -> Iterator[bytes]:
        """The object's bytes from ``start``, in chunks of at most READ_CHUNK_BYTES."""
        if self.location.provider == Provider.LOCAL:
            # libcloud's LOCAL driver reads the whole file into memory (twice): read it ourselves.
            return self._read_local_file(obj, start)
        if start:
            return self.driver.download_object_range_as_stream(
                obj.handle, start_bytes=start, chunk_size=READ_CHUNK_BYTES
            )
        return self.driver.download_object_as_stream(obj.handle, chunk_size=READ_CHUNK_BYTES)

    def _read_local_file(self, obj: LogObject, start: int) -> Iterator[bytes]:
        path = os.path.join(self.driver.base_path, self.location.container, obj.name)
        with open(path, "rb") as stream:
            stream.seek(start)
            while chunk := stream.read(READ_CHUNK_BYTES):
                yield chunk
