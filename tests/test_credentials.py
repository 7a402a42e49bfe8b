"""
Secrets by reference, nothing secret in a command line, a queue or anything written; personal
data off until turned on. Known secrets are planted in every config and searched for in
everything the commands write, on success and on each failure path.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from hypothesis import assume, given
from hypothesis import strategies as st
from libcloud.storage.providers import get_driver
from libcloud.storage.types import Provider

from backfill_app.sinks.statement_file_format import STATEMENT_FILE_SUFFIXES, statement_file_rows
from tests import services
from tests.commands import run_command, summary_value
from tests.corpus_fixtures import build_corpus
from tests.standalone_project import StandaloneProject
from tests.tables import assert_table_holds_exactly

# moto takes any credentials: these stand for the operator's, and must never show anywhere.
S3_KEY_ID = "AKIAPLANTEDKEY0000001"
S3_SECRET = "planted-s3-secret-d41d8cd98f00"
S3_TOKEN = "planted-session-token-0cc175b9c0f1"


@pytest.fixture
def bucket(s3_server, tmp_path, db):
    """A bucket holding a corpus of logs; (corpus, the S3 endpoint's options without credentials)."""
    corpus = build_corpus(tmp_path, days=2, events_per_day=60, with_faults=False)
    driver = get_driver(Provider.S3)(**s3_server)
    name = f"creds-{abs(hash(str(tmp_path))) % 10**8}"
    container = driver.create_container(name)
    for path in sorted(corpus.folder.iterdir()):
        driver.upload_object(str(path), container, f"tracking/{path.name}")
    where = {k: v for k, v in s3_server.items() if k not in ("key", "secret")}
    return corpus, dict(where, container=name, prefix="tracking/")


@pytest.fixture
def aws_environment(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", S3_TOKEN)


def test_s3_read_with_credentials_from_the_environment_only(bucket, aws_environment, xapi_table):
    corpus, source = bucket
    output = run_command(source=source, provider="S3")
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
    assert "holds a secret inline" not in output


def test_a_reference_to_a_missing_variable_or_file_is_one_sentence_naming_it(bucket, xapi_table):
    _, source = bucket
    for reference, named in (
        ({"env": "NO_SUCH_VARIABLE"}, "the environment variable NO_SUCH_VARIABLE, which is not set in this process"),
        ({"file": "/no/such/secret"}, "the file /no/such/secret, which cannot be read here"),
    ):
        with pytest.raises(CommandError) as error:
            run_command(source=dict(source, key="id", secret=reference), provider="S3")
        assert named in str(error.value) and "'secret'" in str(error.value)


def test_an_inline_secret_still_works_and_is_warned_about_once(bucket, xapi_table):
    corpus, source = bucket
    output = run_command(source=dict(source, key=S3_KEY_ID, secret=S3_SECRET), provider="S3")
    assert output.count("WARNING: --source_config holds a secret inline (key, secret)") == 1
    assert S3_SECRET not in output
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())


def test_the_process_list_holds_no_secret_with_references_or_a_config_file(bucket, tmp_path, ralph):
    corpus, source = bucket
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "lrs-password").write_text(services.RALPH_PASSWORD + "\n")
    config_file = secrets_dir / "source.json"
    config_file.write_text(json.dumps(dict(source, key=S3_KEY_ID, secret=S3_SECRET)))
    destination = {
        "url": f"{ralph.url}/xAPI/",
        "username": services.RALPH_USER,
        "password": {"file": str(secrets_dir / "lrs-password")},
    }
    project = StandaloneProject(tmp_path / "var")
    project.manage("migrate", "-v0", clickhouse="unused")
    project.manage(
        "shell", "-c", "from demo.seed import seed_users, seed_courses; seed_users(25); seed_courses()",
        clickhouse="unused",
    )  # fmt: skip
    run = project.start(
        "transform_tracking_logs", "--source_provider=S3", f"--source_config=@{config_file}",
        "--destination_provider=LRS", f"--destination_config={json.dumps(destination)}", "--transformer_type=xapi",
        "--workers=2", "--sleep_between_batches_secs=0.2", "--batch_size=20",
        clickhouse="unused", output=True,
    )  # fmt: skip
    command_lines, most_processes = [], 0
    while run.poll() is None:  # the command and its worker processes, as `ps` shows them
        seen = process_tree_command_lines(run.pid)
        command_lines += seen
        most_processes = max(most_processes, len(seen))
        time.sleep(0.05)
    stdout, stderr = run.communicate()
    assert run.returncode == 0, stderr[-2000:]
    assert any("transform_tracking_logs" in line for line in command_lines)
    assert most_processes >= 3, "the workers were seen too (forks of the command: its command line)"
    for secret in (S3_KEY_ID, S3_SECRET, services.RALPH_PASSWORD):
        assert not [line for line in command_lines if secret in line]
        assert secret not in stdout + stderr
    assert "holds a secret inline" not in stdout
    # Its own database made its learners' ids: as many statements, each once.
    received = [statement["id"] for statement in ralph.read_statements()]
    assert len(received) == len(set(received)) == len(corpus.erb_statements())


