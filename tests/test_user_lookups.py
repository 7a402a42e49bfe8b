"""
A block's users are looked up together. Standalone, where a retired user is a plain username
lookup (no retirement records), a key that matched no user by id or by name is unknown at once,
with no query of its own. In the LMS, where retirement records decide, such a key still goes
through ERB's own ``get_user``, which finds a retired learner under the name the logs hold.
"""

from __future__ import annotations

import hashlib

import pytest
from django.contrib.auth import get_user_model
from event_routing_backends import helpers as erb_helpers

from backfill_app.standalone.models import ExternalId, ExternalIdType
from backfill_app.transform.lookup_failures import UnknownUser
from backfill_app.transform.lookups import PlatformLookups

pytestmark = pytest.mark.django_db


def retired_name(username: str) -> str:
    """The name a retired learner's account is renamed to (the platform hashes the old one)."""
    return f"retired__user_{hashlib.sha1(username.encode()).hexdigest()}"


def platform_retired_user_lookup(username: str):
    """The LMS's get_potentially_retired_user_by_username, as it behaves: absent here, so stood in for."""
    User = get_user_model()
    return User.objects.filter(username__in=[username, retired_name(username)]).first()


def test_standalone_keys_of_no_user_are_unknown_with_no_query_each(django_assert_num_queries):
    get_user_model().objects.create(id=5, username="known")
    lookups = PlatformLookups()
    lookups.prefetch_actors([5, "known", 404, "nobody", "7"], "XAPI")
    with django_assert_num_queries(0):
        assert lookups.get_anonymous_user_id(5, "XAPI") == lookups.get_anonymous_user_id("known", "XAPI")
        for key in (404, "nobody", "7"):
            with pytest.raises(UnknownUser):
                lookups.get_anonymous_user_id(key, "XAPI")


def test_in_the_lms_a_key_of_no_user_is_still_asked_about_retirement(monkeypatch):
    monkeypatch.setattr(erb_helpers, "get_potentially_retired_user_by_username", platform_retired_user_lookup)
    retired = get_user_model().objects.create(id=9, username=retired_name("gone"))
    kept = ExternalId.objects.create(user=retired, external_id_type=ExternalIdType.objects.get(name="xapi"))
    lookups = PlatformLookups()
    lookups.prefetch_actors(["gone", "nobody"], "XAPI")
    assert lookups.get_anonymous_user_id("gone", "XAPI") == str(kept.external_user_id)
    with pytest.raises(UnknownUser):
        lookups.get_anonymous_user_id("nobody", "XAPI")


def test_without_the_external_id_type_a_block_asks_no_query(django_assert_num_queries):
    """A platform without the xapi ExternalIdType row: read once a run, not once a block."""
    ExternalIdType.objects.filter(name="xapi").delete()
    get_user_model().objects.create(id=5, username="known")
    lookups = PlatformLookups()
    lookups.prefetch_actors([5], "XAPI")
    with django_assert_num_queries(0):
        lookups.prefetch_actors(["known"], "XAPI")
