"""The one place that keeps secrets out of messages and logs."""

import re
from urllib.parse import urlsplit, urlunsplit


def url_without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if not (parts.username or parts.password):
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def redact(text: str, secrets) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(str(secret), "***")
    return text


def first_line_without(text: str, secrets, limit: int = 300) -> str:
    """A message's first line, at most ``limit`` characters, ``secrets`` taken out before it is cut."""
    first_line = text.splitlines()[0] if text else ""
    return redact(first_line, secrets)[:limit]


def short_reason(exc: Exception, secrets) -> str:
    """The cause of a connection failure in a few words ("[Errno 111] Connection refused")."""
    text = redact(str(exc), secrets)
    if match := re.search(r"\[Errno -?\d+\][^\"')]*", text):
        return match.group(0).strip()
    return first_line_without(text, secrets) or type(exc).__name__
