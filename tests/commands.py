"""
Our management commands run as an operator runs them, and what a test reads of their output:
the helpers the command tests share (kept here, not imported from one another's test files).
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests import services

# What Ralph adds to a statement it stores.
RALPH_ADDS = ("stored", "authority")


def output_of(command: str, *words: str) -> str:
    """What one of our management commands prints, run with ``words`` as its command line."""
    out = io.StringIO()
    call_command(command, *words, stdout=out)
    return out.getvalue()


def output_and_summary(command: str, *words: str) -> tuple[str, dict]:
    """What one of our commands prints, and the document it writes with ``--summary_json``."""
    return with_summary(output_of, command, *words)


def run_command(*extra, source=None, destination=("--destination_provider", "CLICKHOUSE"), provider="LOCAL") -> str:
    out = io.StringIO()
    call_command(
        "transform_tracking_logs",
        "--source_provider",
        provider,
        "--source_config",
        json.dumps(source),
        *destination,
        "--transformer_type",
        "xapi",
        "--sleep_between_batches_secs",
        "0",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def local_source(folder, prefix=""):
    return {"key": str(folder.parent), "container": folder.name, "prefix": prefix}


def dead_letters(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def summary_json(path: str | Path) -> dict:
    """The ``--summary_json`` document a command wrote at ``path``."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def with_summary(run: Callable[..., str], *words: str, **keywords) -> tuple[str, dict]:
    """
    ``run(*words, "--summary_json=<a temporary file>", **keywords)`` (``run_command``, ``output_of``...):
    what the command printed, and the summary document it wrote.
    """
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "summary.json")
        output = run(*words, f"--summary_json={path}", **keywords)
        return output, summary_json(path)


def failing_with_summary(run: Callable[..., str], *words: str, **keywords) -> tuple[str, dict]:
    """As ``with_summary``, for a run that must end with a CommandError: its message, and the document."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "summary.json")
        with pytest.raises(CommandError) as failure:
            run(*words, f"--summary_json={path}", **keywords)
        return str(failure.value), summary_json(path)


def summary_value(output: str, label: str) -> str:
    return next(line.split(": ", 1)[1] for line in output.splitlines() if line.strip().startswith(label))


def transform_to_files(corpus, provider: str, destination: dict, batch_size: int = 30, *extra) -> str:
    out = io.StringIO()
    call_command(
        "transform_tracking_logs",
        "--source_provider=LOCAL",
        f"--source_config={json.dumps(local_source(corpus.folder))}",
        f"--destination_provider={provider}",
        f"--destination_config={json.dumps(destination)}",
        "--transformer_type=xapi",
        "--sleep_between_batches_secs=0",
        f"--batch_size={batch_size}",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def load_files(provider: str, source: dict) -> str:
    out = io.StringIO()
    call_command(
        "load_xapi_files", f"--source_provider={provider}", f"--source_config={json.dumps(source)}", stdout=out
    )
    return out.getvalue()


def to_lrs(corpus, *extra, config=None, out=None):
    out = out or io.StringIO()
    options = ["--destination_config", json.dumps(config)] if config else []
    call_command(
        "transform_tracking_logs",
        "--source_provider=LOCAL",
        f"--source_config={json.dumps(local_source(corpus.folder))}",
        "--destination_provider=LRS",
        "--transformer_type=xapi",
        "--sleep_between_batches_secs=0",
        *options,
        *extra,
        stdout=out,
    )
    return out.getvalue()


def ralph_config(lrs):
    return {"url": f"{lrs.url}/xAPI/", "username": services.RALPH_USER, "password": services.RALPH_PASSWORD}


def as_sent(statement: dict) -> dict:
    return {key: value for key, value in statement.items() if key not in RALPH_ADDS}


def transform_words(*extra: str, logs: Path) -> list[str]:
    return [
        "transform_tracking_logs", "--source_provider=LOCAL", f"--source_config={json.dumps(local_source(logs))}",
        "--transformer_type=xapi", "--sleep_between_batches_secs=0", *extra,
    ]  # fmt: skip
