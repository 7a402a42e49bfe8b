"""
The Tutor plugin (tutor-contrib-backfill), with the real ``tutor`` package, in a temporary Tutor
root: enabled and rendered, its jobs read the LMS's logs read-only and keep their files, and the
command line each ``do`` job would run is one our management commands parse, option for option.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import load_command_class
from tutorbackfill import jobs
from tutorbackfill.__about__ import __version__

TUTOR = str(Path(sys.executable).parent / "tutor")
# Options every Django command has: not the backfill's to pass on.
DJANGO_OPTIONS = {
    "--help", "--version", "--verbosity", "--settings", "--pythonpath", "--traceback", "--no-color",
    "--force-color", "--skip-checks",
}  # fmt: skip


class TutorRoot:
    """A temporary Tutor root, and the real ``tutor`` command run in it."""

    def __init__(self, path: Path):
        self.path = path

    def tutor(self, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "TUTOR_ROOT": str(self.path), "TUTOR_PLUGINS_ROOT": str(self.path / "plugins")}
        return subprocess.run([TUTOR, *args], env=env, capture_output=True, text=True, check=True)

    def read(self, *parts: str) -> str:
        return self.path.joinpath("env", *parts).read_text()


@pytest.fixture(scope="module")
def tutor_root(tmp_path_factory):
    """A Tutor root with the plugin enabled and its environment rendered."""
    root = TutorRoot(tmp_path_factory.mktemp("tutor-root"))
    root.tutor("plugins", "enable", "backfill")
    root.tutor("config", "save")
    return root


def management_options(command: str) -> dict[str, object]:
    """Every option of one of our management commands, as its own parser defines it."""
    parser = load_command_class("backfill_app", command).create_parser("manage.py", command)
    return {
        name: action
        for action in parser._actions
        for name in action.option_strings
        if name.startswith("--") and name not in DJANGO_OPTIONS
    }


@pytest.mark.parametrize(
    "options, command",
    [
        (jobs.TRACKING_OPTIONS, "transform_tracking_logs"),
        (jobs.GAPS_OPTIONS, "find_xapi_gaps"),
        (jobs.DUMP_OPTIONS, "dump_data_to_clickhouse"),
        (jobs.ARCHIVE_OPTIONS, "load_xapi_files"),
        (jobs.EXTERNAL_IDS_OPTIONS, "create_external_ids"),
    ],
)
def test_each_job_offers_every_option_of_its_command_and_no_other(options, command):
    offered = {option.name for option in options}
    theirs = management_options(command)
    if command == "dump_data_to_clickhouse":  # ClickHouse and its credentials come from Tutor's settings
        from_settings = ("--url", "--username", "--password", "--database", "--timeout_secs")
        theirs = {name: action for name, action in theirs.items() if name not in from_settings}
    assert offered == set(theirs)
    for option in options:  # a flag where the command has a flag, a list where it takes several
        action = theirs[option.name]
        assert (option.kind == jobs.FLAG) == (action.nargs == 0), option.name
        assert (option.kind == jobs.VALUES) == (action.nargs in ("+", "*")), option.name
        # A number where the command takes a number: the plugin refuses text before a container starts.
        assert option.type == (action.type if action.type in (int, float) else None), option.name


@pytest.mark.parametrize(
    "tasks, command",
    [
        (jobs.tracking_logs_tasks, "transform_tracking_logs"),
        (jobs.dump_tasks, "dump_data_to_clickhouse"),
        (jobs.archive_tasks, "load_xapi_files"),
    ],
)
def test_a_jobs_summary_json_reaches_its_command(tutor_config, tasks, command):
    path = "/openedx/data/run summary.json"  # under the job's lasting folder; a space survives the shell
    given = {"object": "user_profile", "source_config": '{"container": "x"}', "summary_json": path}  # what each needs
    ((_, line),) = tasks(given)
    assert parsed(command, rendered(tutor_config, line)[3:]).summary_json == path


def test_enabled_the_image_installs_the_backfill_and_the_platform_gets_its_settings(tutor_root):
    dockerfile = tutor_root.read("build", "openedx", "Dockerfile")
    assert f'pip install --find-links /openedx/backfill-packages "openedx-backfill[plot]=={__version__}"' in dockerfile
    for service in ("lms", "cms"):
        settings = tutor_root.read("apps", "openedx", "settings", service, "production.py")
        assert 'BACKFILL_VAR_DIR = "/openedx/data/backfill"' in settings


def test_the_job_service_reads_the_lms_logs_read_only_and_keeps_its_files(tutor_root):
    compose = yaml.safe_load(tutor_root.read("local", "docker-compose.jobs.yml"))
    volumes = compose["services"]["backfill-job"]["volumes"]
    assert "../../data/lms/logs:/openedx/tracking-logs:ro" in volumes
    assert "../../data/backfill:/openedx/data:z" in volumes
    lms_job = compose["services"]["lms-job"]
    assert compose["services"]["backfill-job"]["image"] == lms_job["image"]
    assert compose["services"]["backfill-job"]["environment"] == lms_job["environment"]


def test_the_k8s_job_has_the_same_mounts(tutor_root):
    documents = list(yaml.safe_load_all(tutor_root.read("k8s", "jobs.yml")))
    (job,) = [doc for doc in documents if doc and doc["metadata"]["name"] == "backfill-job"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
    assert mounts["/openedx/tracking-logs"].get("readOnly") is True and "/openedx/data" in mounts
    tutor_root.tutor(
        "config", "save", "--set", "BACKFILL_K8S_LOGS_CLAIM=lms-logs", "--set", "BACKFILL_K8S_DATA_CLAIM=bf"
    )
    documents = list(yaml.safe_load_all(tutor_root.read("k8s", "jobs.yml")))
    (job,) = [doc for doc in documents if doc and doc["metadata"]["name"] == "backfill-job"]
    claims = {
        volume["name"]: volume.get("persistentVolumeClaim") for volume in job["spec"]["template"]["spec"]["volumes"]
    }
    assert claims["tracking-logs"] == {"claimName": "lms-logs", "readOnly": True}
    assert claims["backfill-data"] == {"claimName": "bf"}
    tutor_root.tutor("config", "save", "--unset", "BACKFILL_K8S_LOGS_CLAIM", "--unset", "BACKFILL_K8S_DATA_CLAIM")


def test_do_lists_the_jobs_and_their_options(tutor_root):
    listed = tutor_root.tutor("local", "do", "--help").stdout
    assert all(name in listed for name in ("backfill-tracking-logs", "backfill-gaps", "backfill-dump"))
    helped = tutor_root.tutor("local", "do", "backfill-tracking-logs", "--help").stdout
    assert all(option.name in helped for option in jobs.TRACKING_OPTIONS)


@pytest.fixture(scope="module")
def tutor_config(tutor_root):
    """The root's configuration as tutor loads it: plugins discovered and the enabled ones loaded, here."""
    from tutor import config, hooks
    from tutor.commands import cli  # noqa: F401 (registers plugin discovery, as the tutor command does)

    hooks.Actions.CORE_READY.do()
    hooks.Actions.PROJECT_ROOT_READY.do(str(tutor_root.path))
    return config.load(str(tutor_root.path))


