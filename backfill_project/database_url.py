"""Turn a database URL (``BACKFILL_DATABASE``, ``BACKFILL_STATE_DATABASE``) into a Django ``DATABASES`` entry."""

from urllib.parse import unquote, urlsplit

import django

from backfill_app.core.private_files import create_private_file

ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "mysql": "django.db.backends.mysql",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
}


def sqlite_database(path: str) -> dict:
    """
    Several processes write to it (--workers, Celery workers): a write transaction takes its
    lock when it begins and waits for another's, instead of failing with "database is locked"
    when it upgrades from reading; readers do not block the writer (WAL). The file is made
    private before sqlite opens it (its journal files take the same mode): it holds user ids.
    """
    create_private_file(path)
    if django.VERSION < (5, 1):  # no transaction_mode nor init_command: a backend that does the same
        return {"ENGINE": "backfill_project.sqlite_immediate", "NAME": path, "OPTIONS": {"timeout": 30}}
    return {
        "ENGINE": ENGINES["sqlite"],
        "NAME": path,
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
    }


def database_from_url(url: str) -> dict:
    """
    ``sqlite:///abs/path.db``, ``mysql://user:password@host:3306/edxapp`` or
    ``postgres://...``; a bare path is taken as a sqlite file.
    """
    if "://" not in url:
        return sqlite_database(url)
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ENGINES:
        raise ValueError(
            f"Unknown database scheme {scheme!r} in a database URL; use one of {', '.join(sorted(ENGINES))}"
        )
    if scheme == "sqlite":
        return sqlite_database(unquote(parts.path))
    options = {"charset": "utf8mb4"} if scheme == "mysql" else {}  # the LMS's tables are utf8mb4
    return {
        "ENGINE": ENGINES[scheme],
        "OPTIONS": options,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
