"""The standalone project in child processes: its own state database and embedded ClickHouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StandaloneProject:
    """The standalone project in child processes, with its own sqlite and embedded ClickHouse."""

    def __init__(self, var: Path, **env: str):
        self.var = var
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL_", "DJANGO_"))}
        self.env["BACKFILL_VAR_DIR"] = str(var)
        self.env.update(env)

    def manage(self, *args, clickhouse: str, check=True, **popen) -> subprocess.CompletedProcess:
        env = dict(self.env, BACKFILL_CLICKHOUSE=f"chdb://{self.var / clickhouse}")
        return subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=check,
            **popen,
        )

    def start(self, *args, clickhouse: str, output: bool = False) -> subprocess.Popen:
        """The command running; with ``output``, its stdout and stderr are readable (text) once it ends."""
        env = dict(self.env, BACKFILL_CLICKHOUSE=f"chdb://{self.var / clickhouse}")
        kept = subprocess.PIPE if output else subprocess.DEVNULL
        return subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), *args],
            env=env,
            cwd=ROOT,
            stdout=kept,
            stderr=kept,
            text=output,
        )

    def checkpoints(self) -> int:
        """Checkpoint rows committed in the project's state database (sqlite): evidence a run is under way."""
        import sqlite3

        database = self.var / "backfill.sqlite3"
        if not database.exists():
            return 0
        with sqlite3.connect(database, timeout=30) as connection:
            try:
                return connection.execute("SELECT count(*) FROM backfill_app_sourcecheckpoint").fetchone()[0]
            except sqlite3.OperationalError:  # not migrated yet
                return 0

    def rows(self, clickhouse: str) -> dict:
        script = (
            "import json; from backfill_app.clickhouse.connection import connect, target_from_settings; "
            "c = connect(target_from_settings()); "
            "r = c.query('SELECT toString(event_id), event FROM xapi.xapi_events_all ORDER BY event_id').result_rows; "
            "n = c.query('SELECT count(), uniqExact(event_id) FROM xapi.xapi_events_all').result_rows[0]; "
            "print(json.dumps({'rows': r, 'count': n[0], 'distinct': n[1]}))"
        )
        output = self.manage("shell", "-c", script, clickhouse=clickhouse).stdout
        return json.loads(output.strip().splitlines()[-1])


def kill_and_rerun(project: StandaloneProject, args: list[str], clickhouse: str, clean_secs: float) -> tuple[str, int]:
    """
    Start the command and SIGKILL it partway three times, each rerun having less left to do
    (so killed earlier), then run it to the end; returns its output and how many kills landed
    mid-run. Every partial table holds each statement once.
    """
    import time

    killed_mid_run = 0
    for share in (0.5, 0.4, 0.35):
        run = project.start(*args, clickhouse=clickhouse)
        time.sleep(share * clean_secs)
        run.kill()  # SIGKILL: no cleanup, no last checkpoint
        killed_mid_run += run.wait() == -9
        partial = project.rows(clickhouse)
        assert partial["count"] == partial["distinct"]
    return project.manage(*args, clickhouse=clickhouse).stdout, killed_mid_run
