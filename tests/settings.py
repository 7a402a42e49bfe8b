"""The standalone project's settings, with every working file in a fresh temporary folder."""

import os
import tempfile

os.environ["BACKFILL_VAR_DIR"] = tempfile.mkdtemp(prefix="backfill-tests-")
os.environ.pop("BACKFILL_CLICKHOUSE", None)
os.environ.pop("BACKFILL_DATABASE", None)

from backfill_project.settings import *  # noqa: E402,F403

BACKFILL_PROGRESS_LOG_INTERVAL_SECS = 0  # every progress step is logged
