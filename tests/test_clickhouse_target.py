"""Which ClickHouse a command talks to: its options, BACKFILL_CLICKHOUSE, or Aspects' settings."""

from __future__ import annotations

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


def test_a_dsn_must_be_the_embedded_engine():
    with pytest.raises(BackfillConfigError, match="'dsn' must be chdb:///path"):
        target_from_settings({"dsn": "http://x:8123"})
