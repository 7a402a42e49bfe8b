"""
Where ClickHouse is and how to reach it: a server over HTTP(S), or the embedded engine
(chdb) in a local folder, through the same clickhouse-connect client API.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import clickhouse_connect

from backfill_app.core import conf
from backfill_app.core.errors import BackfillConfigError
from backfill_app.core.redaction import short_reason, url_without_credentials
from backfill_app.core.secrets import resolved

EMBEDDED_SCHEME = "chdb://"

# The embedded engine's allocator (jemalloc) keeps the pages it frees for reuse and gives them
# back only when told to: inserting 700,000 statements left 300-470 MB of freed pages in the
# process, while the engine itself tracked 5 MB. Returning them at once costs about 5 us per
# row inserted. Read once, when the engine's library loads; an operator's own setting wins.
EMBEDDED_ALLOCATOR_CONF = ("JE_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")

# chdb opens one data folder per process, and refuses a second client on another folder:
# clients are shared within the process.
_embedded_clients: dict = {}


@dataclass(frozen=True)
class ClickHouseTarget:
    """A ClickHouse to connect to; ``describe()`` is safe to print."""

    url: str = ""
    dsn: str = ""
    username: str = "default"
    password: str = field(default="", repr=False)
    timeout_secs: int = 30

    @property
    def embedded(self) -> bool:
        return bool(self.dsn)

    @property
    def embedded_path(self) -> str:
        return self.dsn[len(EMBEDDED_SCHEME) :]

    def describe(self) -> str:
        if self.embedded:
            return f"the embedded ClickHouse at {self.embedded_path}"
        return f"ClickHouse at {url_without_credentials(self.url)}"


def target_from_url(url: str, username: str = "", password: str = "", timeout_secs: int = 30) -> ClickHouseTarget:
    """``chdb:///path`` or ``http(s)://[user:password@]host:port``; explicit credentials win."""
    if url.startswith(EMBEDDED_SCHEME):
        return ClickHouseTarget(dsn=url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BackfillConfigError(
            f"ClickHouse location {url_without_credentials(url)!r} is neither chdb:///path nor http(s)://host:port."
        )
    return ClickHouseTarget(
        url=url,
        username=username or unquote(parts.username or "") or "default",
        password=password or unquote(parts.password or ""),
        timeout_secs=int(timeout_secs),
    )


def target_from_settings(overrides: dict | None = None) -> ClickHouseTarget:
    """
    The ClickHouse to use: ``overrides`` (a command's ``dsn`` or ``url``/``username``/
    ``password``), else BACKFILL_CLICKHOUSE, else Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.
    """
    overrides = overrides or {}
    if overrides.get("dsn"):
        if not str(overrides["dsn"]).startswith(EMBEDDED_SCHEME):
            raise BackfillConfigError("'dsn' must be chdb:///path; use 'url' for a ClickHouse server.")
        return ClickHouseTarget(dsn=overrides["dsn"])
    aspects = conf.aspects_clickhouse_config()
    url = overrides.get("url") or conf.get("BACKFILL_CLICKHOUSE") or aspects.get("url")
    if not url:
        raise BackfillConfigError(
            "No ClickHouse configured: set BACKFILL_CLICKHOUSE, Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG, "
            "or give a 'url' (or 'dsn') in --destination_config."
        )
    from_aspects = url == aspects.get("url") and not overrides.get("url")
    return target_from_url(
        url,
        username=overrides.get("username") or (aspects.get("username", "") if from_aspects else ""),
        password=overrides.get("password") or (aspects.get("password", "") if from_aspects else ""),
        timeout_secs=overrides.get("timeout_secs") or aspects.get("timeout_secs") or 30,
    )


CLICKHOUSE_CONFIG_KEYS = {"url", "username", "password", "dsn", "database", "table", "timeout_secs"}

ASPECTS_SETTING = "Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"
# platform-plugin-aspects' own defaults for the keys it reads (xapi_database, xapi_table).
ASPECTS_DEFAULT_DATABASE, ASPECTS_DEFAULT_TABLE = "xapi", "xapi_events_all"


@dataclass(frozen=True)
class XapiTable:
    """Where xAPI rows live: a ClickHouse, a database and a table, and where that choice came from."""

    target: ClickHouseTarget
    database: str
    table: str
    chosen_from: str = "the default"
    # Named in --destination_config: never created, even in the embedded engine (a typo stays a typo).
    named_by_command: bool = False

    @property
    def name(self) -> str:
        return f"{self.database}.{self.table}"

    def describe(self) -> str:
        """Safe to print: ``openedx.xapi_events_all in ClickHouse at http://host:8123 (from ...)``."""
        return f"{self.name} in {self.target.describe()} ({self.chosen_from})"


def _chosen(config: dict, key: str, setting: str, aspects: dict, aspects_key: str, default: str) -> tuple[str, str]:
    """One part of the table's name and where it came from, the most specific first."""
    if config.get(key):
        return str(config[key]), "--destination_config"
    if conf.get(setting):
        return str(conf.get(setting)), setting
    if aspects:
        return str(aspects.get(aspects_key) or default), ASPECTS_SETTING
    return default, "the default"


def xapi_table_from_config(config: dict) -> XapiTable:
    """
    A command's --destination_config for ClickHouse, the settings filling in what it leaves out.
    The database and table follow the platform's own rule, as platform-plugin-aspects reads it:
    EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG's ``xapi_database`` and ``xapi_table`` (Aspects 6.x
    renders ``openedx`` when Vector feeds ClickHouse, ``xapi`` for Ralph), then
    BACKFILL_XAPI_DATABASE / BACKFILL_XAPI_TABLE, then ``database`` / ``table`` here.
    """
    unknown = set(config) - CLICKHOUSE_CONFIG_KEYS
    if unknown:
        raise BackfillConfigError(
            f"--destination_config has unknown keys for CLICKHOUSE: {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(CLICKHOUSE_CONFIG_KEYS))})."
        )
    aspects = conf.aspects_clickhouse_config()
    database, database_from = _chosen(
        config, "database", "BACKFILL_XAPI_DATABASE", aspects, "xapi_database", ASPECTS_DEFAULT_DATABASE
    )
    table, table_from = _chosen(config, "table", "BACKFILL_XAPI_TABLE", aspects, "xapi_table", ASPECTS_DEFAULT_TABLE)
    if database_from == table_from == "the default":
        chosen_from = (
            "the default, with no Aspects settings here; Aspects 6.x fed by Vector reads openedx.xapi_events_all: "
            "BACKFILL_XAPI_DATABASE=openedx"
        )
    elif database_from == table_from:
        chosen_from = f"from {database_from}"
    else:
        chosen_from = f"database from {database_from}, table from {table_from}"
    target = target_from_settings(resolved(config, "--destination_config"))
    named_by_command = "--destination_config" in (database_from, table_from)
    return XapiTable(target, database, table, chosen_from, named_by_command)


def connect(target: ClickHouseTarget, purpose: str = ""):
    """A clickhouse-connect client, or a one-line BackfillConfigError saying what is wrong (and
    ``purpose``, e.g. " for openedx.xapi_events_all (from ...)", after the place)."""
    if target.embedded:
        return _connect_embedded(target, purpose)
    parts = urlsplit(target.url)
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            secure=parts.scheme == "https",
            username=target.username,
            password=target.password,
            connect_timeout=target.timeout_secs,
            send_receive_timeout=max(target.timeout_secs, 300),
        )
    except Exception as exc:
        reason = short_reason(exc, [target.password])
        raise BackfillConfigError(f"Cannot reach {target.describe()}{purpose}: {reason}") from None


