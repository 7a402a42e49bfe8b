"""
Statements of older edx-event-routing-backends (ERB) releases, made by those releases:
``make older-erb-fixtures`` (or ``.venv/bin/python scripts/older_erb/build.py``).

1. Writes the input (``tests/fixtures/older_erb/``): ``tracking.log`` (Tutor-format lines
   built from ERB's fixture events, ``input_corpus.py``), ``lines.jsonl`` (what each line is:
   kind, template, acting user, learner) and ``platform.json`` (users, their xAPI external
   ids, course names, the LMS root URL).
2. For each release (8.3.1, 9.0.1, 9.3.2), a virtualenv under ``var/older-erb/`` (gitignored)
   with that release and Django 4.2 on Python 3.11: the exact set of ``pip-freeze/erb-R.txt``
   when that file exists (``--resolve`` resolves again and rewrites it), reused while it
   holds that set.
3. Runs ``erb_transform.py`` with that virtualenv's Python, and with this one (today's ERB,
   the project's venv): ``erb-R.jsonl`` for each, the same program, input and platform data.
4. Writes ``manifest.json`` (files, versions, counts) and ``README.md`` (the command, the
   packages, what differs from today's release, counted from the files just written).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FIXTURES = REPO / "tests" / "fixtures" / "older_erb"
VENVS = REPO / "var" / "older-erb"
RELEASES = ("8.3.1", "9.0.1", "9.3.2")
DJANGO = "Django>=4.2,<4.3"
COMMAND = "make older-erb-fixtures"
# The one field every release writes differently whatever the event: left out when content is compared.
TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"
PIP_NOISE = "is ignored: it is neither a file nor a directory"  # this machine's pip config (see the Makefile)


def python311() -> str:
    given = os.environ.get("PYTHON311")
    if given:
        return given
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    try:
        pyenv_root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(glob.glob(f"{pyenv_root}/versions/3.11.*/bin/python")) or [shutil.which("python3.11") or ""]
    if not found[-1]:
        sys.exit("Python 3.11 not found: set PYTHON311=/path/to/python3.11")
    return found[-1]


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    if result.returncode:
        noise_free = "\n".join(line for line in result.stderr.splitlines() if PIP_NOISE not in line)
        sys.exit(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}\n{noise_free}")
    return result


def freeze(venv: Path) -> str:
    lines = run([venv / "bin" / "python", "-m", "pip", "freeze", "--all"]).stdout.splitlines()
    return "".join(f"{line}\n" for line in sorted(lines, key=str.lower) if not line.lower().startswith("pip=="))


def release_venv(release: str, python: str, resolve: bool) -> Path:
    """A virtualenv holding ``release``: the committed set of packages, or a new resolution (``resolve``)."""
    venv = VENVS / f"erb-{release}"
    pinned = FIXTURES / "pip-freeze" / f"erb-{release}.txt"
    if not resolve and pinned.exists() and (venv / "bin" / "python").exists() and freeze(venv) == pinned.read_text():
        print(f"ERB {release}: reusing {venv.relative_to(REPO)}")
        return venv
    print(f"ERB {release}: installing into {venv.relative_to(REPO)} (a few minutes)")
    run([python, "-m", "venv", "--clear", venv])
    pip = [venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if resolve or not pinned.exists():
        run([*pip, f"edx-event-routing-backends=={release}", DJANGO])
        pinned.parent.mkdir(parents=True, exist_ok=True)
        pinned.write_text(freeze(venv))
    else:
        run([*pip, "-r", pinned])
        if freeze(venv) != pinned.read_text():
            sys.exit(f"{venv} does not hold exactly {pinned} after installing it")
    run([venv / "bin" / "python", "-m", "pip", "check"])
    return venv


def transform(python: Path | str, release_file: Path) -> dict:
    result = run(
        [python, HERE / "erb_transform.py", FIXTURES / "platform.json", FIXTURES / "tracking.log", release_file],
        cwd=HERE,  # never the repository root: its packages must not be importable by an older venv
    )
    return json.loads(result.stdout.splitlines()[-1])


def write_input() -> tuple[int, set[str]]:
    """The input files; returns the number of lines and today's allow-list."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backfill_project.settings")
    os.environ.setdefault("BACKFILL_VAR_DIR", str(VENVS / "project"))
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.conf import settings
    from input_corpus import build, platform_data, write

    from demo.seed import FIXTURE_COURSES

    allowed = set(settings.EVENT_TRACKING_BACKENDS_ALLOWED_XAPI_EVENTS)
    entries = build(allowed)
    log, index = write(entries)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    (FIXTURES / "tracking.log").write_text(log, encoding="utf-8")
    (FIXTURES / "lines.jsonl").write_text(index, encoding="utf-8")
    platform = json.dumps(platform_data(dict(FIXTURE_COURSES)), indent=2, ensure_ascii=False) + "\n"
    (FIXTURES / "platform.json").write_text(platform, encoding="utf-8")
    return len(entries), allowed