def process_tree_command_lines(pid: int) -> list[str]:
    """The command lines of ``pid`` and of its descendants (from /proc, as any user of the machine reads them)."""
    lines, pending = [], [pid]
    while pending:
        current = pending.pop()
        try:
            lines.append(Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        pending += [int(child) for child in children]
    return lines


def test_personal_data_is_off_until_turned_on_standalone(tmp_path):
    off = StandaloneProject(tmp_path / "var", BACKFILL_ENABLE_PII=None)
    off.manage("migrate", "-v0", clickhouse="unused")
    refused = off.manage("dump_data_to_clickhouse", "--object=user_profile", clickhouse="ch", check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "standalone: BACKFILL_ENABLE_PII=true" in refused.stderr
    on = StandaloneProject(tmp_path / "var", BACKFILL_ENABLE_PII="true")
    on.manage("shell", "-c", "from demo.seed import seed_users; seed_users(3)", clickhouse="unused")
    dumped = on.manage("dump_data_to_clickhouse", "--object=user_profile", "--sleep_time=0", clickhouse="ch")
    assert summary_value(dumped.stdout, "Rows written") == "user_profile 3"


# -- everything written, searched for the planted secrets ---------------------------------


class Written:
    """What commands print and log, and the files they leave, searched for secrets."""

    def __init__(self, caplog, folders: list[Path]):
        self.caplog = caplog
        self.folders = folders
        self.printed: list[str] = []

    def run(self, command: str, *args: str, fails: bool = False) -> str:
        out, err = io.StringIO(), io.StringIO()
        try:
            call_command(command, *args, stdout=out, stderr=err)
            assert not fails, f"{command} was expected to fail"
        except CommandError as error:
            assert fails, f"{command} failed: {error}"
            self.printed.append(str(error))
        self.printed += [out.getvalue(), err.getvalue()]
        return out.getvalue()

    def assert_holds_none_of(self, secrets) -> None:
        texts = self.printed + [record.getMessage() for record in self.caplog.records]
        texts += [str(record.exc_info) for record in self.caplog.records if record.exc_info]
        for folder in self.folders:
            texts += [path.read_text(errors="replace") for path in folder.rglob("*") if path.is_file()]
        for secret in secrets:
            found = [text[max(0, text.find(secret) - 300) : text.find(secret)] for text in texts if secret in text]
            assert not found, f"a planted secret was written: {secret[:6]}..., after: {found[:2]}"
        assert self.printed and self.caplog.records


def test_planted_secrets_reach_no_output_on_success_or_failure(
    bucket, s3_server, ralph, tmp_path, caplog, capfd, xapi_table, monkeypatch
):
    corpus, source = bucket
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PLANTED_S3_SECRET", S3_SECRET)
    monkeypatch.setenv("PLANTED_S3_KEY", S3_KEY_ID)
    (tmp_path / "secrets").mkdir()
    password_file = tmp_path / "secrets" / "lrs-password"
    password_file.write_text(services.RALPH_PASSWORD)
    s3 = dict(source, key={"env": "PLANTED_S3_KEY"}, secret={"env": "PLANTED_S3_SECRET"})
    lrs = {"url": f"{ralph.url}/xAPI/", "username": services.RALPH_USER, "password": {"file": str(password_file)}}
    dead = tmp_path / "out" / "dead.jsonl"
    # Not the test database's own files: opening and closing them would drop this process's sqlite
    # locks on them (POSIX), and its connection would no longer see what other processes commit.
    written = Written(caplog, [tmp_path / "out", Path(settings.BACKFILL_VAR_DIR) / "dead-letter"])
    common = ("--source_provider=S3", f"--source_config={json.dumps(s3)}", "--transformer_type=xapi",
              "--sleep_between_batches_secs=0", f"--dead_letter_path={dead}")  # fmt: skip

    # Success: to an LRS, to statement files on S3 (their manifest), to ClickHouse, the gaps, the load.
    written.run(
        "transform_tracking_logs", *common, "--destination_provider=LRS", f"--destination_config={json.dumps(lrs)}"
    )
    files_config = dict(s3, container=source["container"], prefix="statements")
    written.run(
        "transform_tracking_logs",
        *common,
        "--destination_provider=S3",
        f"--destination_config={json.dumps(files_config)}",
    )
    written.run("transform_tracking_logs", *common, "--destination_provider=CLICKHOUSE")
    written.run("find_xapi_gaps", "--source_provider=S3", f"--source_config={json.dumps(s3)}")
    written.run("load_xapi_files", "--source_provider=S3", f"--source_config={json.dumps(files_config)}")
    assert len(ralph.read_statements()) == len(corpus.erb_statements())

    # Failures: storage down, a wrong LRS password, a ClickHouse that does not answer.
    down = dict(s3, port=services.free_port())
    written.run("transform_tracking_logs", "--source_provider=S3", f"--source_config={json.dumps(down)}",
                "--transformer_type=xapi", "--destination_provider=CLICKHOUSE", fails=True)  # fmt: skip
    password_file.write_text(S3_SECRET)  # a secret the LRS refuses: its 401 must not echo it
    written.run("transform_tracking_logs", *common, "--restart", "--destination_provider=LRS",
                f"--destination_config={json.dumps(lrs)}", fails=True)  # fmt: skip
    clickhouse = {"url": f"http://backfill:{S3_SECRET}@127.0.0.1:{services.free_port()}"}
    written.run("find_xapi_gaps", "--source_provider=S3", f"--source_config={json.dumps(s3)}",
                f"--destination_config={json.dumps(clickhouse)}", fails=True)  # fmt: skip
    written.run("dump_data_to_clickhouse", "--object=course_enrollment", f"--url={clickhouse['url']}", fails=True)
    # A broker that is down: test_distributed's test_a_broker_that_is_down_gives_one_clear_line_and_no_secret
    # (in a process of its own: this process's Celery app keeps the first broker it used).
    # The statement files and their manifest, as the bucket holds them.
    driver = get_driver(Provider.S3)(**s3_server)
    for obj in driver.list_container_objects(driver.get_container(source["container"]), prefix="statements"):
        data = b"".join(driver.download_object_as_stream(obj))
        is_statement_file = obj.name.endswith(STATEMENT_FILE_SUFFIXES)
        text = b"\n".join(statement_file_rows(obj.name, data)) if is_statement_file else data
        written.printed.append(text.decode())
    written.printed += capfd.readouterr()  # whatever else reached this process's stdout and stderr
    written.assert_holds_none_of([S3_SECRET, S3_KEY_ID, services.RALPH_PASSWORD])


def test_a_password_file_that_cannot_be_read_is_one_sentence_naming_it(db, tmp_path):
    out = io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command(
            "dump_data_to_clickhouse", "--object=course_enrollment", f"--url=http://127.0.0.1:{services.free_port()}",
            f"--password=@{tmp_path}/no-such-file", stdout=out,
        )  # fmt: skip
    assert f"'password' is the file {tmp_path}/no-such-file, which cannot be read here" in str(error.value)
    assert "ClickHouse password is on the command line" not in out.getvalue()  # a file: nothing to warn about


def test_a_local_folder_is_no_secret_and_stays_in_messages():
    from backfill_app.sources.storage import StorageLocation

    local = StorageLocation.from_options("LOCAL", '{"key": "/openedx/data", "container": "logs", "prefix": ""}', "--c")
    assert local.secrets() == []
    s3 = StorageLocation.from_options(
        "S3", json.dumps({"key": "id", "secret": "s", "container": "c", "prefix": ""}), "--c"
    )
    assert sorted(s3.secrets()) == ["id", "s"]


def test_statement_files_load_with_temporary_credentials_from_the_environment(
    bucket, aws_environment, xapi_table, clickhouse
):
    corpus, source = bucket
    files = dict(source, prefix="statements")
    run_command(
        source=source,
        provider="S3",
        destination=("--destination_provider=S3", f"--destination_config={json.dumps(files)}"),
    )
    # ClickHouse's s3() reads them with the session token too (moto takes any; the query is what counts).
    from backfill_app.clickhouse.connection import XapiTable, target_from_settings
    from backfill_app.sources.storage import StorageLocation
    from backfill_app.tracking.xapi_files import XapiFileLoader

    location = StorageLocation.from_options("S3", json.dumps(files), "--source_config")
    loader = XapiFileLoader(clickhouse, XapiTable(target_from_settings(), "xapi", "xapi_events_all"), location)
    assert f"'{S3_KEY_ID}', '{S3_SECRET}', '{S3_TOKEN}', 'JSONEachRow'" in loader.table_function("x.jsonl.zst")
    out = io.StringIO()
    call_command("load_xapi_files", "--source_provider=S3", f"--source_config={json.dumps(files)}", stdout=out)
    assert_table_holds_exactly(xapi_table(), corpus.erb_statements())
    assert S3_SECRET not in out.getvalue() and S3_TOKEN not in out.getvalue()


@given(
    before=st.integers(0, 400),
    secret=st.text(st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc")), min_size=8, max_size=40),
)
def test_a_secret_anywhere_in_an_error_never_reaches_its_short_form_even_cut(before, secret):
    from backfill_app.core.redaction import first_line_without, short_reason

    assume(secret.strip() and "*" not in secret and secret[:8] not in "x" * 400)
    message = "x" * before + secret + " went wrong\nsecond line " + secret
    for short in (first_line_without(message, [secret]), short_reason(RuntimeError(message), [secret])):
        assert secret[:8] not in short and len(short) <= 300