def _import_chdb_without_arrow() -> None:
    """
    chdb, without the Arrow library it takes only for its Arrow APIs ("pyarrow is optional",
    chdb/state/sqlitelike.py), which clickhouse-connect's client and this app never call:
    pyarrow, and numpy under it, were a tenth of a second of every run's start-up. Modules
    imported later find pyarrow as usual. Where it is imported already, or where another thread
    runs (one that imported pyarrow meanwhile would be refused it), chdb is imported as it is.
    """
    hidden = "pyarrow" not in sys.modules and threading.active_count() == 1
    if hidden:
        sys.modules["pyarrow"] = None  # type: ignore[assignment]  # "import pyarrow" raises ImportError
    try:
        import chdb.state  # noqa: F401
    finally:
        if hidden:
            del sys.modules["pyarrow"]


def _connect_embedded(target: ClickHouseTarget, purpose: str):
    path = target.embedded_path
    if path in _embedded_clients:
        return _embedded_clients[path]
    if _embedded_clients:
        raise BackfillConfigError(
            f"This process already opened the embedded ClickHouse at {next(iter(_embedded_clients))}; "
            f"it cannot open a second one at {path}."
        )
    os.environ.setdefault(*EMBEDDED_ALLOCATOR_CONF)
    try:
        _import_chdb_without_arrow()  # the embedded engine is an optional dependency
    except ImportError:
        raise BackfillConfigError("The embedded ClickHouse needs the 'chdb' package: pip install chdb.") from None
    try:
        client = clickhouse_connect.get_client(dsn=target.dsn)
    except Exception as exc:
        if "EmbeddedServer" in str(exc):
            raise BackfillConfigError(
                f"{target.describe()}{purpose} is in use by another process (it opens in one process at a time): "
                "wait for that process to end, or use a ClickHouse server."
            ) from None
        raise BackfillConfigError(f"Cannot open {target.describe()}{purpose}: {short_reason(exc, [])}") from None
    _embedded_clients[path] = client
    return client
