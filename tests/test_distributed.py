"""
--distributed: one Celery task per shard, run by two real Celery workers (prefork, separate
processes) through a real Redis, writing to S3 files (moto) or to the LRS (Ralph).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from celery import Task
from django.core.management import CommandError, call_command
from django.test import override_settings
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from tests import services
from tests.commands import as_sent, dead_letters, load_files, local_source, run_command, summary_value
from tests.corpus_fixtures import build_corpus
from tests.services import RALPH_PASSWORD, RALPH_USER, by_reference
from tests.tables import assert_holds_exactly, assert_table_holds_exactly

# The workers are other processes: they see only committed rows (hence a transactional test).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def workers(celery_app, redis_url, tmp_path, request):
    """
    Two Celery workers on a queue of this test's own, using this test's database; a
    ``worker_env`` mark changes their environment ({tmp_path} in a value is this test's folder).
    """

    queue = "backfill-" + request.node.name[-30:]
    marker = request.node.get_closest_marker("worker_env")
    env = services.celery_worker_env(
        redis_url,
        **{name: value.format(tmp_path=tmp_path) for name, value in (marker.kwargs if marker else {}).items()},
    )
    with (
        services.celery_worker(
            celery_app, "one@test", queue, {**env, "BACKFILL_VAR_DIR": str(tmp_path / "one")}, tmp_path / "one.log"
        ) as one,
        services.celery_worker(
            celery_app, "two@test", queue, {**env, "BACKFILL_VAR_DIR": str(tmp_path / "two")}, tmp_path / "two.log"
        ) as two,
    ):
        yield SimpleNamespace(
            queue=queue,
            processes={"one@test": one, "two@test": two},
            logs=[tmp_path / "one.log", tmp_path / "two.log"],
            app=celery_app,
        )


def tasks_done_by(log_path: Path) -> int:
    return log_path.read_text(errors="replace").count("backfill_app.transform_shard[") // 2  # received, succeeded


def test_two_workers_write_s3_files_holding_exactly_erbs_statements_and_every_fault(
    workers, s3_server, tmp_path, xapi_table
):
    corpus = build_corpus(tmp_path, days=3, events_per_day=120)
    driver = get_driver(Provider.S3)(**s3_server)
    driver.create_container("distributed-statements")
    destination = by_reference(dict(s3_server, container="distributed-statements", prefix="xapi"))
    dead = tmp_path / "dead.jsonl"
    command = (
        "--distributed",
        f"--queue={workers.queue}",
        "--batch_size=40",
        f"--dead_letter_path={dead}",
    )
    with override_settings(BACKFILL_RANGE_BYTES=20_000):  # the plain file is read in ranges too
        output = run_command(
            *command,
            source=local_source(corpus.folder),
            destination=("--destination_provider=S3", f"--destination_config={json.dumps(destination)}"),
        )
    shards = int(output.split("Queueing ")[1].split(" tasks")[0])
    assert shards > 3
    assert "consumed by 2 workers" in output
    assert summary_value(output, "Files").startswith("3 of 3 read")
    assert int(summary_value(output, "Statements written")) == len(corpus.erb_statements())
    assert {entry["line"]: entry["reason"] for entry in dead_letters(str(dead))} == corpus.faults
    assert all(tasks_done_by(log) >= 1 for log in workers.logs), "both workers took shards"
    worker_logs = "".join(log.read_text(errors="replace") for log in workers.logs)
    assert not [line for line in corpus.faults if line.strip() and line.strip() in worker_logs], "no raw line logged"
    assert "learner" not in worker_logs  # usernames

    load_files("S3", destination)
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())

    with override_settings(BACKFILL_RANGE_BYTES=20_000):
        again = run_command(
            *command,
            source=local_source(corpus.folder),
            destination=("--destination_provider=S3", f"--destination_config={json.dumps(destination)}"),
        )
    assert "3 already done by an earlier run" in summary_value(again, "Files")
    assert summary_value(again, "Statements written") == "0"


def kill_mid_shard(app, kill, deadline_secs: float = 60.0) -> dict:
    """``kill(task)`` the worker running a shard once that shard has written part of its statements; the task."""
    from backfill_app.models import SourceCheckpoint

    deadline = time.monotonic() + deadline_secs
    while time.monotonic() < deadline:
        partial = SourceCheckpoint.objects.filter(completed=False, committed_line__gt=0).first()
        if partial is not None:
            for tasks in (app.control.inspect(timeout=0.5).active(safe=True) or {}).values():
                for task in tasks:
                    if partial.object_name in task["args"]:
                        kill(task)
                        return task
        time.sleep(0.05)
    raise AssertionError("no shard was caught half done")


def run_to_ralph_killing_mid_shard(workers, ralph, tmp_path, kill) -> dict:
    """The run, a worker killed mid-shard on the way; the task that was running the killed shard."""
    corpus = build_corpus(tmp_path, days=3, events_per_day=80, with_faults=False)
    destination = ralph_config_of(ralph)
    killed: list[dict] = []
    killer = threading.Thread(target=lambda: killed.append(kill_mid_shard(workers.app, kill)))
    killer.start()
    output = run_command(
        "--distributed",
        f"--queue={workers.queue}",
        "--batch_size=10",
        "--sleep_between_batches_secs=0.3",
        source=local_source(corpus.folder),
        destination=("--destination_provider=LRS", f"--destination_config={json.dumps(destination)}"),
    )
    killer.join()
    assert killed, "a worker was killed"
    statements = ralph.read_statements()
    ids = [statement["id"] for statement in statements]
    assert len(ids) == len(set(ids)), "no statement twice"
    assert_holds_exactly([as_sent(statement) for statement in statements], corpus.erb_statements())
    assert "1 resumed where an earlier run stopped" in summary_value(output, "Files")
    assert "STOPPED" not in output
    return killed[0]


def deliveries(workers, task_id: str) -> dict[str, int]:
    """How many times each worker received the task, and finished it (from the workers' own logs)."""
    received, succeeded = {}, {}
    for name, log in zip(workers.processes, workers.logs, strict=True):
        text = log.read_text(errors="replace")
        received[name] = text.count(f"backfill_app.transform_shard[{task_id}] received")
        succeeded[name] = text.count(f"backfill_app.transform_shard[{task_id}] succeeded")
    return {"received": received, "succeeded": succeeded}


def test_a_killed_worker_process_runs_its_shard_again_and_the_lrs_gets_each_statement_once(workers, ralph, tmp_path):
    task = run_to_ralph_killing_mid_shard(
        workers, ralph, tmp_path, lambda task: os.kill(task["worker_pid"], signal.SIGKILL)
    )
    worker_logs = "".join(log.read_text(errors="replace") for log in workers.logs)
    lost = "WorkerLostError('Worker exited prematurely: signal 9 (SIGKILL)"
    assert lost in worker_logs
    # The shard is delivered again (Celery 5.7: a bounded retry; 5.6: requeued) and then finished.
    seen = deliveries(workers, task["id"])
    assert sum(seen["received"].values()) >= 2 and sum(seen["succeeded"].values()) == 1
    if hasattr(Task, "retry_on_worker_lost"):
        assert f"retry: Retry in 1s: {lost}" in worker_logs


@pytest.mark.worker_env(BACKFILL_CELERY_VISIBILITY_TIMEOUT="8")
def test_a_whole_worker_lost_mid_shard_has_its_shard_taken_by_the_other_after_the_visibility_timeout(
    workers, ralph, tmp_path
):
    def kill_the_whole_worker(task):
        os.killpg(workers.processes[task["hostname"]].pid, signal.SIGKILL)

    task = run_to_ralph_killing_mid_shard(workers, ralph, tmp_path, kill_the_whole_worker)
    # The other worker's own log: it received the lost worker's shard and finished it.
    other = next(name for name in workers.processes if name != task["hostname"])
    seen = deliveries(workers, task["id"])
    assert seen["received"][other] == 1 and seen["succeeded"] == {task["hostname"]: 0, other: 1}


@pytest.mark.worker_env(BACKFILL_STATE_DATABASE="sqlite:///{tmp_path}/another-database.sqlite3")
def test_workers_on_a_database_without_the_backfill_tables_fail_their_tasks_and_the_command_says_so(
    workers, ralph, tmp_path
):
    corpus = build_corpus(tmp_path, days=2, events_per_day=20, with_faults=False)
    destination = ralph_config_of(ralph)
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command(
            "transform_tracking_logs",
            "--source_provider=LOCAL",
            f"--source_config={json.dumps(local_source(corpus.folder))}",
            "--destination_provider=LRS",
            f"--destination_config={json.dumps(destination)}",
            "--transformer_type=xapi",
            "--distributed",
            f"--queue={workers.queue}",
            stdout=out,
        )
    assert "the task reading tracking.log" in str(error.value)
    assert "The backfill_app tables are missing from this database" in str(error.value)
    assert "run the same command again" in str(error.value)
    assert summary_value(out.getvalue(), "Files not fully read (task_failed)") == "2"
    assert RALPH_PASSWORD not in str(error.value) + out.getvalue()
    assert ralph.read_statements() == []


def test_distributed_refuses_the_embedded_clickhouse(tmp_path):
    corpus = build_corpus(tmp_path, days=1, events_per_day=5, with_faults=False)
    with pytest.raises(
        CommandError, match="--distributed cannot write to xapi.xapi_events_all in the embedded ClickHouse"
    ):
        run_command("--distributed", source=local_source(corpus.folder))


def test_a_queue_no_worker_consumes_is_named_with_how_to_start_one(celery_app, tmp_path):
    corpus = build_corpus(tmp_path, days=1, events_per_day=5, with_faults=False)
    with pytest.raises(CommandError, match="No Celery worker consumes the queue 'nobody-listens'") as error:
        run_command(
            "--distributed",
            "--queue=nobody-listens",
            "--dry_run",
            source=local_source(corpus.folder),
        )
    assert "celery -A lms.celery worker -Q nobody-listens" in str(error.value)


def test_a_broker_that_is_down_gives_one_clear_line_and_no_secret(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "tracking.log").write_text("{}\n")
    closed_port = services.free_port()
    result = subprocess.run(
        [
            sys.executable, "manage.py", "transform_tracking_logs", "--source_provider=LOCAL",
            f"--source_config={json.dumps(local_source(logs))}", "--destination_provider=LRS",
            '--destination_config={"url": "http://127.0.0.1:9/xapi/statements"}',
            "--transformer_type=xapi", "--distributed",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "BACKFILL_VAR_DIR": str(tmp_path / "var"),
            "BACKFILL_CELERY_BROKER": f"redis://:broker-secret@127.0.0.1:{closed_port}/0",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"Cannot reach the Celery broker at redis://127.0.0.1:{closed_port}/0" in result.stderr
    assert "Traceback" not in result.stderr
    assert "broker-secret" not in result.stderr + result.stdout


def test_a_worker_of_a_threaded_pool_refuses_its_shard_in_one_sentence(celery_app, redis_url, tmp_path):
    """Beside a live event in another thread of the process, ERB's replaced functions would be seen."""
    queue = "backfill-threaded-pool"
    env = services.celery_worker_env(redis_url, BACKFILL_VAR_DIR=str(tmp_path / "worker"))
    args = [
        "celery", "-A", "backfill_project", "worker", "-Q", queue, "-n", "threads@test", "--pool", "threads",
        "--concurrency", "2", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    corpus = build_corpus(tmp_path, days=1, events_per_day=10, with_faults=False)
    with services.celery_worker(celery_app, "threads@test", queue, env, tmp_path / "threads.log", args=args):
        with pytest.raises(CommandError) as error:
            run_command("--distributed", f"--queue={queue}", "--dry_run", source=local_source(corpus.folder))
    assert "this worker runs tasks in a threaded pool" in str(error.value)
    assert "start the backfill's Celery workers with --pool=prefork (or solo)" in str(error.value)


def test_a_backfill_refuses_to_run_where_another_thread_could_run_erb_meanwhile():
    from backfill_app.core.own_process import SharedProcess, shared_with
    from backfill_app.transform.accelerations import erb_accelerated

    assert shared_with() is None  # the test's main thread: a process of its own
    seen = []
    thread = threading.Thread(target=lambda: seen.append(shared_with()))
    thread.start()
    thread.join()
    assert seen == ["a threaded pool"]
    failures = []

    def accelerated_in_a_thread():
        try:
            with erb_accelerated():
                failures.append("accelerated")
        except SharedProcess as exc:
            failures.append(str(exc))

    thread = threading.Thread(target=accelerated_in_a_thread)
    thread.start()
    thread.join()
    assert len(failures) == 1 and "--pool=prefork" in failures[0]


@pytest.mark.worker_env(BACKFILL_LMS_ROOT_URL="https://other.example.com")
def test_a_worker_whose_lms_root_url_differs_from_the_commands_refuses_its_shard(workers, ralph, tmp_path):
    corpus = build_corpus(tmp_path, days=1, events_per_day=20, with_faults=False)
    destination = ralph_config_of(ralph)
    with pytest.raises(CommandError) as error:
        run_command(
            "--distributed",
            f"--queue={workers.queue}",
            source=local_source(corpus.folder),
            destination=("--destination_provider=LRS", f"--destination_config={json.dumps(destination)}"),
        )
    assert (
        "this worker's BACKFILL_LMS_ROOT_URL is https://other.example.com and the command's http://localhost:18000"
        in str(error.value)
    )
    assert ralph.read_statements() == []


PLANTED_KEY, PLANTED_SECRET = "AKIAPLANTEDINQUEUE01", "planted-secret-never-in-the-broker"


class BrokerWatcher:
    """Reads every key of the broker's Redis (queues, unacknowledged messages, results) while a run goes on."""

    def __init__(self, redis_url: str):
        import redis

        self.clients = [redis.Redis.from_url(f"{redis_url}/{db}") for db in (0, 1)]
        self.seen: list[bytes] = []
        self._running = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while self._running:
            for client in self.clients:
                for key in client.keys("*"):
                    kind = client.type(key)
                    values = {
                        b"list": lambda k, c=client: c.lrange(k, 0, -1),
                        b"string": lambda k, c=client: [c.get(k) or b""],
                        b"hash": lambda k, c=client: list(c.hgetall(k).values()),
                        b"zset": lambda k, c=client: c.zrange(k, 0, -1),
                        b"set": lambda k, c=client: list(c.smembers(k)),
                    }.get(kind, lambda k: [])(key)
                    self.seen += [value for value in values if value]
            time.sleep(0.02)

    def stop(self) -> list[str]:
        """Everything seen, with message bodies decoded (kombu base64-encodes them)."""
        import base64
        import re

        self._running = False
        self._thread.join()
        texts = []
        for raw in self.seen:
            text = raw.decode(errors="replace")
            texts.append(text)
            for body in re.findall(r'"body": ?"([A-Za-z0-9+/=]+)"', text):
                texts.append(base64.b64decode(body).decode(errors="replace"))
        return texts


@pytest.mark.worker_env(PLANTED_S3_KEY=PLANTED_KEY, PLANTED_S3_SECRET=PLANTED_SECRET)
def test_task_messages_carry_references_and_each_worker_reads_its_own_secrets(
    workers, ralph, s3_server, tmp_path, redis_url, monkeypatch
):
    monkeypatch.setenv("PLANTED_S3_KEY", PLANTED_KEY)  # the command lists the bucket with the same references
    monkeypatch.setenv("PLANTED_S3_SECRET", PLANTED_SECRET)
    corpus = build_corpus(tmp_path, days=2, events_per_day=40, with_faults=False)
    driver = get_driver(Provider.S3)(**s3_server)
    container = driver.create_container("queue-secrets")
    for path in sorted(corpus.folder.iterdir()):
        driver.upload_object(str(path), container, f"tracking/{path.name}")
    where = {k: v for k, v in s3_server.items() if k not in ("key", "secret")}
    source = dict(where, container="queue-secrets", prefix="tracking/", key={"env": "PLANTED_S3_KEY"},
                  secret={"env": "PLANTED_S3_SECRET"})  # fmt: skip
    watcher = BrokerWatcher(redis_url)
    try:
        output = run_command(
            "--distributed", f"--queue={workers.queue}", "--sleep_between_batches_secs=0.2", "--batch_size=20",
            source=source, provider="S3",
            destination=("--destination_provider=LRS", f"--destination_config={json.dumps(ralph_config_of(ralph))}"),
        )  # fmt: skip
    finally:
        seen = watcher.stop()
    assert "2 of 2 read" in summary_value(output, "Files")
    assert not [text for text in seen if PLANTED_SECRET in text or PLANTED_KEY in text], "a secret in the broker"
    assert any("PLANTED_S3_SECRET" in text for text in seen), "the task messages were read from the broker"
    assert len(ralph.read_statements()) == len(corpus.erb_statements())


def ralph_config_of(ralph) -> dict:
    """Ralph's endpoint, its password by reference (a task message carries no secret)."""
    return by_reference({"url": f"{ralph.url}/xAPI/", "username": RALPH_USER, "password": RALPH_PASSWORD})


def test_a_worker_without_the_variable_a_reference_names_fails_its_task_in_one_line(workers, ralph, tmp_path):
    corpus = build_corpus(tmp_path, days=1, events_per_day=20, with_faults=False)
    destination = dict(ralph_config_of(ralph), password={"env": "ONLY_THE_COMMAND_HAS_IT"})
    os.environ["ONLY_THE_COMMAND_HAS_IT"] = RALPH_PASSWORD
    try:
        with pytest.raises(CommandError) as error:
            run_command(
                "--distributed", f"--queue={workers.queue}", source=local_source(corpus.folder),
                destination=("--destination_provider=LRS", f"--destination_config={json.dumps(destination)}"),
            )  # fmt: skip
    finally:
        del os.environ["ONLY_THE_COMMAND_HAS_IT"]
    assert "'password' is the environment variable ONLY_THE_COMMAND_HAS_IT, which is not set in this process" in (
        str(error.value)
    )
    assert RALPH_PASSWORD not in str(error.value)
    logs = "".join(log.read_text(errors="replace") for log in workers.logs)
    assert logs.count("received") == 1 and "retry" not in logs.lower(), "failed once, not retried"


def test_inline_secrets_are_kept_out_of_the_queue_unless_the_operator_insists(celery_app, tmp_path):
    corpus = build_corpus(tmp_path, days=1, events_per_day=5, with_faults=False)
    destination = {"url": "http://127.0.0.1:9/xAPI/", "username": RALPH_USER, "password": PLANTED_SECRET}
    to_lrs = ("--destination_provider=LRS", f"--destination_config={json.dumps(destination)}")
    with pytest.raises(CommandError) as refused:
        run_command("--distributed", "--queue=nobody", source=local_source(corpus.folder), destination=to_lrs)
    assert "--distributed would put secrets into the broker's task messages (--destination_config password)" in (
        str(refused.value)
    )
    assert "--allow_secrets_in_queue" in str(refused.value) and PLANTED_SECRET not in str(refused.value)
    with pytest.raises(CommandError, match="No Celery worker consumes the queue 'nobody'"):  # insisted: goes on
        run_command(
            "--distributed", "--queue=nobody", "--allow_secrets_in_queue", source=local_source(corpus.folder),
            destination=to_lrs,
        )  # fmt: skip
