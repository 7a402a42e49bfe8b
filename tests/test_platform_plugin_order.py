"""Inside the platform, our two commands are the ones that run, whatever order the plugins are found in."""

from __future__ import annotations

import itertools
import sys

import pytest
from django.core.checks import run_checks
from django.core.management import get_commands
from django.test import override_settings

from backfill_app.checks import SHADOWED_COMMAND
from tests.platform_plugins import PROJECTS, platform_settings, plugins_found_in_order

RIVALS = ("backfill_app", "event_routing_backends", "platform_plugin_aspects", "event_sink_clickhouse")
APP_OF = dict(zip(("ours", "erb", "aspects", "event_sink"), RIVALS, strict=True))
ORDERS = list(itertools.permutations(("ours", "erb", "aspects", "event_sink")))


@pytest.fixture(scope="module")
def plugin_folders(tmp_path_factory):
    return tmp_path_factory.mktemp("plugins")


@pytest.mark.parametrize("project", PROJECTS)
def test_both_commands_are_ours_in_every_order_the_plugins_are_found(project, plugin_folders, monkeypatch):
    found_orders = set()
    for order in ORDERS:
        monkeypatch.setattr(sys, "path", [*plugins_found_in_order(plugin_folders, order), *sys.path])
        settings = platform_settings(project)
        found = tuple(app.split(".")[0] for app in settings.PLUGIN_APPS_FOUND if app.split(".")[0] in RIVALS)
        assert found == tuple(APP_OF[name] for name in order), "the platform did not find the plugins in this order"
        found_orders.add(found)
        # The platform appended the plugins as found (edx-toggles, installed here, is one too);
        # our plugin settings moved ours before the others that ship a command of our names.
        discovered = [app.split(".")[0] for app in settings.INSTALLED_APPS if app.split(".")[0] in RIVALS]
        assert sorted(discovered) == sorted(RIVALS) and discovered[0] == "backfill_app"
        with override_settings(INSTALLED_APPS=settings.INSTALLED_APPS):
            commands = get_commands()
            assert commands["transform_tracking_logs"] == "backfill_app", order
            assert commands["dump_data_to_clickhouse"] == "backfill_app", order
            assert not [message for message in run_checks() if message.id == SHADOWED_COMMAND]
        monkeypatch.undo()
    assert len(found_orders) == 24  # as edx-django-utils found them, not as this test listed them


def test_an_installed_apps_written_afterwards_is_caught_by_the_system_check(plugin_folders, monkeypatch):
    monkeypatch.setattr(sys, "path", [*plugins_found_in_order(plugin_folders, ("aspects", "ours")), *sys.path])
    settings = platform_settings("lms.djangoapp")
    # An operator's patch, after every plugin hook: Aspects' app put back at the front.
    patched = ["platform_plugin_aspects.apps.PlatformPluginAspectsConfig"] + [
        app for app in settings.INSTALLED_APPS if not app.startswith("platform_plugin_aspects")
    ]
    with override_settings(INSTALLED_APPS=patched):
        assert get_commands()["dump_data_to_clickhouse"] == "platform_plugin_aspects"
        (warning,) = [message for message in run_checks() if message.id == SHADOWED_COMMAND]
    assert "dump_data_to_clickhouse" in warning.msg and "platform_plugin_aspects" in warning.msg
    assert "Put 'backfill_app' before 'platform_plugin_aspects'" in warning.hint


def test_a_production_stage_that_reorders_the_apps_is_put_right_again(plugin_folders, monkeypatch):
    monkeypatch.setattr(sys, "path", [*plugins_found_in_order(plugin_folders, ("ours", "erb")), *sys.path])
    settings = platform_settings("cms.djangoapp", stages=("common",))
    # production.py (or a Tutor patch) rebuilds the list with ERB first, then runs its stage's hooks.
    settings.INSTALLED_APPS = sorted(settings.INSTALLED_APPS, key=lambda app: not app.startswith("event_routing"))
    from edx_django_utils.plugins import add_plugins

    sys.modules["cms_production"] = settings
    try:
        add_plugins("cms_production", "cms.djangoapp", "production")
    finally:
        del sys.modules["cms_production"]
    apps = [app.split(".")[0] for app in settings.INSTALLED_APPS]
    assert apps.index("backfill_app") < apps.index("event_routing_backends")
