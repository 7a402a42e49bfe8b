"""Which ClickHouse a command talks to: its options, BACKFILL_CLICKHOUSE, or Aspects' settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from backfill_app.clickhouse.connection import target_from_settings
from backfill_app.core.errors import BackfillConfigError

ASPECTS = {"url": "http://clickhouse:8123", "username": "ch_lrs", "password": "aspects-secret", "database": "xapi"}


@override_settings(BACKFILL_CLICKHOUSE=None, EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG=ASPECTS)
def test_inside_the_lms_aspects_url_and_credentials_are_used():
    target = target_from_settings()
    assert (target.url, target.username, target.password) == ("http://clickhouse:8123", "ch_lrs", "aspects-secret")
    assert target.describe() == "ClickHouse at http://clickhouse:8123"


@override_settings(BACKFILL_CLICKHOUSE=None, EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG=ASPECTS)
def test_options_win_over_settings_and_aspects_credentials_do_not_leak_to_another_server():
    target = target_from_settings({"url": "http://other:8123", "username": "me"})
    assert (target.url, target.username, target.password) == ("http://other:8123", "me", "")


@override_settings(
    BACKFILL_CLICKHOUSE="https://user:p%40ss@ch.example.com:8443", EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG=ASPECTS
)
def test_backfill_clickhouse_wins_and_its_password_never_shows():
    target = target_from_settings()
    assert (target.username, target.password) == ("user", "p@ss")
    assert "p@ss" not in target.describe() and "p%40ss" not in target.describe()


@override_settings(BACKFILL_CLICKHOUSE=None, EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG=None)
def test_nothing_configured_says_what_to_set():
    with pytest.raises(BackfillConfigError, match="No ClickHouse configured: set BACKFILL_CLICKHOUSE"):
        target_from_settings()


VECTOR = {**ASPECTS, "xapi_database": "openedx", "database": "event_sink"}


@pytest.mark.parametrize(
    ("aspects", "settings", "config", "table", "why"),
    [
        (VECTOR, {}, {}, "openedx.xapi_events_all", "from Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"),
        ({**VECTOR, "xapi_table": "raw"}, {}, {}, "openedx.raw", "from Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"),
        # Aspects' settings of a release without xapi_database: platform-plugin-aspects' own default.
        (ASPECTS, {}, {}, "xapi.xapi_events_all", "from Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"),
        (
            VECTOR, {"BACKFILL_XAPI_DATABASE": "lrs"}, {}, "lrs.xapi_events_all",
            "database from BACKFILL_XAPI_DATABASE, table from Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG",
        ),
        (
            VECTOR, {"BACKFILL_XAPI_DATABASE": "lrs"}, {"database": "x2", "table": "t2"}, "x2.t2",
            "from --destination_config",
        ),
        (None, {}, {}, "xapi.xapi_events_all", "the default, with no Aspects settings here"),
    ],
)  # fmt: skip
def test_the_xapi_table_follows_aspects_then_backfill_settings_then_the_command(aspects, settings, config, table, why):
    from backfill_app.clickhouse.connection import xapi_table_from_config

    with override_settings(
        BACKFILL_CLICKHOUSE="chdb:///unused",
        EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG=aspects,
        **{"BACKFILL_XAPI_DATABASE": None, "BACKFILL_XAPI_TABLE": None, **settings},
    ):
        xapi = xapi_table_from_config(config)
    assert xapi.name == table
    assert xapi.describe().startswith(f"{table} in the embedded ClickHouse at /unused ({why}")
    assert xapi.named_by_command == bool(config)


def test_a_dsn_must_be_the_embedded_engine():
    with pytest.raises(BackfillConfigError, match="'dsn' must be chdb:///path"):
        target_from_settings({"dsn": "http://x:8123"})


ARROW_CHECKS = """
import sys, threading
from backfill_app.clickhouse.connection import _import_chdb_without_arrow
if sys.argv[1] == "with a thread":
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
_import_chdb_without_arrow()
import chdb.state.sqlitelike as chdb_state
loaded_then = "pyarrow" in sys.modules
import pyarrow  # noqa: F401  (found as usual afterwards)
print(loaded_then, chdb_state.pa is None)
"""


@pytest.mark.parametrize(("case", "expected"), [("alone", "False True"), ("with a thread", "True False")])
def test_the_embedded_engine_loads_without_arrow_only_where_no_other_thread_could_want_it(case, expected):
    """pyarrow is hidden from chdb (optional to it) for a faster start-up; never under another thread."""
    checks = [sys.executable, "-c", ARROW_CHECKS, case]
    answers = subprocess.run(checks, capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
    assert answers.stdout.split() == expected.split()
