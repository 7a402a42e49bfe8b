from django.apps import AppConfig


class StandalonePlatformConfig(AppConfig):
    name = "backfill_app.standalone"
    label = "backfill_standalone"
    verbose_name = "edx-platform tables, standalone"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from backfill_app.standalone.platform_lookups import provide_platform_lookups_to_erb

        provide_platform_lookups_to_erb()
