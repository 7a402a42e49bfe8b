"""
The platform's plugin discovery, reproduced with its real parts: small installed
distributions (a ``*.dist-info`` with ``entry_points.txt``) put on ``sys.path`` in a chosen
order, read by edx-django-utils' own ``get_plugin_apps`` and ``add_plugins`` from a settings
module shaped like edx-platform's ``lms/envs/common.py`` and ``production.py``.

platform-plugin-aspects and openedx-event-sink-clickhouse need edx-platform to install:
they are stood in for by packages that hold what matters here, an AppConfig registered as a
plugin and a ``dump_data_to_clickhouse`` command. ERB and this app keep their real packages;
their stand-in distributions only decide where on ``sys.path`` they are found.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
import types
from pathlib import Path

from edx_django_utils.plugins import add_plugins, get_plugin_apps
from edx_django_utils.plugins.registry import DjangoAppRegistry
from stevedore.extension import ExtensionManager

PROJECTS = ("lms.djangoapp", "cms.djangoapp")


# name: (distribution, package, AppConfig class, commands of a stand-in package or None for the real one)
PLUGINS = {
    "ours": ("openedx-backfill", "backfill_app", "backfill_app.apps:BackfillAppConfig", None),
    "erb": (
        "edx-event-routing-backends",
        "event_routing_backends",
        "event_routing_backends.apps:EventRoutingBackendsConfig",
        None,
    ),
    "aspects": (
        "platform-plugin-aspects",
        "platform_plugin_aspects",
        "platform_plugin_aspects.apps:PlatformPluginAspectsConfig",
        ("dump_data_to_clickhouse",),
    ),
    "event_sink": (
        "openedx-event-sink-clickhouse",
        "event_sink_clickhouse",
        "event_sink_clickhouse.apps:EventSinkClickhouseConfig",
        ("dump_data_to_clickhouse",),
    ),
}

# The first apps of edx-platform's literal INSTALLED_APPS that exist outside the platform.
PLATFORM_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "config_models",
    "waffle",
]


def write_distribution(folder: Path, name: str) -> None:
    """One plugin's distribution in its own folder (a ``sys.path`` entry of its own)."""
    distribution, package, app_config, commands = PLUGINS[name]
    info = folder / f"{distribution.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    entry = f"{package} = {app_config}"
    info.joinpath("entry_points.txt").write_text(f"[lms.djangoapp]\n{entry}\n\n[cms.djangoapp]\n{entry}\n")
    if commands is None:
        return
    module, config_class = app_config.split(":")
    root = folder / package
    (root / "management" / "commands").mkdir(parents=True)
    for path in (root, root / "management", root / "management" / "commands"):
        path.joinpath("__init__.py").write_text("")
    root.joinpath("apps.py").write_text(
        textwrap.dedent(f"""\
            from django.apps import AppConfig


            class {config_class}(AppConfig):
                name = "{package}"
                plugin_app = {{"settings_config": {{}}}}
            """)
    )
    for command in commands:
        root.joinpath("management", "commands", f"{command}.py").write_text(
            "from django.core.management.base import BaseCommand\n\n\n"
            "class Command(BaseCommand):\n    def handle(self, *args, **options):\n        pass\n"
        )


def plugins_found_in_order(base: Path, order: tuple[str, ...]) -> list[str]:
    """``sys.path`` entries, one per plugin, in ``order``: their entry points are found in that order."""
    paths = []
    for name in order:
        folder = base / name
        if not folder.exists():
            write_distribution(folder, name)
        paths.append(str(folder))
    return paths


def platform_settings(project: str, stages=("common", "production")) -> types.ModuleType:
    """
    A settings module built as edx-platform builds its own: a literal INSTALLED_APPS, the
    plugin apps appended in discovery order, then each stage's plugin settings.
    """
    # A process discovers its plugins once: stevedore and edx-django-utils keep what they found.
    ExtensionManager.ENTRY_POINT_CACHE.clear()
    DjangoAppRegistry.get_available_plugins.cache_clear()
    importlib.invalidate_caches()
    module = types.ModuleType(f"platform_settings_{project.split('.')[0]}")
    sys.modules[module.__name__] = module
    try:
        module.LMS_ROOT_URL = "http://localhost:18000"  # read by ERB's plugin settings
        module.ENV_TOKENS = {}  # production.py's values from its YAML, read by plugins' production stage
        module.INSTALLED_APPS = list(PLATFORM_APPS)
        module.PLUGIN_APPS_FOUND = get_plugin_apps(project)  # in discovery order, before any plugin settings
        module.INSTALLED_APPS.extend(module.PLUGIN_APPS_FOUND)
        for stage in stages:
            add_plugins(module.__name__, project, stage)
    finally:
        del sys.modules[module.__name__]
    return module
