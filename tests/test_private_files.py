"""Personal data on disk: private files and folders, kept where they outlive the container."""

from __future__ import annotations

import json
import stat

from django.test import override_settings

from backfill_app.core import conf
from backfill_app.reporting import dead_letter
from backfill_app.reporting.dead_letter import dead_letter_summary, ephemeral_reason
from backfill_app.sinks.statement_file_format import statement_file_rows
from backfill_project.database_url import sqlite_database
from tests.commands import local_source, run_command, summary_value, transform_to_files
from tests.corpus_fixtures import build_corpus

# /proc/self/mounts of a Tutor LMS container: the image's overlay, the host's data/lms on /openedx/data.
TUTOR_CONTAINER_MOUNTS = """\
overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0
/dev/sda1 /openedx/data ext4 rw,relatime 0 0
/dev/sda1 /openedx/media ext4 rw,relatime 0 0
/dev/sda1 /etc/hosts ext4 rw,relatime 0 0
"""


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_dead_letter_file_and_the_folders_made_for_it_are_private(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path)
    (tmp_path / "shared").mkdir(mode=0o755)  # say, the platform's data folder
    (tmp_path / "shared").chmod(0o755)
    var = tmp_path / "shared" / "fresh" / "var"
    with override_settings(BACKFILL_VAR_DIR=str(var)):
        output = run_command(source=local_source(corpus.folder))

    path = tmp_path / summary_value(output, "Dead-letter file")
    assert path.parent == var / "dead-letter" and len(path.read_text().splitlines()) == len(corpus.faults)
    assert mode(path) == 0o600
    assert mode(var / "dead-letter") == mode(var) == mode(var.parent) == 0o700
    assert mode(tmp_path / "shared") == 0o755  # a folder that existed is left as it was


def test_the_default_dead_letter_folder_is_made_private_even_when_it_existed(tmp_path, db, xapi_table):
    corpus = build_corpus(tmp_path)
    (tmp_path / "var" / "dead-letter").mkdir(parents=True, mode=0o755)
    with override_settings(BACKFILL_VAR_DIR=str(tmp_path / "var")):
        run_command(source=local_source(corpus.folder))
    assert mode(tmp_path / "var" / "dead-letter") == 0o700


def test_statement_files_on_a_local_folder_are_private(tmp_path, db):
    corpus = build_corpus(tmp_path, with_faults=False)
    (tmp_path / "out" / "statements").mkdir(parents=True)
    transform_to_files(corpus, "LOCAL", {"key": str(tmp_path / "out"), "container": "statements", "prefix": "xapi"})

    (run,) = (tmp_path / "out" / "statements" / "xapi").iterdir()
    files = sorted(run.iterdir())
    assert len(files) > 2 and (run / "manifest.json") in files
    assert mode(run) == 0o700 and {mode(path) for path in files} == {0o600}
    assert statement_file_rows("xapi-000001.jsonl.zst", (run / "xapi-000001.jsonl.zst").read_bytes())[0].startswith(
        b'{"event_id"'
    )


def test_the_standalone_state_database_is_created_private(tmp_path):
    database = sqlite_database(str(tmp_path / "state" / "backfill.sqlite3"))
    assert mode(tmp_path / "state" / "backfill.sqlite3") == 0o600 and mode(tmp_path / "state") == 0o700
    assert database["NAME"] == str(tmp_path / "state" / "backfill.sqlite3")


def test_inside_the_platform_the_default_folder_is_under_its_data_folder(tmp_path):
    with override_settings(BACKFILL_VAR_DIR=None, DATA_DIR=str(tmp_path / "openedx" / "data")):
        assert conf.var_dir() == str(tmp_path / "openedx" / "data" / "backfill")
    with override_settings(BACKFILL_VAR_DIR=str(tmp_path / "mine"), DATA_DIR="/openedx/data"):
        assert conf.var_dir() == str(tmp_path / "mine")


def test_a_folder_thrown_away_with_the_container_is_named_in_the_summary(tmp_path, monkeypatch):
    mounts = tmp_path / "mounts"
    mounts.write_text(TUTOR_CONTAINER_MOUNTS)

    # The image's code folder (the current directory of `tutor local run lms ...`): lost.
    assert ephemeral_reason("/openedx/edx-platform/var/dead-letter/x.jsonl", str(mounts)) == (
        "the container's own file system (overlay mounted at /)"
    )
    # The host's data/lms, mounted by Tutor: kept.
    assert ephemeral_reason("/openedx/data/backfill/dead-letter/x.jsonl", str(mounts)) is None
    assert ephemeral_reason("/openedx/data", str(mounts)) is None
    assert ephemeral_reason("/anything", str(tmp_path / "no-such-file")) is None

    monkeypatch.setattr(dead_letter, "MOUNTS_FILE", str(mounts))
    lost = dead_letter_summary("/openedx/edx-platform/var/dead-letter/x.jsonl")
    assert lost[0] == "Dead-letter file: /openedx/edx-platform/var/dead-letter/x.jsonl"
    assert lost[1].startswith("WARNING: the dead-letter file is in the container's own file system")
    assert "--dead_letter_path" in lost[1] and "BACKFILL_VAR_DIR" in lost[1]
    assert dead_letter_summary("/openedx/data/backfill/dead-letter/x.jsonl") == [
        "Dead-letter file: /openedx/data/backfill/dead-letter/x.jsonl"
    ]
    assert json.dumps(dead_letter_summary(None)) == '["Dead-letter file: none (nothing was set aside)"]'
