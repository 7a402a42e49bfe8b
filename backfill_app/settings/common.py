"""Plugin settings: applied to the LMS/CMS settings when the app is installed there."""

from backfill_app.settings.command_order import put_backfill_app_first


def plugin_settings(settings):
    """Give every backfill setting its default, keeping what the operator already set."""
    from backfill_app.core import conf

    for name, default in conf.DEFAULTS.items():
        if not hasattr(settings, name):
            setattr(settings, name, default)
    put_backfill_app_first(settings)
