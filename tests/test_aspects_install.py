"""
Our commands and our Tutor plugin in today's default Aspects install: tutor 22 with
tutor-contrib-aspects 6.1.0 and tutor-contrib-backfill, rendered by the real packages in a
temporary Tutor root (tests/aspects_install.py), Vector (Aspects 6.x's default) and Ralph.
"""

from __future__ import annotations

import json
import shlex

import pytest
import yaml
from celery.utils.nodenames import default_nodename, host_format
from django.core.management import load_command_class
from django.core.management.base import CommandError
from django.test import override_settings

from backfill_app.clickhouse.schema import RAW_XAPI_COLUMNS
from backfill_app.dump.tables import WRITTEN_TABLES
from tests import services
from tests.aspects_install import REPO, AspectsTutorRoot, migrated_aspects_schema, platform_settings
from tests.commands import output_of
from tests.corpus_fixtures import build_corpus

# Where Aspects 6.1.0 stores raw xAPI, by the source that feeds ClickHouse.
RAW_TABLE = {"vector": "openedx.xapi_events_all", "ralph": "xapi.xapi_events_all"}
FROM_ASPECTS = "(from Aspects' EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG)"


@pytest.fixture(scope="module")
def aspects_roots(tmp_path_factory):
    """One Tutor root per xAPI source, made when first asked for."""
    roots: dict[str, AspectsTutorRoot] = {}

    def root(source: str) -> AspectsTutorRoot:
        if source not in roots:
            roots[source] = AspectsTutorRoot(
                tmp_path_factory.mktemp(f"tutor-{source}"), f"ASPECTS_XAPI_SOURCE={source}"
            )
        return roots[source]

    return root


def parsed(command: str, words: list[str]):
    """Our management command's own parser on a job's words: an option it refuses fails here."""
    return load_command_class("backfill_app", command).create_parser("manage.py", command).parse_args(words)


run = output_of


def first_line(output: str, label: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(label))


# -- Where statements go ------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["vector", "ralph"])
def test_every_command_reads_and_writes_the_raw_table_aspects_reads(
    source, aspects_roots, clickhouse, tmp_path, db, settings
):
    root = aspects_roots(source)
    wanted, other = RAW_TABLE[source], RAW_TABLE["ralph" if source == "vector" else "vector"]
    for table in RAW_TABLE.values():
        clickhouse.command(f"TRUNCATE TABLE {table}")
    corpus = build_corpus(tmp_path / "logs", days=3, events_per_day=15)
    logs = json.dumps({"key": str(corpus.folder.parent), "container": corpus.folder.name, "prefix": ""})
    # The job's own command line, as `tutor local do backfill-tracking-logs` hands it to docker.
    _, service, command = root.job_run("local", "backfill-tracking-logs", "--source_config", logs)
    words = shlex.split(command)
    assert (service, words[:3]) == ("backfill-job", ["./manage.py", "lms", "transform_tracking_logs"])

    # The platform's settings as rendered; ClickHouse itself is the suite's embedded engine
    # (BACKFILL_CLICKHOUSE moves the server, not the database and table Aspects names).
    rendered = platform_settings(root)
    assert rendered["EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"]["xapi_database"] == wanted.split(".")[0]
    here = {"BACKFILL_VAR_DIR": settings.BACKFILL_VAR_DIR, "BACKFILL_CLICKHOUSE": settings.BACKFILL_CLICKHOUSE}
    with override_settings(**{**rendered, **here}):
        backfilled = run(*words[2:])
        gaps = run("find_xapi_gaps", "--source_provider", "LOCAL", "--source_config", logs)
        files = tmp_path / "files"
        files.mkdir()
        to_files = json.dumps({"key": str(tmp_path), "container": "files", "prefix": "xapi"})
        run(*words[2:], "--destination_provider", "LOCAL", "--destination_config", to_files)
        clickhouse.command(f"TRUNCATE TABLE {wanted}")
        loaded = run("load_xapi_files", "--source_provider", "LOCAL", "--source_config", to_files)

    destination = first_line(backfilled, "Destination: ")
    assert destination.startswith(f"Destination: {wanted} in the embedded ClickHouse") and FROM_ASPECTS in destination
    assert first_line(gaps, "Statements in: ").startswith(f"Statements in: {wanted} ") and FROM_ASPECTS in gaps
    assert "No gaps" in gaps
    assert loaded.splitlines()[0].startswith(f"Into: {wanted} ") and FROM_ASPECTS in loaded.splitlines()[0]
    expected = len(corpus.erb_statements())
    assert int(clickhouse.command(f"SELECT count() FROM {wanted}")) == expected > 0
    assert int(clickhouse.command(f"SELECT count() FROM {other}")) == 0


