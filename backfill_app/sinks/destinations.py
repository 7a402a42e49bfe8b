"""
``--destination_provider`` / ``--destination_config`` -> a :class:`Destination`, parsed once
by the command, and the one factory that opens it: the only module that knows the concrete
sink classes. What the opened destination can do is declared in :class:`OpenDestination`,
so no caller asks a sink what it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from backfill_app.clickhouse.connection import XapiTable, xapi_table_from_config
from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.options import parse_json_object
from backfill_app.core.secrets import inline_secrets, resolved, secret_values
from backfill_app.sinks.base import ActorSample, DryRunSink, RowSink, StatementSink
from backfill_app.sinks.clickhouse import ClickHouseSink
from backfill_app.sinks.files import StatementFileSink
from backfill_app.sinks.lrs import LrsSink
from backfill_app.sinks.lrs_routes import endpoint_from_config, endpoints_from_routes
from backfill_app.sources.storage import StorageLocation

CLICKHOUSE = "CLICKHOUSE"
LRS = "LRS"
OPTION = "--destination_config"
REPLACE_IN_AN_LRS = (
    "--replace_drifted cannot replace statements in an LRS: an LRS keeps every statement it took, and voiding "
    "one (xAPI's 'voided' verb) only adds a statement: Ralph does not act on it and Aspects' tables count it "
    "like any other, so the old statement would stay in Aspects beside today's. Replace them where Aspects keeps them: "
    "--destination_provider CLICKHOUSE --replace_drifted (Ralph's ClickHouse table), or write statement files "
    "and load them with load_xapi_files."
)


@dataclass(frozen=True)
class Destination:
    """
    Where a run's statements go, parsed once from the command's options. Secrets given by
    reference stay references (each process reads them itself); a config given as ``@file``
    travels as its path, so the file's inline secrets never reach a queue.
    """

    provider: str  # upper case: CLICKHOUSE, LRS, or a libcloud provider (statement files)
    config: dict = field(repr=False)
    transformer_type: str = "xapi"
    dry_run: bool = False
    lrs_urls: list[str] | None = None
    config_file: str | None = None  # "@/path": what crosses a process instead of the config
    # Statements an older ERB made live are replaced by today's (sinks/drift.py), not set aside.
    replace_drifted: bool = False

    @classmethod
    def from_options(
        cls,
        provider: str | None,
        config_json: str | None,
        transformer_type: str = "xapi",
        dry_run: bool = False,
        lrs_urls: list[str] | None = None,
        replace_drifted: bool = False,
    ) -> Destination:
        """The options as typed; a bad JSON, a wrong transformer type: a BackfillConfigError."""
        provider = (provider or LRS).upper()
        if provider != LRS and transformer_type != "xapi":
            what = "stores xAPI statements" if provider == CLICKHOUSE else "files are in the shape of xapi_events_all"
            raise BackfillConfigError(f"The {provider} destination {what}: use --transformer_type xapi.")
        if provider == LRS and replace_drifted:
            raise BackfillConfigError(REPLACE_IN_AN_LRS)
        config = parse_json_object(config_json, OPTION)
        config_file = config_json if config_json and config_json.startswith("@") else None
        return cls(provider, config, transformer_type, dry_run, lrs_urls, config_file, replace_drifted)

    @property
    def is_clickhouse(self) -> bool:
        return self.provider == CLICKHOUSE

    @cached_property
    def xapi_table(self) -> XapiTable:
        """The ClickHouse table statements go to, as Aspects' settings and the config choose it."""
        if not self.is_clickhouse:
            raise BackfillConfigError(f"{self.provider} is not ClickHouse: use --destination_provider CLICKHOUSE.")
        return xapi_table_from_config(self.config)

    def inline_secrets(self) -> list[str]:
        """The config's keys that hold a secret written inline (none when it is read from a file)."""
        return [] if self.config_file else inline_secrets(self.config)

    def secret_values(self) -> list[str]:
        """What a message about this destination must never show."""
        try:
            return secret_values(resolved(self.config, OPTION))
        except BackfillConfigError:
            return []

    def open(self) -> OpenDestination:
        return open_destination(self)

    def to_json(self) -> dict:
        """For another process (a Celery message): references and the file's path, never values read."""
        carried = {"config": {} if self.config_file else self.config, "config_file": self.config_file}
        return {
            "provider": self.provider,
            "transformer_type": self.transformer_type,
            "dry_run": self.dry_run,
            "lrs_urls": self.lrs_urls,
            "replace_drifted": self.replace_drifted,
            **carried,
        }

    @classmethod
    def from_json(cls, data: dict) -> Destination:
        config = parse_json_object(data["config_file"], OPTION) if data.get("config_file") else data["config"]
        return cls(
            data["provider"],
            config,
            data["transformer_type"],
            data["dry_run"],
            data["lrs_urls"],
            data["config_file"],
            data.get("replace_drifted", False),  # a message queued by a release before it
        )