def rendered(tutor_config, command: str) -> list[str]:
    """The job's command as tutor renders it with this root's config, split as the shell splits it."""
    from tutor import env as tutor_env

    return shlex.split(tutor_env.render_str(tutor_config, command))


def parsed(command: str, words: list[str]):
    """Our management command's own parser on the job's words: any option it refuses fails here."""
    parser = load_command_class("backfill_app", command).create_parser("manage.py", command)
    return parser.parse_args(words)


def test_the_tracking_job_by_default_reads_the_lms_logs_into_aspects_clickhouse(tutor_config):
    ((service, command),) = jobs.tracking_logs_tasks({})  # no option given: the plugin's defaults
    words = rendered(tutor_config, command)
    assert service == "backfill" and words[:3] == ["./manage.py", "lms", "transform_tracking_logs"]
    options = parsed("transform_tracking_logs", words[3:])
    assert (options.source_provider, options.destination_provider, options.transformer_type) == (
        "LOCAL", "CLICKHOUSE", "xapi"
    )  # fmt: skip
    assert json.loads(options.source_config) == {
        "key": "/openedx",
        "container": "tracking-logs",
        "prefix": "tracking.log",
    }
    assert options.destination_config is None  # Aspects' ClickHouse from the platform's settings: no secret here
    assert (options.batch_size, options.sleep_between_batches_secs, options.workers) == (10000, 0.0, None)