def test_clickhouse_out_of_reach_is_named_with_the_table_and_why(aspects_roots, tmp_path, db, settings):
    rendered = platform_settings(aspects_roots("vector"))  # http://clickhouse:8123, as rendered
    logs = json.dumps({"key": str(tmp_path), "container": "logs", "prefix": ""})
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "tracking.log").write_text("")
    with override_settings(**{**rendered, "BACKFILL_VAR_DIR": settings.BACKFILL_VAR_DIR, "BACKFILL_CLICKHOUSE": None}):
        with pytest.raises(CommandError) as error:
            run("transform_tracking_logs", "--source_provider", "LOCAL", "--source_config", logs,
                "--destination_provider", "CLICKHOUSE", "--transformer_type", "xapi")  # fmt: skip
    message = str(error.value)
    assert message.startswith("Cannot reach ClickHouse at http://clickhouse:8123 for openedx.xapi_events_all")
    assert FROM_ASPECTS in message
    assert rendered["EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG"]["password"] not in message


# -- The schema ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aspects_schema(aspects_roots, tmp_path_factory) -> dict:
    return migrated_aspects_schema(aspects_roots("vector"), tmp_path_factory.mktemp("aspects-schema"))


def columns_of(client, qualified: str) -> list[list[str]]:
    database, table = qualified.split(".")
    rows = client.query(
        f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = '{table}' ORDER BY position"
    ).result_rows
    return [[name, kind] for name, kind in rows]


def test_every_table_and_column_we_write_is_in_aspects_schema_with_its_type_and_order(aspects_schema, clickhouse):
    built = aspects_schema["tables"]
    written = {qualified: [list(column) for column in RAW_XAPI_COLUMNS] for qualified in RAW_TABLE.values()}
    written |= {f"event_sink.{table.name}": [list(column) for column in table.columns] for table in WRITTEN_TABLES}
    for qualified, columns in written.items():
        # platform-plugin-aspects inserts CSV without column names: the whole table, in order.
        assert built.get(qualified) == columns, qualified
        # The embedded engine (standalone default) has the same tables as the install.
        assert columns_of(clickhouse, qualified) == columns, qualified
    broken = [failure for failure in aspects_schema["failed"] if any(name in failure["sql"] for name in written)]
    assert not broken, broken  # only dictionaries reading a server's credentials fail in the embedded engine


def test_the_embedded_tables_we_write_keep_rows_as_aspects_does(aspects_schema, clickhouse):
    """Same engine, sorting key and partitions: rows collapse (ReplacingMergeTree) as in the install."""
    written = [*RAW_TABLE.values(), *(f"event_sink.{table.name}" for table in WRITTEN_TABLES)]
    for qualified in written:
        database, table = qualified.split(".")
        ours = clickhouse.query(
            "SELECT engine, sorting_key, partition_key FROM system.tables "
            f"WHERE database = '{database}' AND name = '{table}'"
        ).result_rows
        assert [list(row) for row in ours] == [aspects_schema["engines"][qualified]], qualified


# -- The Tutor plugin in that install -------------------------------------------------------------


def test_the_permissions_service_owns_the_backfill_folder(aspects_roots):
    root = aspects_roots("vector")
    permissions = root.compose("local", "docker-compose.yml")["services"]["permissions"]
    assert "../../data/backfill:/mounts/backfill:z" in permissions["volumes"]
    assert "setowner $OPENEDX_USER_ID /mounts/backfill" in root.read("apps", "permissions", "setowners.sh")
    job = root.compose("local", "docker-compose.jobs.yml")["services"]["backfill-job"]
    assert "../../data/backfill:/openedx/data:z" in job["volumes"] and "permissions" in job["depends_on"]


S3_LOGS = '{"key": "/openedx", "container": "logs", "prefix": "tracking/", "secret": {"env": "AWS_SECRET_ACCESS_KEY"}}'


