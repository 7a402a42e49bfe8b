"""Real services for the tests, started as child processes on 127.0.0.1 and stopped after."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout_secs: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_secs
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{process.args[0]} did not listen on {port} within {timeout_secs}s")


@contextmanager
def running(args: list[str], port: int, log_path: Path, env: dict | None = None):
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        try:
            wait_for_port(port, process)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def moto_s3(work_dir: Path):
    """moto's S3 in server mode; yields the libcloud driver options to reach it."""
    port = free_port()
    with running([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], port, work_dir / "moto.log"):
        yield {
            "key": "testing",
            "secret": "testing-secret",
            "host": "127.0.0.1",
            "port": port,
            "secure": False,
            "region": "us-east-1",
        }


RALPH_USER = "backfill"
RALPH_PASSWORD = "backfill-test-password"
# The tests' credentials, also in the environment of this process and of the workers it starts:
# a config can name them by reference, as an operator's does (README: Credentials).
CREDENTIAL_VARIABLES = {
    "testing": "BACKFILL_TEST_S3_KEY",
    "testing-secret": "BACKFILL_TEST_S3_SECRET",
    RALPH_PASSWORD: "BACKFILL_TEST_LRS_PASSWORD",
}
for _value, _variable in CREDENTIAL_VARIABLES.items():
    os.environ.setdefault(_variable, _value)


def by_reference(config: dict) -> dict:
    """``config`` with the tests' credentials given as references to the variables holding them."""
    return {
        key: {"env": CREDENTIAL_VARIABLES[value]} if isinstance(value, str) and value in CREDENTIAL_VARIABLES else value
        for key, value in config.items()
    }


@contextmanager
def ralph_lrs(work_dir: Path, port: int | None = None):
    """Ralph's LRS (filesystem backend); yields its base URL and where it keeps statements."""
    import bcrypt

    port = port or free_port()
    auth_file = work_dir / "auth.json"
    auth_file.write_text(
        json.dumps(
            [
                {
                    "username": RALPH_USER,
                    "hash": bcrypt.hashpw(RALPH_PASSWORD.encode(), bcrypt.gensalt(4)).decode(),
                    "scopes": ["all"],
                    "agent": {"mbox": "mailto:backfill@example.com"},
                }
            ]
        )
    )
    statements_dir = work_dir / "lrs"
    statements_dir.mkdir(exist_ok=True)
    env = {
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(statements_dir),
        "RALPH_AUTH_FILE": str(auth_file),
        "RALPH_APP_DIR": str(work_dir),
    }
    args = [sys.executable, str(Path(__file__).parent / "ralph_lrs.py"), str(port)]
    statements_file = statements_dir / "fs_lrs.jsonl"
    with running(args, port, work_dir / "ralph.log", env=env) as process:
        yield SimpleNamespace(
            url=f"http://127.0.0.1:{port}",
            port=port,
            statements_file=statements_file,
            process=process,
            read_statements=lambda: (
                [json.loads(line) for line in statements_file.read_text().splitlines() if line.strip()]
                if statements_file.exists()
                else []
            ),
        )


def post_statements(lrs, statements: list[dict]) -> None:
    """Put statements into Ralph directly, as another producer would."""
    import requests

    response = requests.post(
        f"{lrs.url}/xAPI/statements",
        json=statements,
        auth=(RALPH_USER, RALPH_PASSWORD),
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=10,
    )
    response.raise_for_status()


@contextmanager
def redis_server(work_dir: Path):
    """Debian's redis-server, in memory only; yields its URL (database 0)."""
    import shutil

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run `make services-apt` (Debian package redis-server)")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with running(args, port, work_dir / "redis.log"):
        yield f"redis://127.0.0.1:{port}"


def celery_worker_env(redis_url: str, **more: str) -> dict:
    """A Celery worker's environment: the standalone project, the test's database, the suite's Redis."""
    from django.db import connection

    return {
        "DJANGO_SETTINGS_MODULE": "backfill_project.settings",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        "BACKFILL_STATE_DATABASE": f"sqlite:///{connection.settings_dict['NAME']}",
        "BACKFILL_CELERY_BROKER": f"{redis_url}/0",
        "BACKFILL_CELERY_RESULTS": f"{redis_url}/1",
        **more,
    }


@contextmanager
def celery_worker(
    app, name: str, queue: str, env: dict, log_path: Path, timeout_secs: float = 60.0, args: list[str] | None = None
):
    """
    A real Celery worker of the standalone project (prefork, one child) consuming ``queue``;
    ready once it answers a ping. Yields its process (the parent; its child runs the tasks).
    ``args``: another command line (``celery ...`` as a deployment renders it), named ``name``.
    """
    args = args or [
        "celery", "-A", "backfill_project", "worker", "-Q", queue, "-n", name,
        "--concurrency", "1", "--pool", "prefork", "--without-mingle", "--without-gossip", "--loglevel", "INFO",
    ]  # fmt: skip
    args = [sys.executable, "-m", *args]
    with open(log_path, "wb") as log:
        # Its own process group: a test can kill the whole worker, children included, as a lost machine.
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, start_new_session=True
        )
        try:
            deadline = time.monotonic() + timeout_secs
            while not app.control.ping(destination=[name], timeout=0.5):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Celery worker {name} did not start; see {log_path}")
            yield process
        finally:
            if process.poll() is None:
                process.terminate()  # warm shutdown: the task in hand finishes or goes back to the queue
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


@contextmanager
def mariadb_server(work_dir: Path):
    """
    Debian's MariaDB server in a fresh data folder on a free port (root over its socket, no
    password); yields (port, root_connect), root_connect() giving a MySQLdb connection as root.
    """
    import shutil

    import MySQLdb

    server, installer = shutil.which("mariadbd"), shutil.which("mariadb-install-db")
    if server is None or installer is None:
        raise RuntimeError("mariadb-server is not installed: run `make services-apt` (Debian package mariadb-server)")
    data, socket_path, port = work_dir / "data", work_dir / "mariadb.sock", free_port()
    # As root, MariaDB must be told to run as root; otherwise it runs as the current user.
    user = ["--user=root"] if os.geteuid() == 0 else []
    subprocess.run(
        [installer, "--no-defaults", f"--datadir={data}", "--auth-root-authentication-method=normal", "--skip-test-db",
         *user],
        check=True, capture_output=True,
    )  # fmt: skip
    args = [
        server, "--no-defaults", f"--datadir={data}", f"--socket={socket_path}", f"--port={port}",
        "--bind-address=127.0.0.1", f"--pid-file={work_dir / 'mariadb.pid'}", "--skip-name-resolve",
        "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci", *user,
    ]  # fmt: skip
    with running(args, port, work_dir / "mariadb.log") as process:
        yield SimpleNamespace(
            port=port,
            process=process,
            root_connect=lambda database=None: MySQLdb.connect(
                unix_socket=str(socket_path),
                user="root",
                charset="utf8mb4",
                **({"database": database} if database else {}),
            ),
        )