def statements_by_line(path: Path) -> dict[int, list[dict]]:
    by_line: dict[int, list[dict]] = defaultdict(list)
    for text in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(text)
        if record["statement"] is not None:
            by_line[record["line"]].append(record["statement"])
    return by_line


def without_version(statement: dict) -> dict:
    statement = json.loads(json.dumps(statement))
    statement.get("context", {}).get("extensions", {}).pop(TRANSFORMER_VERSION, None)
    return statement


def changed_paths(old, new, path: str = "") -> list[str]:
    """The JSON paths where two statements differ (``+`` only in today's, ``-`` only in the older)."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in [*old, *(key for key in new if key not in old)]:
            if key not in new:
                found.append(f"-{path}/{key}")
            elif key not in old:
                found.append(f"+{path}/{key}")
            else:
                found += changed_paths(old[key], new[key], f"{path}/{key}")
        return found
    return [] if old == new else [path]


def differences(old: Path, today: Path, index: list[dict]) -> tuple[dict[str, Counter], dict[str, set]]:
    """
    Statements of ``old`` against today's, line by line and in order: class -> event name ->
    count, and class -> the paths that differ.
    """
    names = {entry["line"]: entry["event_name"] for entry in index}
    old_lines, today_lines = statements_by_line(old), statements_by_line(today)
    classes: dict[str, Counter] = defaultdict(Counter)
    paths: dict[str, set] = defaultdict(set)
    for line in sorted(set(old_lines) | set(today_lines)):
        olds, todays = old_lines.get(line, []), today_lines.get(line, [])
        for position in range(max(len(olds), len(todays))):
            if position >= len(olds):
                kind = "only today's release makes it"
            elif position >= len(todays):
                kind = "only the older release makes it"
            else:
                differ = changed_paths(without_version(olds[position]), without_version(todays[position]))
                kind = (
                    "other id"
                    if olds[position]["id"] != todays[position]["id"]
                    else "same id, other content"
                    if differ
                    else "same id, same content"
                )
                paths[kind].update(f"{names[line]}: {path}" for path in differ if path != "/id")
            classes[kind][names[line]] += 1
    return classes, paths


def readme(manifest: dict, tables: dict[str, tuple[dict[str, Counter], dict[str, set]]], index: list[dict]) -> str:
    today = manifest["today"]
    kinds = Counter(entry["kind"] for entry in index)
    parts = [
        "# Statements of older ERB releases (generated: do not edit)\n",
        "Made by each release of edx-event-routing-backends itself, in a virtualenv of that release, from",
        "the same input; rebuilt, with this file, by:\n",
        "```\n" + COMMAND + "\n```\n",
        "(`.venv/bin/python scripts/older_erb/build.py`; `--resolve` installs the releases' newest",
        "dependencies again instead of the sets in `pip-freeze/`). See `scripts/older_erb/` for how.\n",
        "## Files\n",
        "- `tracking.log`: the input, Tutor-format lines built from ERB's fixture events",
        "  (`scripts/older_erb/input_corpus.py`); `lines.jsonl`: one entry per line (`kind`: learner,",
        "  staff_acted, non_ascii; the template; the acting user and the learner). "
        + f"{len(index)} lines: "
        + ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
        + ".",
        "- `platform.json`: the users (with their xAPI external ids), course names and LMS root URL",
        "  every release is given (ERB's platform lookups answer from it).",
        "- `erb-<release>.jsonl`: one line per statement, `{line, event_name, id, statement}`; a line",
        "  of the allow-list without statement has `id` and `statement` null and a `note`.",
        "- `manifest.json`: files, versions, counts. `pip-freeze/`: each release's virtualenv.\n",
        "## Releases\n",
        "| release | Python | Django | tincan | statements | lines without statement | packages |",
        "|---|---|---|---|---|---|---|",
    ]
    for release, entry in manifest["releases"].items():
        packages = entry["packages"]
        where = f"`pip-freeze/erb-{release}.txt`" if release != today else "the project's `.venv`"
        parts.append(
            f"| {release}{' (today)' if release == today else ''} | {entry['python']} | {packages['Django']} "
            f"| {packages['tincan']} | {entry['statements']} | {entry['lines_without_statement']} | {where} |"
        )
    parts.append(
        f"\n## What differs from {today} (counted from these files)\n\n"
        "Statements paired by input line and position; content compared without the transformer-version\n"
        "extension (each release writes its own). `tests/test_older_erb_fixtures.py` checks the\n"
        "classes against what each line is (`lines.jsonl`).\n"
    )
    for release, (classes, paths) in tables.items():
        parts.append(f"### {release}\n")
        parts.append("| class | statements | by event |")
        parts.append("|---|---|---|")
        for kind in sorted(classes):
            by_event = ", ".join(f"{name} {count}" for name, count in sorted(classes[kind].items()))
            if kind == "same id, same content":
                by_event = f"{len(classes[kind])} event types"
            parts.append(f"| {kind} | {sum(classes[kind].values())} | {by_event} |")
        parts.append("\nWhere they differ (`+` only in today's statement, `-` only in the older one):\n")
        parts.extend(f"- {path}" for path in sorted(paths["same id, other content"] | paths["other id"]))
        parts.append("")
    parts.append("## Package sets\n")
    for release in manifest["releases"]:
        if release == today:
            continue
        parts.append(f"`pip-freeze/erb-{release}.txt`:\n")
        parts.append("```\n" + (FIXTURES / "pip-freeze" / f"erb-{release}.txt").read_text() + "```\n")
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--releases", nargs="+", default=list(RELEASES))
    parser.add_argument("--resolve", action="store_true", help="resolve each release's dependencies again")
    args = parser.parse_args()
    lines, _ = write_input()
    print(f"Input: {lines} lines in {(FIXTURES / 'tracking.log').relative_to(REPO)}")
    python = python311()
    results = {}
    for release in args.releases:
        venv = release_venv(release, python, args.resolve)
        results[release] = transform(venv / "bin" / "python", FIXTURES / f"erb-{release}.jsonl")
        if results[release]["release"] != release:
            sys.exit(f"{venv} runs ERB {results[release]['release']}, not {release}")
    today = transform(sys.executable, FIXTURES / "erb-today.jsonl")
    today_file = FIXTURES / f"erb-{today['release']}.jsonl"
    for stale in FIXTURES.glob("erb-*.jsonl"):  # today's release of a previous build
        if stale.stem.removeprefix("erb-") not in [*RELEASES, *args.releases, "today"]:
            stale.unlink()
    (FIXTURES / "erb-today.jsonl").rename(today_file)
    results[today["release"]] = today
    manifest = {
        "command": COMMAND,
        "input": "tracking.log",
        "index": "lines.jsonl",
        "platform": "platform.json",
        "today": today["release"],
        "older": list(args.releases),
        "releases": {
            release: {
                "file": f"erb-{release}.jsonl",
                "sha256": hashlib.sha256((FIXTURES / f"erb-{release}.jsonl").read_bytes()).hexdigest(),
                **{key: value for key, value in result.items() if key != "release"},
            }
            for release, result in results.items()
        },
    }
    (FIXTURES / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    index = [json.loads(text) for text in (FIXTURES / "lines.jsonl").read_text().splitlines()]
    tables = {release: differences(FIXTURES / f"erb-{release}.jsonl", today_file, index) for release in args.releases}
    (FIXTURES / "README.md").write_text(readme(manifest, tables, index))
    for release, result in results.items():
        print(f"ERB {release}: {result['statements']} statements, {result['lines_without_statement']} lines without")
    print(f"Written: {FIXTURES.relative_to(REPO)}/ (README.md says what differs)")


if __name__ == "__main__":
    main()
