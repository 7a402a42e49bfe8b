"""The app installs into the LMS/CMS by its entry points, and its command is the one that runs."""

from __future__ import annotations

from importlib.metadata import entry_points
from types import SimpleNamespace

from backfill_app.settings.common import plugin_settings


def test_entry_points_make_the_app_a_plugin_of_the_lms_and_the_cms():
    for group in ("lms.djangoapp", "cms.djangoapp"):
        (entry,) = [entry for entry in entry_points(group=group) if entry.name == "backfill_app"]
        assert entry.value == "backfill_app.apps:BackfillAppConfig"
        assert entry.load().plugin_app["settings_config"]


def test_plugin_settings_put_the_app_before_erb_and_keep_operator_settings():
    settings = SimpleNamespace(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "event_routing_backends",
            "other",
            "backfill_app.apps.BackfillAppConfig",
        ],
        BACKFILL_XAPI_TABLE="my_table",
    )
    plugin_settings(settings)
    assert settings.INSTALLED_APPS == [
        "django.contrib.auth",
        "backfill_app.apps.BackfillAppConfig",
        "event_routing_backends",
        "other",
    ]
    assert settings.BACKFILL_XAPI_TABLE == "my_table"
    # Left unset, so that Aspects' own EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG decides the database.
    assert settings.BACKFILL_XAPI_DATABASE is None
    # The standalone project's facts about itself are not settings of the platform.
    assert not hasattr(settings, "BACKFILL_LMS_ROOT_URL_GIVEN") and not hasattr(settings, "BACKFILL_ROOT_URL_SETTING")
