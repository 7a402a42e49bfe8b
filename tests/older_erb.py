"""The statements older ERB releases made of one set of tracking-log lines (tests/fixtures/older_erb)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model

FIXTURES = Path(__file__).parent / "fixtures" / "older_erb"
TODAY = "10.1.0"
TRANSFORMER = "https://w3id.org/xapi/openedx/extension/transformer-version"


def release_statements(release: str) -> list[dict]:
    """{line, event_name, id, statement} of each statement the release made, in line order."""
    with open(FIXTURES / f"erb-{release}.jsonl", encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def seed_platform() -> None:
    """The users, external ids and courses every release was given, in the backfill's database."""
    from backfill_app.standalone.models import CourseOverview, ExternalId, ExternalIdType

    platform = json.loads((FIXTURES / "platform.json").read_text(encoding="utf-8"))
    User = get_user_model()
    xapi = ExternalIdType.objects.get(name=ExternalIdType.XAPI)
    for user in platform["users"]:
        created = User.objects.create(id=user["id"], username=user["username"], email=user["email"])
        ExternalId.objects.create(
            user=created, external_id_type=xapi, external_user_id=uuid.UUID(user["xapi_external_id"])
        )
    for course_id, name in platform["courses"].items():
        CourseOverview.objects.update_or_create(id=course_id, defaults={"display_name": name})
    assert settings.LMS_ROOT_URL == platform["lms_root_url"]


def as_the_installed_erb_makes_it(statement: dict) -> dict:
    """
    Today's statement (ERB 10.1.0's) with the transformer version the installed ERB writes: their
    only difference from 9.3.8 on (the oldest set the suite runs on).
    """
    from event_routing_backends.processors.mixins.base_transformer import BaseTransformerMixin

    version = BaseTransformerMixin.transformer_version.fget(None)  # type: ignore[attr-defined]
    extensions = statement["context"]["extensions"]
    return {**statement, "context": {**statement["context"], "extensions": {**extensions, TRANSFORMER: version}}}
