from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from tests import services

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def clickhouse():
    """The embedded ClickHouse of the test run (one data folder per process), schema created."""
    from backfill_app.clickhouse.connection import connect, target_from_settings
    from backfill_app.clickhouse.schema import create_aspects_schema

    client = connect(target_from_settings())
    create_aspects_schema(client)
    return client


@pytest.fixture
def xapi_table(clickhouse):
    """An empty xapi.xapi_events_all; returns a function giving its rows as dicts."""
    clickhouse.command("TRUNCATE TABLE xapi.xapi_events_all")

    def rows():
        result = clickhouse.query("SELECT toString(event_id), emission_time, event FROM xapi.xapi_events_all")
        return [
            {"event_id": event_id, "emission_time": emission_time, "event": json.loads(event)}
            for event_id, emission_time, event in result.result_rows
        ]

    return rows


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    with services.moto_s3(tmp_path_factory.mktemp("moto")) as driver_options:
        yield driver_options


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    with services.redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def celery_app(redis_url):
    """This process's Celery app (the command's), pointed at the test Redis."""
    from backfill_project.celery import app

    # Where the app reads them, Django's settings (namespace CELERY): Celery 5.6 reads the
    # settings' value again over a plain app.conf.broker_url.
    settings.CELERY_BROKER_URL = f"{redis_url}/0"
    settings.CELERY_RESULT_BACKEND = f"{redis_url}/1"
    assert app.conf.broker_url == f"{redis_url}/0" and app.conf.result_backend == f"{redis_url}/1"
    return app


@pytest.fixture
def var_dir():
    return Path(settings.BACKFILL_VAR_DIR)


@pytest.fixture
def ralph(tmp_path):
    """A fresh Ralph LRS (filesystem backend) on 127.0.0.1 for one test."""
    (tmp_path / "ralph").mkdir()
    with services.ralph_lrs(tmp_path / "ralph") as lrs:
        yield lrs


@pytest.fixture
def seeded_project(tmp_path):
    """The standalone project in child processes, migrated, with 40 learners and the demo courses."""
    from tests.standalone_project import StandaloneProject

    project = StandaloneProject(tmp_path / "var")
    project.manage("migrate", "-v0", clickhouse="unused")
    project.manage(
        "shell",
        "-c",
        "from demo.seed import seed_users, seed_courses; seed_users(40); seed_courses()",
        clickhouse="unused",
    )
    return project


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    """A MariaDB server with an LMS database in it, one per test module; (server, the data it holds)."""
    from tests.lms_database import load_lms

    with services.mariadb_server(tmp_path_factory.mktemp("mariadb")) as server:
        yield server, load_lms(server.root_connect())


@pytest.fixture
def replica(lms, tmp_path):
    """The standalone project reading the LMS database with the SELECT-only account; its state apart."""
    from tests.lms_database import READER, database_url
    from tests.standalone_project import StandaloneProject

    server, _ = lms
    project = StandaloneProject(tmp_path / "var", BACKFILL_DATABASE=database_url(server.port, READER))
    project.manage("migrate", "-v0", clickhouse="unused")
    return project


def pytest_sessionfinish(session, exitstatus):
    """The run's working folder (test database, embedded ClickHouse, dead letters) goes with it."""
    import shutil

    shutil.rmtree(settings.BACKFILL_VAR_DIR, ignore_errors=True)
