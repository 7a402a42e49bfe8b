"""
Two databases, standalone: the platform's, read (a read replica of the LMS's ``edxapp``,
``BACKFILL_DATABASE``), and this app's own state (checkpoints, ``BACKFILL_STATE_DATABASE``).
The platform's tables are never migrated from here, and never written but by
``create_external_ids``, which an operator points at the primary.
"""

PLATFORM_DATABASE = "platform"

# The apps whose tables are the platform's: users, their profiles, external ids, courses,
# enrollments and tags (backfill_standalone mirrors them). Not ERB's LRS routes: their
# credentials are encrypted with the LMS's secret key; standalone, give --destination_config.
PLATFORM_APPS = frozenset({"auth", "backfill_standalone"})


class PlatformDatabaseRouter:
    def _platform(self, model) -> bool:
        return model._meta.app_label in PLATFORM_APPS

    def db_for_read(self, model, **hints):
        return PLATFORM_DATABASE if self._platform(model) else None

    def db_for_write(self, model, **hints):
        return PLATFORM_DATABASE if self._platform(model) else None

    def allow_relation(self, first, second, **hints):
        # Django's own bookkeeping relates the two (migrate's permissions to content types);
        # nothing of ours relates a platform row to a state row.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # Nothing is ever created in the platform's database; the state database gets every table
        # (empty copies of the platform's, where Django expects them).
        return False if db == PLATFORM_DATABASE else None