# YAML reads the first as a mapping (tutor stores a mapping, not the text typed); quoted, as text.
@pytest.mark.parametrize("given", [S3_LOGS, f"'{S3_LOGS}'"], ids=["mapping", "string"])
def test_a_source_config_saved_either_way_reaches_the_command_as_the_same_json(given, tmp_path):
    root = AspectsTutorRoot(tmp_path / "root", f"BACKFILL_SOURCE_CONFIG={given}")
    stored = yaml.safe_load((root.path / "config.yml").read_text())["BACKFILL_SOURCE_CONFIG"]
    assert isinstance(stored, dict if given.startswith("{") else str)
    for job, command in (("backfill-tracking-logs", "transform_tracking_logs"), ("backfill-gaps", "find_xapi_gaps")):
        _, _, line = root.job_run("local", job)
        options = parsed(command, shlex.split(line)[3:])
        assert json.loads(options.source_config) == json.loads(S3_LOGS)


def test_an_environment_variable_named_in_the_config_reaches_the_job_and_no_value_is_written(tmp_path):
    root = AspectsTutorRoot(
        tmp_path / "root", 'BACKFILL_JOB_ENV=["AWS_SECRET_ACCESS_KEY"]', "BACKFILL_K8S_ENV_SECRET=backfill-env",
        "BACKFILL_WORKER_REPLICAS=1",
    )  # fmt: skip
    for service, file in (("backfill-job", "docker-compose.jobs.yml"), ("backfill-worker", "docker-compose.yml")):
        environment = root.compose("local", file)["services"][service]["environment"]
        # A name without a value: docker compose passes the value of the environment tutor runs in.
        assert "AWS_SECRET_ACCESS_KEY" in environment and environment["AWS_SECRET_ACCESS_KEY"] is None
    k8s = [doc for name in ("jobs.yml", "deployments.yml") for doc in yaml.safe_load_all(root.read("k8s", name)) if doc]
    for name in ("backfill-job", "backfill-worker"):
        (manifest,) = [doc for doc in k8s if doc["metadata"]["name"] == name]
        env = {item["name"]: item for item in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
            "secretKeyRef": {"name": "backfill-env", "key": "AWS_SECRET_ACCESS_KEY"}
        }


def test_a_mounted_checkout_is_what_the_image_installs_and_the_job_runs(tmp_path):
    root = AspectsTutorRoot(tmp_path / "root")
    checkout = tmp_path / "openedx-backfill"
    checkout.symlink_to(REPO)  # a clone of the repository keeps its name
    root.tutor("mounts", "add", str(checkout))
    dockerfile = root.read("build", "openedx", "Dockerfile")
    assert (
        "COPY --link --chown=$APP_USER_ID:$APP_USER_ID --from=mnt-openedx-backfill / /mnt/openedx-backfill"
        in dockerfile
    )
    assert '$PIP_COMMAND install -e "/mnt/openedx-backfill"' in dockerfile
    assert "openedx-backfill[plot]==" not in dockerfile  # no install of the app from an index
    job = root.compose("local", "docker-compose.jobs.yml")["services"]["backfill-job"]
    assert f"{checkout}:/mnt/openedx-backfill:z" in job["volumes"]


def test_without_a_checkout_the_image_installs_a_dropped_wheel_before_asking_an_index(aspects_roots):
    root = aspects_roots("vector")
    dockerfile = root.read("build", "openedx", "Dockerfile")
    assert "--mount=type=bind,source=backfill-packages,target=/openedx/backfill-packages" in dockerfile
    assert 'pip install --find-links /openedx/backfill-packages "openedx-backfill[plot]==' in dockerfile
    # The folder is in the image's build context, and `tutor config save` keeps what is dropped there.
    packages = root.path / "env" / "build" / "openedx" / "backfill-packages"
    (packages / "openedx_backfill-0.1.0-py3-none-any.whl").write_bytes(b"a wheel")
    root.save()
    assert (packages / "openedx_backfill-0.1.0-py3-none-any.whl").read_bytes() == b"a wheel"


def test_tutor_dev_runs_the_job_in_the_dev_image_with_the_dev_settings(aspects_roots):
    root = aspects_roots("vector")
    files, service, _ = root.job_run("dev", "backfill-tracking-logs")
    assert service == "backfill-job" and files[-1].endswith("dev/docker-compose.jobs.yml")
    dev_job = root.compose("dev", "docker-compose.jobs.yml")["services"]["backfill-job"]
    image = root.tutor("config", "printvalue", "DOCKER_IMAGE_OPENEDX_DEV").strip()
    assert dev_job["image"] == image
    assert dev_job["environment"]["DJANGO_SETTINGS_MODULE"] == "lms.envs.tutor.development"


