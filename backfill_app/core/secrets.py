"""
Secrets by reference. A value of a JSON config (``--source_config``, ``--destination_config``)
may be ``{"env": "NAME"}`` (an environment variable) or ``{"file": "/run/secrets/x"}`` (a
file's content, its trailing newline dropped), and a whole config may be given as
``@/path/config.json``. References are turned into values at the last moment, in the process
that uses them (a --workers process, a Celery worker): everything that crosses a process or a
queue carries the reference, never the value. A secret written inline still works; the command
says once that every user of the machine can read it in the process list.

S3-compatible storage given no ``key`` takes the credentials the AWS tools read: the
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` variables, else the
shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``, ``~/.aws/credentials``, profile
``AWS_PROFILE`` or ``default``).
"""

from __future__ import annotations

import configparser
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from backfill_app.core.errors import BackfillConfigError

# Config keys whose values are secrets, wherever they appear (storage, ClickHouse, LRS).
SECRET_KEYS = frozenset({"secret", "password", "token", "auth_key", "key"})
REFERENCE_KINDS = ("env", "file")
# libcloud providers that speak S3 and take an access key id, secret and session token.
S3_PROVIDERS = ("s3", "minio")


def is_reference(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in REFERENCE_KINDS


def resolved(config: dict, option: str) -> dict:
    """``config`` with every reference replaced by its value, read now, in this process."""
    return {key: _value_of(value, key, option) if is_reference(value) else value for key, value in config.items()}


def _value_of(reference: dict, key: str, option: str) -> str:
    ((kind, name),) = reference.items()
    if kind == "env":
        value = os.environ.get(str(name))
        if value is None:
            raise BackfillConfigError(
                f"{option} '{key}' is the environment variable {name}, which is not set in this process."
            )
        return value
    try:
        return Path(str(name)).expanduser().read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise BackfillConfigError(
            f"{option} '{key}' is the file {name}, which cannot be read here ({exc.strerror or type(exc).__name__})."
        ) from None


def _holds_secret(key: str, value, provider: str) -> bool:
    if key == "key" and provider.lower() == "local":  # LOCAL's key is a folder
        return False
    if key in ("url", "dsn"):
        return isinstance(value, str) and bool(urlsplit(value).password)
    return key in SECRET_KEYS


def inline_secrets(config: dict, provider: str = "") -> list[str]:
    """The keys of ``config`` that hold a secret written inline (a URL's password counts)."""
    return [
        key
        for key, value in config.items()
        if value and not is_reference(value) and _holds_secret(key, value, provider)
    ]


def command_line_notices(options: dict) -> list[str]:
    """Warnings, once each, for the secrets written on a command's line (its options dict)."""
    notices = []
    for option in ("source", "destination"):
        notice = inline_secret_notice(
            options.get(f"{option}_config"), f"--{option}_config", options.get(f"{option}_provider") or ""
        )
        if notice:
            notices.append(notice)
    password, url = options.get("password"), options.get("url")
    if (password and not password.startswith("@")) or (url and urlsplit(url).password):
        notices.append(
            "WARNING: the ClickHouse password is on the command line, where every user of this machine can read it "
            "while the command runs: give it as --password @/path/to/file, or leave it to the settings "
            "(EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG in the platform, BACKFILL_CLICKHOUSE standalone)."
        )
    return notices


def inline_secret_notice(value: str | None, option: str, provider: str = "") -> str | None:
    """
    A warning when an option written on the command line holds a secret (a config read from
    @file does not: the process list shows only its path); None otherwise, or when the option
    is not valid JSON (the command says so on its own).
    """
    if not value or value.startswith("@"):
        return None
    try:
        keys = inline_secrets(json.loads(value), provider)
    except (ValueError, AttributeError):
        return None
    if not keys:
        return None
    return (
        f"WARNING: {option} holds a secret inline ({', '.join(keys)}): while the command runs every user of this "
        "machine can read it in the process list, and it stays in the shell's history. Give it as "
        '{"env": "NAME"} or {"file": "/path"}, or the whole config as @/path/config.json (README: Credentials).'
    )


def aws_credentials() -> dict:
    """The access key id, secret and session token the AWS tools would use here; {} when there are none."""
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    token = os.environ.get("AWS_SESSION_TOKEN")
    if not (key and secret):
        shared = Path(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or Path.home() / ".aws" / "credentials")
        profile = os.environ.get("AWS_PROFILE") or "default"
        parser = configparser.ConfigParser()
        try:
            parser.read(shared, encoding="utf-8")
        except configparser.Error:
            return {}
        if not parser.has_section(profile):
            return {}
        section = parser[profile]
        key, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
        token = section.get("aws_session_token")
        if not (key and secret):
            return {}
    return {"key": key, "secret": secret, **({"token": token} if token else {})}


def secret_values(config: dict, provider: str = "") -> list[str]:
    """The secret values of a resolved config, to redact from any message (a URL: its password)."""
    return [
        urlsplit(value).password if key in ("url", "dsn") else str(value)
        for key, value in config.items()
        if value and _holds_secret(key, value, provider)
    ]
