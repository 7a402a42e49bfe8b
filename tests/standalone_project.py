"""The standalone project in child processes: its own state database and embedded ClickHouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class StandaloneProject:
    """The standalone project in child processes, with its own sqlite and embedded ClickHouse."""

    def __init__(self, var: Path, **env: str | None):
        """``env`` adds to the environment; a None value leaves that variable unset."""
        self.var = var
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL_", "DJANGO_"))}
        self.env["BACKFILL_VAR_DIR"] = str(var)
        self.env["BACKFILL_LMS_ROOT_URL"] = "http://localhost:18000"
        self.env["BACKFILL_ENABLE_PII"] = "true"  # made-up learners
        self.env.update({name: value for name, value in env.items() if value is not None})
        for name in [name for name, value in env.items() if value is None]:
            self.env.pop(name, None)

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

    def checkpoints(self) -> tuple[int, bool]:
        """
        From the project's state database (sqlite): the lines committed in all files, and whether
        a file is partly done. Evidence that a run is past its start and writing.
        """
        import sqlite3

        database = self.var / "backfill.sqlite3"
        if not database.exists():
            return 0, False
        with sqlite3.connect(database, timeout=30) as connection:
            try:
                lines, partly = connection.execute(
                    "SELECT coalesce(sum(committed_line), 0), "
                    "coalesce(sum(NOT completed AND committed_line > 0), 0) FROM backfill_app_sourcecheckpoint"
                ).fetchone()
            except sqlite3.OperationalError:  # not migrated yet
                return 0, False
        return lines, partly > 0

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


def kill_and_rerun(
    project: StandaloneProject,
    args: list[str],
    clickhouse: str,
    kills: int = 3,
    held: Callable[[], tuple[int, int]] | None = None,
) -> str:
    """
    Start the command and SIGKILL it ``kills`` times, each once it has committed lines beyond
    the last kill's (past its start, writing) and leaves a file partly done; then run it to the
    end and return that run's output, which must have resumed a file. After each kill the
    destination holds each statement once, and none fewer than before: ``held()`` gives
    (statements, distinct ids), by default those of the embedded ClickHouse ``clickhouse``. (Not
    always more: a run killed once it had written again only what the last kill left written
    but uncommitted holds the same; its committed lines still grew.)
    """
    import time

    if held is None:

        def held() -> tuple[int, int]:
            rows = project.rows(clickhouse)
            return rows["count"], rows["distinct"]

    landed, stored = 0, 0
    for _ in range(3 * kills):
        committed_before = project.checkpoints()[0]
        run = project.start(*args, clickhouse=clickhouse)
        while (state := project.checkpoints())[0] <= committed_before or not state[1]:
            assert run.poll() is None, "the run ended before a kill could land mid-run: give it more to do"
            time.sleep(0.01)
        run.kill()  # SIGKILL: no cleanup, no last checkpoint
        assert run.wait() == -9
        count, distinct = held()
        assert count == distinct, "a statement stored twice"
        assert distinct >= stored, f"{stored - distinct} statements lost"
        stored = distinct
        landed += project.checkpoints()[1]  # a kill a hair after a file ended leaves none partly done: again
        if landed == kills:
            return project.manage(*args, clickhouse=clickhouse).stdout
    raise AssertionError(f"only {landed} of {kills} kills left a file partly done")
