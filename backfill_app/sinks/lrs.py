"""
Statements -> one or more LRS endpoints (xAPI statements resource, or a Caliper endpoint),
in batches, with retries on transient failures and the batch split to isolate statements
that the LRS refuses, so one bad statement never sinks its neighbours.

Before an xAPI batch is posted, what the LRS holds in the batch's time range is read (one GET,
paged) and compared by event (sinks/drift.py): an event an older ERB made live is not posted
again under another id, nor its stale statement taken for today's. Ralph filters ``since`` and
``until`` by the statements' own time, as this needs; an LRS that filters by the time it stored
them (the xAPI specification's reading) returns none of the batch's events, and the ids decide
as before.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import requests

from backfill_app.core import conf
from backfill_app.core.errors import DestinationUnavailable
from backfill_app.core.redaction import url_without_credentials
from backfill_app.core.retry import call_with_retries
from backfill_app.sinks.base import Drifted, Rejected, WriteResult, first_of_each_id
from backfill_app.sinks.drift import compare
from backfill_app.transform.statements import Statement

log = logging.getLogger(__name__)

XAPI_VERSION = "1.0.3"
CALIPER_DATA_VERSION = "http://purl.imsglobal.org/ctx/caliper/v1p2"
ANSWER_CHARS_KEPT = 500
# Statements an LRS lists in a batch's time range up to which they are read and compared by event
# (beyond: by id only). Ralph lists 100 a page: at most 100 requests a batch.
HELD_READ_WHOLE = 10_000
# Answers about the endpoint, not a statement: every statement would get the same one.
ENDPOINT_REFUSALS = {
    401: "check the username and password (or key)",
    403: "check the credentials' permissions (statements/write)",
    404: "check the URL: the xAPI endpoint, e.g. http://ralph:8100/xAPI/",
    405: "check the URL: the xAPI endpoint, e.g. http://ralph:8100/xAPI/",
}


class TransientLrsError(Exception):
    """A timeout, a dropped connection, a 5xx or a 429: worth another try."""


@dataclass(frozen=True)
class LrsEndpoint:
    """Where to POST, and how to authenticate; ``describe()`` is safe to print."""

    url: str
    transformer_type: str = "xapi"
    username: str = ""
    password: str = field(default="", repr=False)
    auth_scheme: str = ""  # "Basic" or "Bearer", with auth_key; or username/password
    auth_key: str = field(default="", repr=False)
    timeout_secs: float = 60.0

    def describe(self) -> str:
        return f"LRS {url_without_credentials(self.url)}"

    def session(self) -> requests.Session:
        session = requests.Session()
        if self.username or self.password:
            session.auth = (self.username, self.password)
        elif self.auth_key:
            session.headers["Authorization"] = f"{self.auth_scheme or 'Bearer'} {self.auth_key}"
        if self.transformer_type == "xapi":
            session.headers["X-Experience-API-Version"] = XAPI_VERSION
        session.headers["Content-Type"] = "application/json"
        return session


def statements_url(url: str) -> str:
    """
    The xAPI endpoint, as ERB's routes give it (``http://ralph:8100/xAPI/``), gets the
    statements resource appended, as tincan does; a URL already ending in it is kept.
    """
    stripped = url.rstrip("/")
    return stripped if stripped.endswith("/statements") else f"{stripped}/statements"


class LrsSink:
    in_process = False
    cpu_role = "writing"

    def __init__(self, endpoints: list[LrsEndpoint]):
        self.endpoints = endpoints
        self._sessions = [endpoint.session() for endpoint in endpoints]
        self._unlisted: set[str] = set()  # endpoints that would not list their statements: ids decide there

    def describe(self) -> str:
        return ", ".join(endpoint.describe() for endpoint in self.endpoints)

    def identity(self) -> str:
        return "lrs|" + ",".join(sorted(endpoint.describe() for endpoint in self.endpoints))

    def write(self, statements: list[Statement]) -> WriteResult:
        unique = first_of_each_id(statements)
        written = already_present = 0
        rejected: list[Rejected] = []
        drifted: list[Drifted] = []
        by_id_only = 0
        for endpoint, session in zip(self.endpoints, self._sessions, strict=True):
            to_send, present, held_otherwise, by_event = self._not_held(endpoint, session, unique)
            result = self._send_isolating(endpoint, session, to_send) if to_send else WriteResult(written=0)
            written += result.written
            already_present += result.already_present + present
            rejected += result.rejected
            drifted += held_otherwise
            by_id_only += 0 if by_event else len(statements)
        return WriteResult(
            written=written,
            already_present=already_present + (len(statements) - len(unique)) * len(self.endpoints),
            rejected=rejected,
            drifted=drifted,
            compared_by_id_only=by_id_only,
        )

    def _not_held(
        self, endpoint: LrsEndpoint, session, statements: list[Statement]
    ) -> tuple[list[Statement], int, list[Drifted], bool]:
        """
        Those to post; how many the LRS holds as they are; those it holds otherwise (by an older ERB);
        whether they were compared by event (not when the LRS did not list them, or listed too many).
        Caliper has no such drift: its statements are posted as they are.
        """
        if not statements or endpoint.transformer_type != "xapi":
            return statements, 0, [], True
        if endpoint.url in self._unlisted:
            return statements, 0, [], False
        first = min(statement.timestamp for statement in statements)
        last = max(statement.timestamp for statement in statements)
        held = self._held_between(endpoint, session, first, last)
        if held is None:
            return statements, 0, [], False
        if not held:
            return statements, 0, [], True
        comparison = compare([(statement.id, statement.json) for statement in statements], held)
        held_otherwise = [
            Drifted(
                drift.kind, drift.found_id, drift.differs_at, drift.verb,
                statements[drift.position].source, statements[drift.position].line_number,
                statements[drift.position].json, drift.newer,
            )
            for drift in comparison.drifted
        ]  # fmt: skip
        not_sent = comparison.not_written
        to_send = [statement for position, statement in enumerate(statements) if position not in not_sent]
        return to_send, len(comparison.present), held_otherwise, True

    def _held_between(self, endpoint: LrsEndpoint, session, first: datetime, last: datetime) -> dict[str, dict] | None:
        """id -> statement the LRS lists between ``first`` and ``last``; None when it will not say, or says too much."""
        # since is exclusive, until inclusive; a moment without a zone is UTC (ERB's timestamps are).
        since, until = (moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in (first, last))
        params: dict | None = {"since": (since - timedelta(microseconds=1)).isoformat(), "until": until.isoformat()}
        url, held = endpoint.url, {}
        while url:
            page = _statements_page(session, endpoint, url, params)
            if page.statements is None:
                # Busy or unreachable for now: this batch by id (counted), the next one listed again.
                # Refused or answered with no list (a write-only key): ids decide for the rest of the run.
                if not page.passing:
                    self._unlisted.add(endpoint.url)
                log.warning(
                    "%s did not list its statements: %s compared with this run's by id only",
                    endpoint.describe(),
                    "this batch's" if page.passing else "its statements are",
                )
                return None
            for statement in page.statements:
                if isinstance(statement, dict) and isinstance(statement.get("id"), str):
                    held[statement["id"]] = statement
            if len(held) > HELD_READ_WHOLE:
                return None
            url, params = page.more, None
        return held

    def latest_actors(self, limit: int) -> Counter | None:
        """
        (actor identifier kind, account homePage) of the latest statements of each xAPI endpoint,
        counted; None when an endpoint will not list its statements (a write-only key).
        """
        found: Counter = Counter()
        for endpoint, session in zip(self.endpoints, self._sessions, strict=True):
            if endpoint.transformer_type != "xapi":
                return None
            statements = _statements_page(session, endpoint, endpoint.url, {"limit": limit}).statements
            if statements is None:
                log.warning("%s did not list its statements: not compared with this run's", endpoint.describe())
                return None
            for statement in statements:
                actor = statement.get("actor") if isinstance(statement, dict) else None
                found[actor_identifier(actor)] += 1
        return found

    def _send_isolating(self, endpoint: LrsEndpoint, session, statements: list[Statement]) -> WriteResult:
        status, answer = self._post(endpoint, session, statements)
        if status < 300:
            stored = _stored_count(endpoint, status, answer, len(statements))
            return WriteResult(written=stored, already_present=len(statements) - stored)
        if status in ENDPOINT_REFUSALS:
            raise DestinationUnavailable(
                f"{endpoint.describe()} answered {status} to {url_without_credentials(endpoint.url)}: "
                f"{ENDPOINT_REFUSALS[status]}"
            )
        if len(statements) == 1:
            reason = f"{endpoint.describe()} answered {status}: {answer[:ANSWER_CHARS_KEPT]}"
            return WriteResult(written=0, rejected=[Rejected(statements[0], reason)])
        middle = len(statements) // 2
        first = self._send_isolating(endpoint, session, statements[:middle])
        second = self._send_isolating(endpoint, session, statements[middle:])
        return WriteResult(
            written=first.written + second.written,
            already_present=first.already_present + second.already_present,
            rejected=first.rejected + second.rejected,
        )

    def _post(self, endpoint: LrsEndpoint, session, statements: list[Statement]) -> tuple[int, str]:
        body = _request_body(endpoint, statements)

        def post_once():
            try:
                response = session.post(endpoint.url, data=body, timeout=endpoint.timeout_secs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise TransientLrsError(type(exc).__name__) from None
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientLrsError(f"HTTP {response.status_code}")
            return response.status_code, response.text

        try:
            return call_with_retries(
                post_once,
                retry_on=(TransientLrsError,),
                what=f"POST to {endpoint.describe()}",
            )
        except TransientLrsError as exc:
            raise DestinationUnavailable(f"{endpoint.describe()} did not accept the batch: {exc}") from None

    def close(self) -> None:
        for session in self._sessions:
            session.close()


@dataclass(frozen=True)
class StatementsPage:
    statements: list | None  # None: the LRS did not list them
    more: str = ""  # the next page's URL, on the LRS's own origin ("" when none)
    passing: bool = False  # not listed for a reason that passes (a timeout, a 5xx, a 429)


def _statements_page(session, endpoint: LrsEndpoint, url: str, params: dict | None) -> StatementsPage:
    """One GET of the statements resource, whatever the LRS answers."""
    try:
        response = session.get(url, params=params, timeout=endpoint.timeout_secs)
        passing = response.status_code >= 500 or response.status_code == 429
        page = response.json() if response.status_code == 200 else {}
    except (requests.ConnectionError, requests.Timeout):
        return StatementsPage(None, passing=True)
    except (requests.RequestException, ValueError):
        return StatementsPage(None)
    listed, more = (page.get("statements"), page.get("more")) if isinstance(page, dict) else (None, None)
    if not isinstance(listed, list):
        return StatementsPage(None, passing=passing)
    following = urljoin(endpoint.url, more) if isinstance(more, str) and more else ""
    # The session carries the LRS's credentials: a next page elsewhere is not asked for.
    if following and urlsplit(following)[:2] != urlsplit(endpoint.url)[:2]:
        return StatementsPage(None)
    return StatementsPage(listed, following)


def actor_identifier(actor) -> tuple[str, str]:
    """(the kind of an xAPI actor's identifier, its account's homePage or "")."""
    if not isinstance(actor, dict):
        return ("", "")
    kind = next((key for key in ("account", "mbox", "mbox_sha1sum") if key in actor), "")
    account = actor.get("account")
    home_page = account.get("homePage", "") if kind == "account" and isinstance(account, dict) else ""
    return (kind, home_page if isinstance(home_page, str) else "")


def _request_body(endpoint: LrsEndpoint, statements: list[Statement]) -> bytes:
    # The statements are already JSON: joined, not parsed and dumped again.
    joined = ",".join(statement.json for statement in statements)
    if endpoint.transformer_type == "xapi":
        return f"[{joined}]".encode()
    envelope_head = json.dumps(
        {"sensor": conf.lms_root_url(), "sendTime": _now_iso(), "dataVersion": CALIPER_DATA_VERSION}
    )
    return f'{envelope_head[:-1]}, "data": [{joined}]}}'.encode()


def _stored_count(endpoint: LrsEndpoint, status: int, answer: str, sent: int) -> int:
    """xAPI: 200 lists the ids stored (an id already there is left out), 204 stores none."""
    if endpoint.transformer_type != "xapi":
        return sent
    if status == 204:
        return 0
    try:
        return len(json.loads(answer))
    except (ValueError, TypeError):
        return sent


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