@dataclass(frozen=True)
class SinkForWorker:
    """How a --workers process opens its own sink on the run's destination (statement files: in the run's folder)."""

    destination: Destination
    run_folder: str | None = None

    def open(self, worker_name: str) -> StatementSink:
        sink = _open_sink(self.destination)
        if isinstance(sink, StatementFileSink) and self.run_folder is not None:
            sink.add_to_run(self.run_folder, worker_name)
        return sink

    @staticmethod
    def objects_written_by(sink: StatementSink) -> list[dict]:
        """What the run's manifest lists of a worker's statement files (nothing for other destinations)."""
        return list(sink.written_objects) if isinstance(sink, StatementFileSink) else []


@dataclass
class OpenDestination:
    """An opened destination and what it can do, as the factory knows it."""

    sink: StatementSink
    # Several processes may write at once (--workers write their own batches; --distributed).
    parallel_writers: bool
    # Celery workers on other hosts can reach it (not the embedded engine, bound to one process).
    reachable_from_other_hosts: bool
    # Can tell whose statements it holds, for the statement-id check (None: cannot list them).
    actor_sample: ActorSample | None = None
    # Takes rows that other processes made ready to insert (the embedded ClickHouse's hand-off).
    row_sink: RowSink | None = None
    for_workers: SinkForWorker | None = None  # set when parallel_writers
    # Statement files: the objects the run's manifest lists, where workers' objects are added.
    manifest: list[dict] = field(default_factory=list)
    # What to tell after a run replaced statements an older ERB made (None: nothing to tell).
    replacement_note: Callable[[int], str | None] = lambda replaced: None

    def describe(self) -> str:
        return self.sink.describe()

    def close(self) -> None:
        self.sink.close()


def _open_sink(destination: Destination) -> StatementSink:
    return open_destination(destination).sink


def open_destination(destination: Destination) -> OpenDestination:
    provider, config = destination.provider, destination.config
    if provider == CLICKHOUSE:
        xapi = destination.xapi_table
        if destination.dry_run:
            return _dry_run(DryRunSink(xapi.describe()), destination)
        clickhouse = ClickHouseSink(xapi, destination.replace_drifted)
        server = not xapi.target.embedded  # the embedded engine opens its folder in one process only
        return OpenDestination(
            clickhouse,
            parallel_writers=server,
            reachable_from_other_hosts=server,
            actor_sample=clickhouse.queries,
            row_sink=None if server else clickhouse,
            for_workers=SinkForWorker(destination) if server else None,
            replacement_note=clickhouse.replacement_note,
        )
    if destination.dry_run:
        return _dry_run(DryRunSink(), destination)
    if provider == LRS:
        endpoints = (
            [endpoint_from_config(config, destination.transformer_type)]
            if config.get("url")
            else endpoints_from_routes(destination.transformer_type, destination.lrs_urls)
        )
        lrs = LrsSink(endpoints)
        return OpenDestination(
            lrs, True, True, actor_sample=lrs, for_workers=SinkForWorker(destination)
        )  # fmt: skip
    files = StatementFileSink(StorageLocation.from_config(provider, dict(config), OPTION), destination.replace_drifted)
    return OpenDestination(
        files, True, True, for_workers=SinkForWorker(destination, files.folder), manifest=files.written_objects
    )


def _dry_run(sink: DryRunSink, destination: Destination) -> OpenDestination:
    return OpenDestination(sink, True, True, for_workers=SinkForWorker(destination))
