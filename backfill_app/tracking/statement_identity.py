"""
Whose statement ids a run makes, checked against the destination before it writes.

ERB's statement id is a uuid5 of the verb, the actor's JSON and the event's time; the actor's
JSON holds the LMS root URL (its ``homePage``) and the kind of identifier the platform uses
(``XAPI_AGENT_IFI_TYPE``). A run whose settings differ from those that made the statements a
destination already holds writes the same events again under other ids: every Aspects chart
counts them twice, and no id check can tell. So before writing, a sample of the statements
the destination holds is read and compared with what this run would write; a difference
refuses the run, naming the setting, both values and how to set it.

Standalone, the LMS root URL has no silent default: unset, it is taken from the destination's
statements when they agree on one, and a run that writes is refused otherwise.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.test import override_settings

from backfill_app.core import conf
from backfill_app.core.errors import Refused
from backfill_app.sinks.destinations import OpenDestination

# The statements read from the destination to learn whose ids it holds (the latest ones).
SAMPLED_STATEMENTS = 10_000
# ERB's actor for each XAPI_AGENT_IFI_TYPE: the key its Agent has.
IFI_OF_ACTOR_KEY = {"account": "external_id", "mbox": "mbox", "mbox_sha1sum": "mbox_sha1sum"}
OVERRIDE_OPTION = "--allow_other_statement_ids"


@dataclass(frozen=True)
class StatementIdentity:
    """What in a statement decides its id besides the event: the actor's identifier kind and home page."""

    ifi: str  # external_id, mbox or mbox_sha1sum (XAPI_AGENT_IFI_TYPE)
    home_page: str  # the account's homePage (the LMS root URL); "" for mbox actors

    def describe(self) -> str:
        if self.ifi != "external_id":
            return f"actors identified by {self.ifi} (XAPI_AGENT_IFI_TYPE {self.ifi})"
        return f"actors with the homePage {self.home_page} (external ids, XAPI_AGENT_IFI_TYPE external_id)"


@dataclass
class HeldStatements:
    """What a sample of a destination's statements says of the settings that made them."""

    identities: Counter  # StatementIdentity -> statements
    where: str  # the destination, as the summary names it
    readable: bool = True  # False: the destination cannot list what it holds

    @property
    def sampled(self) -> int:
        return sum(self.identities.values())

    @classmethod
    def read_from(cls, destination: OpenDestination) -> HeldStatements:
        """
        The destination's latest statements, by identity; none readable when it cannot tell:
        statement files (load_xapi_files later drops the ids ClickHouse holds), a dry run, a
        write-only LRS key.
        """
        sample = destination.actor_sample
        actors = sample.latest_actors(SAMPLED_STATEMENTS) if sample is not None else None
        if actors is None:
            return cls(Counter(), destination.describe(), readable=False)
        identities: Counter = Counter()
        for (kind, home_page), count in actors.items():
            ifi = IFI_OF_ACTOR_KEY.get(kind, kind or "no actor ERB makes")
            identities[StatementIdentity(ifi, home_page if ifi == "external_id" else "")] += count
        return cls(identities, destination.describe())


def root_url_setting() -> str:
    """The setting an operator changes: the standalone project's, or the platform's own."""
    return conf.get("BACKFILL_ROOT_URL_SETTING")


def this_runs_identity(root_url: str) -> StatementIdentity:
    ifi = getattr(settings, "XAPI_AGENT_IFI_TYPE", "external_id") or "external_id"
    ifi = ifi if ifi in ("mbox", "mbox_sha1sum") else "external_id"
    return StatementIdentity(ifi, root_url if ifi == "external_id" else "")


def settle_root_url(held: HeldStatements, writes: bool, allow_other_ids: bool, announce: Callable[[str], None]) -> str:
    """
    The LMS root URL this run makes its statements with, once it agrees with the statements the
    destination holds; raises Refused when it does not (unless ``allow_other_ids``, then warns).
    """
    given = conf.get("BACKFILL_LMS_ROOT_URL_GIVEN")
    root_url = settings.LMS_ROOT_URL if given else _root_url_from(held, writes, announce)
    ours = this_runs_identity(root_url)
    if not held.identities or ours in held.identities:
        return root_url
    problem = _difference(ours, held)
    if allow_other_ids:
        announce(f"WARNING: {problem} {OVERRIDE_OPTION} was given: writing anyway.")
        return root_url
    fix = _how_to_fix(ours, held)
    raise Refused(f"{problem} Nothing was written. {fix}, or pass {OVERRIDE_OPTION} for a deliberate migration.")


def _root_url_from(held: HeldStatements, writes: bool, announce: Callable[[str], None]) -> str:
    setting = root_url_setting()
    home_pages: Counter = Counter()
    for identity, count in held.identities.items():
        if identity.ifi == "external_id" and identity.home_page:
            home_pages[identity.home_page] += count
    if len(home_pages) == 1:
        (root_url,) = home_pages
        announce(f"{setting} is not set: using {root_url}, the homePage of the statements {held.where} holds.")
        return root_url
    if not writes:
        announce(f"{setting} is not set: statements are made with {settings.LMS_ROOT_URL} (a dry run writes none).")
        return settings.LMS_ROOT_URL
    if home_pages:
        found = f"its statements hold several: {', '.join(sorted(home_pages))}"
    else:
        found = "it holds no statement to take it from" if held.readable else "it cannot list its statements"
    raise Refused(
        f"{setting} is not set, and {held.where} cannot tell it ({found}). Set it "
        f"to the LMS's LMS_ROOT_URL, which the live pipeline puts in every actor (e.g. {setting}=https://lms.example.com)."
    )


def _difference(ours: StatementIdentity, held: HeldStatements) -> str:
    found = ", ".join(f"{identity.describe()}: {count}" for identity, count in held.identities.most_common(3))
    return (
        f"{held.where} holds statements made with other settings than this run's (of the latest {held.sampled}, "
        f"{found}; this run: {ours.describe()}): the same events would be written again under other ids and "
        "Aspects would count them twice."
    )


def _how_to_fix(ours: StatementIdentity, held: HeldStatements) -> str:
    dominant, _ = held.identities.most_common(1)[0]
    if dominant.ifi != ours.ifi:
        return f"Set XAPI_AGENT_IFI_TYPE = {dominant.ifi!r} in the settings, as the platform that made them has it"
    return f"Set {root_url_setting()}={dominant.home_page}"


@contextmanager
def ids_as_the_destination_holds(
    destination: OpenDestination, writes: bool, allow_other_ids: bool, announce: Callable[[str], None]
) -> Iterator[str]:
    """
    Within the block, statement ids are made with the LMS root URL the destination's statements
    agree with (``settle_root_url``: a difference is refused, unless ``allow_other_ids``).
    """
    root_url = settle_root_url(HeldStatements.read_from(destination), writes, allow_other_ids, announce)
    with lms_root_url_in_use(root_url):
        yield root_url


@contextmanager
def lms_root_url_in_use(root_url: str):
    """The run's root URL in this process's settings, and in the environment its --workers processes inherit."""
    if root_url == settings.LMS_ROOT_URL:
        yield
        return
    previous = os.environ.get("BACKFILL_LMS_ROOT_URL")
    os.environ["BACKFILL_LMS_ROOT_URL"] = root_url
    try:
        with override_settings(LMS_ROOT_URL=root_url, BACKFILL_LMS_ROOT_URL_GIVEN=True):
            yield
    finally:
        if previous is None:
            os.environ.pop("BACKFILL_LMS_ROOT_URL", None)
        else:
            os.environ["BACKFILL_LMS_ROOT_URL"] = previous
