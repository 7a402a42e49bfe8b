"""
When the fast path runs, and the statements it writes: the parts every xAPI statement shares
(id, actor, verb, timestamp, context) around what the event's builder makes.

The fast path runs only where it was verified: xAPI, an ERB release the differential test ran
against, the external-id actor, no openedx filter configured on ERB's xAPI steps, and for an
event name the registry maps to the very ERB class a builder stands for. Anything else, and any
event a builder hands back, is ERB's.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from importlib import metadata

from django.conf import settings
from event_routing_backends.processors.xapi import constants as xc

from backfill_app.core.json_codec import write_json
from backfill_app.transform.direct import xapi_objects as xo
from backfill_app.transform.direct.builders import BASE, BUILDERS, EventReader, problem_check_child
from backfill_app.transform.direct.fields import NotDirect, read_field
from backfill_app.transform.lookup_failures import LookupFailure

# ERB releases whose xAPI transformers the differential test compares with the builders
# (9.3 is what Aspects installs; the xAPI transformers of 9.3.8 and 10.1.0 are the same code).
VERIFIED_ERB_RELEASES = ("9.3.", "10.1.")
# The tincan release whose serialization the builders write (ERB builds its statements with it).
VERIFIED_TINCAN_RELEASES = ("1.0.",)
XAPI_VERSION = "1.0.3"
FILTER_PREFIX = "event_routing_backends.processors.xapi."
# ERB's get_uuid5 derives each statement's namespace from this base (uuid.NAMESPACE_DNS).
ERB_UUID_BASE = uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
ACTOR_CACHE_ENTRIES = 100_000
NAMESPACE_CACHE_ENTRIES = 10_000
# A uuid's 17th hex digit with its two top bits set to the RFC 4122 variant (binary 10).
RFC_4122_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
KEY_NOT_READ = object()  # "the event's user key was not read before": build reads it


def why_not_direct(transformer_type: str) -> str | None:
    """Why the fast path may not run in this process, or None when it may."""
    from event_routing_backends import __version__ as erb_version

    if transformer_type != "xapi":
        return "statements are Caliper"
    if not erb_version.startswith(VERIFIED_ERB_RELEASES):
        return f"event-routing-backends {erb_version} is not a release the fast path was verified against"
    tincan_version = metadata.version("tincan")
    if not tincan_version.startswith(VERIFIED_TINCAN_RELEASES):
        return f"tincan {tincan_version} is not a release the fast path was verified against"
    if getattr(settings, "XAPI_AGENT_IFI_TYPE", "external_id") != "external_id":
        return "XAPI_AGENT_IFI_TYPE is not external_id"
    configured = getattr(settings, "OPEN_EDX_FILTERS_CONFIG", None) or {}
    if any(str(filter_type).startswith(FILTER_PREFIX) for filter_type in configured):
        return "an openedx filter is configured on ERB's xAPI transformer"
    return None


def user_key(event: dict):
    """The user id or username ERB looks the actor up by (``extract_username_or_userid``)."""
    return (
        read_field(event, "data.user_id")
        or read_field(event, "data.username")
        or read_field(event, "user_id")
        or read_field(event, "username")
    )


class DirectStatements:
    """The fast path of one transformer: ``build`` gives an event's statements, or None for ERB."""

    def __init__(self, registry) -> None:
        from event_routing_backends import __version__ as erb_version
        from event_routing_backends.processors.xapi import transformer as erb_xapi

        self.registry = registry
        self.erb_xapi = erb_xapi  # its lookup bindings are the run's (PlatformLookups.installed)
        self.erb_version = erb_version
        self._settings_seen = None
        self._verbs: dict = {}
        self._namespaces: dict = {}
        self._actors: dict = {}
        self._actors_of_keys: dict = {}  # user key -> the actor's JSON, once the run's look-up found it
        self._actor_lookup = None
        self._parents: dict = {}

    # -- what the run's settings make constant --------------------------------------------

    def _refresh_settings(self) -> None:
        # Read again only when the settings object changes (tests override settings).
        wrapped = getattr(settings, "_wrapped", None)
        if wrapped is self._settings_seen:
            return
        self._settings_seen = wrapped
        self.root_url = settings.LMS_ROOT_URL
        test_release = getattr(settings, "RUNNING_WITH_TEST_SETTINGS", False)
        self.transformer_version = f"event-routing-backends@{'1.1.1' if test_release else self.erb_version}"
        self._actors.clear()
        self._actors_of_keys.clear()
        self._parents.clear()

    def course(self, course_id):
        return self.erb_xapi.get_course_from_id(course_id)

    def course_parent(self, course_id) -> list:
        return self._course_activities(course_id)[0]["parent"]

    def _course_activities(self, course_id) -> tuple[dict, str]:
        """The context activities of a statement in the course (its parent), and their JSON."""
        made = self._parents.get(course_id)
        if made is None:
            name = xo.language_map({xc.EN_US: self.course(course_id)["display_name"]})
            parent = [
                xo.activity(f"{self.root_url}/course/{course_id}", xo.definition(xc.XAPI_ACTIVITY_COURSE, name=name))
            ]
            activities = xo.context_activities(parent=parent)
            made = self._parents[course_id] = (activities, write_json(activities))
        return made

    def _verb(self, transformer_class, event_name, browser: bool) -> tuple[str, str]:
        """The verb's JSON in the statement, and as ERB writes it for the statement id."""
        key = (transformer_class, event_name, browser)
        made = self._verbs.get(key)
        if made is None:
            # ERB's own verb for this class and name (and source, which problem_check reads).
            probe = {"name": event_name, "event_source": "browser" if browser else "server"}
            verb = transformer_class(probe).get_verb()
            made = self._verbs[key] = (write_json(verb.as_version()), verb.to_json())
        return made

    def _actor(self, key) -> str:
        lookup = self.erb_xapi.get_anonymous_user_id
        if lookup is not self._actor_lookup:  # another run's look-ups: found there is not found here
            self._actor_lookup = lookup
            self._actors_of_keys.clear()
        plain_key = type(key) is str or type(key) is int  # hashable, and never equal to another type's
        if plain_key and (known := self._actors_of_keys.get(key)) is not None:
            return known
        anonymous_id = lookup(key, "XAPI")
        made = self._actors.get(anonymous_id)
        if made is None:
            actor = xo.agent(anonymous_id, self.root_url)
            if len(self._actors) >= ACTOR_CACHE_ENTRIES:
                self._actors.clear()
            made = self._actors[anonymous_id] = write_json(actor)
        if plain_key:  # a user's anonymous id does not change during a run
            if len(self._actors_of_keys) >= ACTOR_CACHE_ENTRIES:
                self._actors_of_keys.clear()
            self._actors_of_keys[key] = made
        return made

    def _statement_id(self, namespace_key: str, name: str) -> str:
        """ERB's ``get_uuid5(namespace_key, name)``: uuid5 of ``name`` in a namespace made from the key."""
        namespace = self._namespaces.get(namespace_key)
        if namespace is None:
            if len(self._namespaces) >= NAMESPACE_CACHE_ENTRIES:  # a question's key holds its id: many
                self._namespaces.clear()
            namespace = self._namespaces[namespace_key] = uuid.uuid5(ERB_UUID_BASE, namespace_key).bytes
        # uuid.uuid5 without the UUID object: the SHA-1's first 16 bytes, version 5, RFC 4122 variant.
        text = hashlib.sha1(namespace + name.encode("utf-8"), usedforsecurity=False).hexdigest()
        return f"{text[:8]}-{text[8:12]}-5{text[13:16]}-{RFC_4122_VARIANT[text[16]]}{text[17:20]}-{text[20:32]}"

    # -- one event ------------------------------------------------------------------------

    def build(self, event: dict, user_key_read=KEY_NOT_READ) -> list[tuple[str, datetime, str]] | None:
        """
        [(statement id, timestamp in UTC, JSON)] as ERB makes them, or None: ERB's turn.
        ``user_key_read``: the event's :func:`user_key`, when the caller has read it already.
        """
        transformer_class = self.registry.mapping.get(event.get("name"))
        builder = BUILDERS.get(transformer_class)
        if builder is None:
            return None
        self._refresh_settings()
        reader = EventReader(event, self)
        # The actor is the first thing ERB's transformer looks up (for the statement id): a user
        # it cannot find is ERB's refusal too (LookupFailure goes up), without running ERB.
        try:
            actor_json = self._actor(user_key(event) if user_key_read is KEY_NOT_READ else user_key_read)
        except LookupFailure:
            raise
        except Exception:
            return None
        try:
            return self._statements(reader, transformer_class, builder, actor_json)
        except Exception:  # NotDirect, or whatever ERB would fail on too: ERB decides
            return None

    def _statements(self, reader: EventReader, transformer_class, builder, actor_json: str) -> list:
        parts = builder(reader)
        name = reader.get("name")
        source = reader.get("event_source") or reader.get("context.event_source")
        verb_text, verb_json = self._verb(transformer_class, name, source == "browser" and name == "problem_check")
        raw_time = reader.get("timestamp") or reader.get("time")
        if raw_time is None:
            raise NotDirect("no timestamp")
        written_time, moment = xo.timestamp(raw_time)
        if moment.tzinfo is not UTC:  # fromisoformat gives UTC itself for +00:00 and Z
            moment = moment.astimezone(UTC)  # year 0 in UTC (OverflowError): ERB's path sets the event aside
        extension_values = {
            xc.XAPI_TRANSFORMER_VERSION_KEY: self.transformer_version,
            xc.XAPI_CONTEXT_SESSION_ID: reader.get("session"),
        }
        if parts.extra_extensions:
            extension_values.update(parts.extra_extensions)
        if parts.activities is not BASE:
            activities = parts.activities
            activities_json = None if activities is None else write_json(activities)
        elif (course_id := reader.get("context.course_id")) is not None:
            activities, activities_json = self._course_activities(course_id)
        else:
            activities = activities_json = None
        statement_id = self._statement_id(verb_json, f"{actor_json}-{raw_time}")
        shared = (verb_text, actor_json, written_time, moment)
        made = [self._assemble(statement_id, parts, shared, xo.context_json(extension_values, activities_json))]
        if parts.children:
            if activities is None:
                raise NotDirect("a multi-question problem outside a course")  # ERB fails on it
            for child_id in parts.children:
                child = problem_check_child(reader, child_id)
                child_id_value = self._statement_id(f"{verb_json}-{child_id}", f"{actor_json}-{raw_time}")
                child_activities = xo.context_activities(parent=[parts.object], grouping=activities["parent"])
                child_context = xo.context_json(extension_values, write_json(child_activities), statement_id)
                made.append(self._assemble(child_id_value, child, shared, child_context))
        return made

    @staticmethod
    def _assemble(statement_id: str, parts, shared, context_json: str) -> tuple[str, datetime, str]:
        """
        The statement's JSON, written as ``json.dumps`` writes tincan's statement: its parts made
        once per verb, actor and course are put in as they were written then.
        """
        verb_json, actor_json, written_time, moment = shared
        if not parts.object.get("id"):
            raise NotDirect("no object id")  # the live pipeline drops it; ERB's path says so
        # NaN or Infinity (from a number in the event) is not JSON: write_json refuses it, and
        # ERB's path sets the event aside. The id and the time are ASCII with nothing to escape.
        result = "" if parts.result is None else f'"result": {write_json(parts.result)}, '
        text = (
            f'{{"id": "{statement_id}", {result}"version": "{XAPI_VERSION}", "actor": {actor_json}, '
            f'"verb": {verb_json}, "object": {write_json(parts.object)}, "timestamp": "{written_time}", '
            f'"context": {context_json}}}'
        )
        return statement_id, moment, text
