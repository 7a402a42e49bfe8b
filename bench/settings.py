"""The standalone settings, plus what ERB's own command needs to run outside the LMS (bench.speed)."""

from backfill_project.settings import *  # noqa: F403

# The benchmark's corpora are made for this root URL (every run writes into a fresh table).
LMS_ROOT_URL = "http://localhost:18000"
BACKFILL_LMS_ROOT_URL_GIVEN = True

INSTALLED_APPS = [*INSTALLED_APPS, "celery_utils"]  # noqa: F405 (ERB's Celery tasks persist failures there)

# ERB's router looks its routes up as "xapi" but routes only rows named "xAPI": on the LMS's
# MySQL the lookup ignores case; on sqlite it does not, so the router asks for "xAPI" here.
_xapi_router = EVENT_TRACKING_BACKENDS["event_transformer"]["OPTIONS"]["backends"]["xapi"]  # noqa: F405
_xapi_router["OPTIONS"]["backend_name"] = "xAPI"
