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


def short_reason(exc: Exception, secrets) -> str:
    """The cause of a connection failure in a few words ("[Errno 111] Connection refused")."""
    text = str(exc)
    if match := re.search(r"\[Errno -?\d+\][^\"')]*", text):
        return match.group(0).strip()
    first_line = text.splitlines()[0] if text else type(exc).__name__
    return redact(first_line[:300], secrets)
