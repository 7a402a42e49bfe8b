"""
Our commands must be the ones that run. Django runs a command of the first app in
INSTALLED_APPS that ships one of that name, and the platform appends plugin apps in the order
their entry points are found (which follows ``sys.path`` and the file system's listing). ERB
ships ``transform_tracking_logs``; platform-plugin-aspects and event-sink-clickhouse ship
``dump_data_to_clickhouse``. So ``backfill_app`` is moved before the first app that ships a
command of one of our names, whichever app it is.

Runs while the platform's settings are being built: it imports nothing, it only looks for
``management/commands/<name>.py`` in the apps' package folders. Also the ``plugin_settings``
of the stages after ``common`` (production, devstack, test), which may change INSTALLED_APPS.
"""

from __future__ import annotations

import importlib.util
import os

OUR_COMMANDS = ("transform_tracking_logs", "dump_data_to_clickhouse")
OUR_APP = "backfill_app"


def _package_folders(entry: str) -> list[str]:
    """Folders of every package named by an INSTALLED_APPS entry's dotted prefixes, found without importing."""
    parts = str(entry).split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: found, not imported
    except (ImportError, ValueError):
        return []
    roots = list(spec.submodule_search_locations or []) if spec else []
    return [os.path.join(root, *parts[1:depth]) for root in roots for depth in range(1, len(parts) + 1)]


def ships_a_command_of(entry: str, commands: tuple[str, ...]) -> bool:
    """Does the app of an INSTALLED_APPS entry ship a management command of one of these names?"""
    return any(
        os.path.isfile(os.path.join(folder, "management", "commands", f"{command}.py"))
        for folder in _package_folders(entry)
        for command in commands
    )


def _is_ours(entry: str) -> bool:
    return str(entry) == OUR_APP or str(entry).startswith(f"{OUR_APP}.")


def put_backfill_app_first(settings) -> None:
    """Move our app just before the first other app that ships a command of one of our names."""
    apps = list(getattr(settings, "INSTALLED_APPS", None) or [])
    ours = next((index for index, entry in enumerate(apps) if _is_ours(entry)), None)
    if ours is None:
        return
    rival = next(
        (
            index
            for index, entry in enumerate(apps[:ours])
            if not _is_ours(entry) and ships_a_command_of(entry, OUR_COMMANDS)
        ),
        None,
    )
    if rival is not None:
        apps.insert(rival, apps.pop(ours))
        settings.INSTALLED_APPS = apps


def plugin_settings(settings) -> None:
    """The stages after ``common`` (production, devstack, test) only keep our commands first."""
    put_backfill_app_first(settings)
