"""The standalone project's settings, with every working file in a fresh temporary folder."""

import os
import tempfile

os.environ["BACKFILL_VAR_DIR"] = tempfile.mkdtemp(prefix="backfill-tests-")
os.environ.pop("BACKFILL_CLICKHOUSE", None)
os.environ.pop("BACKFILL_DATABASE", None)
os.environ.pop("BACKFILL_STATE_DATABASE", None)
# Set, as a run that writes needs it (unset, it is taken from the destination or refused).
os.environ["BACKFILL_LMS_ROOT_URL"] = "http://localhost:18000"
# The tests' learners are made up: personal data on (off by default, as in Aspects).
os.environ["BACKFILL_ENABLE_PII"] = "true"

from backfill_project.settings import *  # noqa: E402,F403

# The platform's waffle flags, as the LMS has them (the personal-data switch reads one).
INSTALLED_APPS = [*INSTALLED_APPS, "waffle"]  # noqa: F405
BACKFILL_PROGRESS_LOG_INTERVAL_SECS = 0
# One process unless a test asks for more (workers see only committed rows of a file database).
BACKFILL_WORKERS = 1
DATABASES["default"]["TEST"] = {"NAME": os.path.join(os.environ["BACKFILL_VAR_DIR"], "test.sqlite3")}  # noqa: F405  # every progress step is logged