def test_the_archive_job_reads_aspects_archive_with_its_keys_by_reference(tmp_path):
    root = AspectsTutorRoot(
        tmp_path / "root", "ASPECTS_XAPI_S3_BUCKET=xapi-archive", "ASPECTS_XAPI_S3_ENDPOINT=http://minio:9000",
        "ASPECTS_XAPI_S3_ACCESS_KEY=archive-key-id", "ASPECTS_XAPI_S3_SECRET_KEY=archive-secret",
    )  # fmt: skip
    _, service, command = root.job_run("local", "backfill-archive", "--gaps_only")
    options = parsed("load_xapi_files", shlex.split(command)[3:])
    assert service == "backfill-job" and options.gaps_only and options.source_provider == "S3"
    assert json.loads(options.source_config) == {
        "container": "xapi-archive", "prefix": "xapi/", "region": "us-east-1", "host": "minio", "port": 9000,
        "secure": False, "key": {"env": "BACKFILL_XAPI_ARCHIVE_KEY"}, "secret": {"env": "BACKFILL_XAPI_ARCHIVE_SECRET"},
    }  # fmt: skip
    assert "archive-secret" not in command and "archive-key-id" not in command
    environment = root.compose("local", "docker-compose.jobs.yml")["services"]["backfill-job"]["environment"]
    assert environment["BACKFILL_XAPI_ARCHIVE_SECRET"] == "archive-secret"


def test_numeric_options_are_refused_as_text_before_any_container_starts(aspects_roots):
    root = aspects_roots("vector")
    with pytest.raises(RuntimeError, match="is not a valid integer"):
        root.tutor("local", "do", "backfill-tracking-logs", "--batch_size", "many")


# -- Celery workers for --distributed ---------------------------------------------------------------


# The worker is another process: it sees only committed rows (a transactional test, whose
# flush the migration's external id types survive).
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_rendered_worker_consumes_a_shard_of_a_distributed_run(tmp_path, celery_app, redis_url):

    queue = "backfill-rendered-worker"
    root = AspectsTutorRoot(tmp_path / "root", "BACKFILL_WORKER_REPLICAS=2", f"BACKFILL_CELERY_QUEUE={queue}")
    service = root.compose("local", "docker-compose.yml")["services"]["backfill-worker"]
    (deployment,) = [
        doc
        for doc in yaml.safe_load_all(root.read("k8s", "deployments.yml"))
        if doc and doc["metadata"]["name"] == "backfill-worker"
    ]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert (
        service["command"] == container["args"] and deployment["spec"]["replicas"] == service["deploy"]["replicas"] == 2
    )
    assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "lms.envs.tutor.production"
    assert {item["name"]: item.get("value") for item in container["env"]}["SERVICE_VARIANT"] == "lms"
    rendered_queue = platform_settings(root)["BACKFILL_CELERY_QUEUE"]
    assert rendered_queue == queue  # the command queues where the workers listen

    # The rendered command line as it is, but for the Celery app: the test project's, not the LMS's.
    args = [("--app=backfill_project" if word == "--app=lms.celery" else word) for word in service["command"]]
    assert args != service["command"]
    env = services.celery_worker_env(redis_url, BACKFILL_VAR_DIR=str(tmp_path / "worker"))
    corpus = build_corpus(tmp_path / "logs", days=3, events_per_day=15)
    logs = json.dumps({"key": str(corpus.folder.parent), "container": corpus.folder.name, "prefix": ""})
    hostname = next(word.split("=", 1)[1] for word in args if word.startswith("--hostname="))
    name = host_format(default_nodename(hostname))  # as Celery names the worker, to ping it
    worker = services.celery_worker(celery_app, name, queue, env, tmp_path / "worker.log", args=args)
    with worker, override_settings(BACKFILL_CELERY_QUEUE=rendered_queue):
        output = run("transform_tracking_logs", "--source_provider", "LOCAL", "--source_config", logs,
                     "--dry_run", "--transformer_type", "xapi", "--distributed")  # fmt: skip
    log = (tmp_path / "worker.log").read_text(errors="replace")
    assert f".> {queue} " in log  # the queue it consumed, as the worker's banner lists it
    assert "backfill_app.transform_shard[" in log and "succeeded" in log
    assert f"on the Celery queue {queue!r}, consumed by 1 workers" in output
    assert first_line(output, "Statements would be written").endswith(f": {len(corpus.erb_statements())}")
