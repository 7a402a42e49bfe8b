"""
System checks: say when another app's command of one of our names is the one Django runs,
for INSTALLED_APPS orders that no plugin hook could fix (a list written after the plugin
settings ran, an operator's patch, settings read from YAML).
"""

from __future__ import annotations

from django.core.checks import Warning, register
from django.core.management import get_commands

from backfill_app.settings.command_order import OUR_APP, OUR_COMMANDS

SHADOWED_COMMAND = "backfill_app.W001"


@register()
def our_commands_run(app_configs=None, **kwargs) -> list[Warning]:
    owners = get_commands()
    return [
        Warning(
            f"`manage.py {command}` runs {owners[command]}'s command, not the backfill's: {owners[command]} comes "
            f"before {OUR_APP} in INSTALLED_APPS.",
            hint=f"Put '{OUR_APP}' before '{owners[command]}' in INSTALLED_APPS (or leave INSTALLED_APPS to the "
            "platform's plugin discovery, which puts it first).",
            id=SHADOWED_COMMAND,
        )
        for command in OUR_COMMANDS
        if owners.get(command) not in (None, OUR_APP)
    ]
