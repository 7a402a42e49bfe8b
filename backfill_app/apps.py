"""The Django app, and how it plugs into the LMS and CMS."""

from django.apps import AppConfig


class BackfillAppConfig(AppConfig):
    """
    Installed into the LMS/CMS by its entry points (``lms.djangoapp``, ``cms.djangoapp``):
    ``pip install openedx-backfill`` is all an operator does, no edit of platform settings.
    """

    name = "backfill_app"
    verbose_name = "Open edX backfill"
    default_auto_field = "django.db.models.BigAutoField"

    # Production settings and Tutor patches may change INSTALLED_APPS after ``common``: the
    # later stages put our commands first again.
    plugin_app = {
        "settings_config": {
            project: {
                "common": {"relative_path": "settings.common"},
                "production": {"relative_path": "settings.command_order"},
                "devstack": {"relative_path": "settings.command_order"},
                "test": {"relative_path": "settings.command_order"},
            }
            for project in ("lms.djangoapp", "cms.djangoapp")
        },
    }

    def ready(self):
        from backfill_app import checks  # noqa: F401  (registers the system checks)
