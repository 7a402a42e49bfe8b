"""``--destination_provider`` / ``--destination_config`` -> a statement sink."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from backfill_app.clickhouse.connection import xapi_table_from_config
from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.options import parse_json_object
from backfill_app.sinks.base import DryRunSink, StatementSink
from backfill_app.sinks.clickhouse import ClickHouseSink
from backfill_app.sinks.files import StatementFileSink
from backfill_app.sinks.lrs import LrsSink
from backfill_app.sinks.lrs_routes import endpoint_from_config, endpoints_from_routes
from backfill_app.sources.storage import StorageLocation

CLICKHOUSE = "CLICKHOUSE"
LRS = "LRS"


@dataclass(frozen=True)
class Destination:
    """The destination options of a run: what a Celery task needs to open the same sink."""

    provider: str
    config_json: str | None
    transformer_type: str
    dry_run: bool = False
    lrs_urls: list[str] | None = None

    def open(self) -> StatementSink:
        return open_statement_sink(self.provider, self.config_json, self.transformer_type, self.dry_run, self.lrs_urls)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Destination:
        return cls(**data)


def open_statement_sink(
    provider: str, config_json: str | None, transformer_type: str, dry_run: bool, lrs_urls: list[str] | None = None
) -> StatementSink:
    provider = (provider or LRS).upper()
    config = parse_json_object(config_json, "--destination_config")
    if provider == CLICKHOUSE:
        xapi = xapi_table_from_config(config)
        if transformer_type != "xapi":
            raise BackfillConfigError("The CLICKHOUSE destination stores xAPI statements: use --transformer_type xapi.")
        if dry_run:
            return DryRunSink(xapi.describe())
        return ClickHouseSink(xapi)
    if dry_run:
        return DryRunSink()
    if provider == LRS:
        if config.get("url"):
            return LrsSink([endpoint_from_config(config, transformer_type)])
        return LrsSink(endpoints_from_routes(transformer_type, lrs_urls))
    if transformer_type != "xapi":
        raise BackfillConfigError("Statement files are in the shape of xapi_events_all: use --transformer_type xapi.")
    return StatementFileSink(StorageLocation.from_options(provider, config_json, "--destination_config"))
