"""
Today's default Aspects install as an operator's Tutor renders it: tutor 22, tutor-contrib-aspects
6.1.0 and our plugin, the real packages, installed apart from the platform's set as on an
operator's host (.venv-tutor-aspects, made by ``make test``), in a temporary Tutor root.

No Docker daemon runs here: ``tutor local do`` / ``tutor dev do`` hand their job to a ``docker``
on PATH that records what it was asked to run (``docker compose ... run --rm SERVICE sh -e -c
COMMAND``) and answers ``ls`` with no project. Everything before that is tutor's own code.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
TUTOR_VENV = REPO / ".venv-tutor-aspects"
RECORDING_DOCKER = """#!/bin/sh
exec {python} -c 'import json, os, sys
with open(os.environ["DOCKER_CALLS"], "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
print("[]" if "ls" in sys.argv else "")' "$@"
"""


def require_tutor_venv() -> None:
    if not (TUTOR_VENV / "bin" / "tutor").exists():
        raise RuntimeError(f"{TUTOR_VENV} is missing: `make venv-tutor-aspects` (make test does it) installs it.")


class AspectsTutorRoot:
    """A Tutor root with Aspects and our plugin enabled, and the real tutor command run in it."""

    def __init__(self, path: Path, *settings: str):
        require_tutor_venv()
        self.path = path
        bin_folder = path / "fake-bin"
        bin_folder.mkdir(parents=True)
        docker = bin_folder / "docker"
        docker.write_text(RECORDING_DOCKER.format(python=shlex.quote(sys.executable)))
        docker.chmod(0o755)
        self.docker_calls = path / "docker-calls.jsonl"
        self.env = {
            **os.environ,
            "TUTOR_ROOT": str(path),
            "TUTOR_PLUGINS_ROOT": str(path / "plugins"),
            "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
            "DOCKER_CALLS": str(self.docker_calls),
        }
        self.tutor("plugins", "enable", "aspects", "backfill")
        self.save(*settings)

    def tutor(self, *args: str) -> str:
        done = subprocess.run(
            [str(TUTOR_VENV / "bin" / "tutor"), *args], env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(f"tutor {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def save(self, *settings: str) -> None:
        """``tutor config save --set NAME=VALUE ...``: values as an operator types them (YAML)."""
        self.tutor("config", "save", *[word for setting in settings for word in ("--set", setting)])

    def render(self, template: str) -> str:
        """A template string rendered with this root's config and plugins (patches, filters)."""
        return self._render("string", template)

    def render_file(self, path: str) -> str:
        return self._render("file", path)

    def _render(self, kind: str, what: str) -> str:
        script = Path(__file__).parent / "tutor_render.py"
        done = subprocess.run(
            [str(TUTOR_VENV / "bin" / "python"), str(script), str(self.path), kind, what],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def read(self, *parts: str) -> str:
        return self.path.joinpath("env", *parts).read_text()

    def compose(self, *parts: str) -> dict:
        return yaml.safe_load(self.read(*parts))

    def job_run(self, mode: str, job: str, *options: str) -> tuple[list[str], str, str]:
        """``tutor MODE do JOB OPTIONS``: (the compose files given, the service run, the shell command)."""
        self.docker_calls.unlink(missing_ok=True)
        self.tutor(mode, "do", job, *options)
        calls = [json.loads(line) for line in self.docker_calls.read_text().splitlines()]
        (run,) = [call for call in calls if "run" in call]
        files = [run[index + 1] for index, word in enumerate(run) if word == "-f"]
        service, shell, minus_e, minus_c, command = run[run.index("--rm") + 1 :][-5:]
        assert (shell, minus_e, minus_c) == ("sh", "-e", "-c"), run
        return files, service, command


def platform_settings(root: AspectsTutorRoot) -> dict:
    """
    What the LMS's settings get from the plugins (Aspects' ``openedx-common-settings`` patch and
    ours), executed as the platform's settings module executes them: the upper-case names.
    """
    namespace: dict = {}
    exec(compile(root.render('{{ patch("openedx-common-settings") }}'), "openedx-common-settings", "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def migrated_aspects_schema(root: AspectsTutorRoot, folder: Path) -> dict:
    """Tables and columns (in order) that Aspects' rendered init script and migrations build."""
    init_script = folder / "init-clickhouse.sh"
    init_script.write_text(root.render_file("aspects/jobs/init/clickhouse/init-clickhouse.sh"))
    versions = root.path / "env/plugins/aspects/apps/aspects/migrations/alembic/versions"
    done = subprocess.run(
        [sys.executable, "-m", "tests.aspects_migrations", str(init_script), str(versions), str(folder / "clickhouse")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)
