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

    plugin_app = {
        "settings_config": {
            "lms.djangoapp": {"common": {"relative_path": "settings.common"}},
            "cms.djangoapp": {"common": {"relative_path": "settings.common"}},
        },
    }