def test_every_option_given_to_the_tracking_job_reaches_the_command_as_given(tutor_config):
    given = {
        "source_provider": "S3", "source_config": '{"container": "logs", "prefix": "x/", "secret": {"env": "S3"}}',
        "destination_provider": "LRS", "destination_config": "@/openedx/data/lrs.json", "transformer_type": "caliper",
        "batch_size": "500", "sleep_between_batches_secs": "1.5", "dry_run": True, "lrs_urls": ("http://a/", "http://b/"),
        "start": "2026-01-01T00:00", "end": "2026-02-01", "gaps_only": True, "workers": "3", "distributed": True,
        "queue": "backfill-2", "restart": True, "verify_sample": "0.5", "allow_secrets_in_queue": True,
        "allow_other_statement_ids": True, "replace_drifted": True,
        "dead_letter_path": "/openedx/data/dead letters.jsonl", "summary_json": "/openedx/data/summary.json",
    }  # fmt: skip
    ((_, command),) = jobs.tracking_logs_tasks(given)
    options = vars(parsed("transform_tracking_logs", rendered(tutor_config, command)[3:]))
    as_parsed = {  # what the command's parser makes of them: numbers typed, lists as lists
        **given, "batch_size": 500, "sleep_between_batches_secs": 1.5, "workers": 3, "verify_sample": 0.5,
        "lrs_urls": ["http://a/", "http://b/"],
    }  # fmt: skip
    assert {key: options[key] for key in given} == as_parsed


def jobs_parameters(options) -> list[str]:
    return [jobs.parameter_name(option) for option in options]


def test_the_other_jobs_run_in_the_right_service_and_parse(tutor_config):
    nothing = dict.fromkeys(jobs_parameters(jobs.GAPS_OPTIONS))
    ((service, command),) = jobs.gaps_tasks({**nothing, "plot": "/openedx/data/gaps.png"})
    words = rendered(tutor_config, command)
    assert service == "backfill" and parsed("find_xapi_gaps", words[3:]).plot == "/openedx/data/gaps.png"

    nothing = dict.fromkeys(jobs_parameters(jobs.DUMP_OPTIONS))
    ((service, command),) = jobs.dump_tasks({**nothing, "object": "course_overviews", "ids": ("course-v1:A+B+C",)})
    assert service == "cms" and rendered(tutor_config, command)[:3] == ["./manage.py", "cms", "dump_data_to_clickhouse"]
    assert parsed("dump_data_to_clickhouse", rendered(tutor_config, command)[3:]).ids == ["course-v1:A+B+C"]
    ((service, command),) = jobs.dump_tasks({**nothing, "object": "user_profile", "force_pii": True})
    assert service == "backfill" and parsed("dump_data_to_clickhouse", rendered(tutor_config, command)[3:]).force_pii

    nothing = dict.fromkeys(jobs_parameters(jobs.EXTERNAL_IDS_OPTIONS))
    ((service, command),) = jobs.external_ids_tasks({**nothing, "all_users": True})
    options = parsed("create_external_ids", rendered(tutor_config, command)[3:])
    assert service == "backfill" and (options.type, options.all_users) == ("xapi", True)
