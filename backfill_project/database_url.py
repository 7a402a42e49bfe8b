"""Turn ``BACKFILL_DATABASE`` (a database URL) into a Django ``DATABASES`` entry."""

from urllib.parse import unquote, urlsplit

ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "mysql": "django.db.backends.mysql",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
}


def database_from_url(url: str) -> dict:
    """
    ``sqlite:///abs/path.db``, ``mysql://user:password@host:3306/edxapp`` or
    ``postgres://...``; a bare path is taken as a sqlite file.
    """
    if "://" not in url:
        return {"ENGINE": ENGINES["sqlite"], "NAME": url}
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ENGINES:
        raise ValueError(
            f"BACKFILL_DATABASE: unknown database scheme {scheme!r}; use one of {', '.join(sorted(ENGINES))}"
        )
    if scheme == "sqlite":
        return {"ENGINE": ENGINES["sqlite"], "NAME": unquote(parts.path)}
    return {
        "ENGINE": ENGINES[scheme],
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
