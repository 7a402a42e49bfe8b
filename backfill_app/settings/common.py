"""Plugin settings: applied to the LMS/CMS settings when the app is installed there."""


def plugin_settings(settings):
    """Give every backfill setting its default, keeping what the operator already set."""
    from backfill_app.core import conf

    for name, default in conf.DEFAULTS.items():
        if not hasattr(settings, name):
            setattr(settings, name, default)
    put_backfill_app_before_erb(settings)


def put_backfill_app_before_erb(settings):
    """
    ERB ships a ``transform_tracking_logs`` command too, and Django runs the one of the app
    listed first: ours must come before ERB's, whatever order the plugins were found in.
    """
    apps = getattr(settings, "INSTALLED_APPS", None)
    if not apps:
        return

    def position(prefix):
        return next((i for i, app in enumerate(apps) if str(app).split(".")[0] == prefix), None)

    ours, erb = position("backfill_app"), position("event_routing_backends")
    if ours is not None and erb is not None and ours > erb:
        apps = list(apps)
        apps.insert(erb, apps.pop(ours))
        settings.INSTALLED_APPS = apps
