"""
Our statements equal event-routing-backends' expected statements for its own fixtures,
under the conventions of ERB's tests (tests/fixtures/erb/README.md): one mocked external
id, test settings, course name "Demonstration Course".
"""

from __future__ import annotations

import json
import uuid
from contextlib import nullcontext

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from openedx_filters import PipelineStep

from backfill_app.standalone.models import CourseOverview, ExternalId, ExternalIdType
from backfill_app.transform.accelerations import erb_accelerated
from backfill_app.transform.lookups import PlatformLookups
from backfill_app.transform.statements import StatementTransformer, TransformFailure
from backfill_app.transform.transformer_memo import MEMOIZED
from demo.corpus import erb_expected_statements, erb_raw_events
from demo.seed import FIXTURE_COURSES

MOCKED_EXTERNAL_ID = uuid.UUID("32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb")
RAW_EVENTS = erb_raw_events()
EXPECTED = {kind: erb_expected_statements(kind) for kind in ("xapi", "caliper")}

ERB_TEST_SETTINGS = override_settings(RUNNING_WITH_TEST_SETTINGS=True, LMS_ROOT_URL="http://localhost:18000")


def give_event_user_the_mocked_id(transformer: StatementTransformer, event: dict, external_type: str) -> None:
    """The user the transformer will look up exists and has the mocked anonymous id."""
    user_key = transformer.registry.get_transformer(event).extract_username_or_userid()
    if not user_key:
        return
    User = get_user_model()
    if str(user_key).isdigit():
        user, _ = User.objects.get_or_create(id=int(user_key), defaults={"username": f"user{user_key}"})
    else:
        user, _ = User.objects.get_or_create(username=user_key)
    ExternalId.objects.all().delete()
    ExternalId.objects.create(
        user=user, external_id_type=ExternalIdType.objects.get(name=external_type), external_user_id=MOCKED_EXTERNAL_ID
    )
    for course_id in FIXTURE_COURSES:
        CourseOverview.objects.update_or_create(id=course_id, defaults={"display_name": "Demonstration Course"})


PATHS = ("fast path", "ERB accelerated", "ERB as shipped")


def transformed(transformer_type: str, event: dict, how: str = "fast path", path: list | None = None) -> list[dict]:
    """
    As a backfill makes them (the fast path, ERB for what it hands back), or through ERB
    only: with our accelerations, as a backfill's ERB path runs it, or as shipped. ``path``
    receives the path that made them ("direct" or "erb").
    """
    with override_settings(BACKFILL_DIRECT_STATEMENTS=how == "fast path"):
        transformer = StatementTransformer(transformer_type, verify_sample=0)
    give_event_user_the_mocked_id(transformer, event, transformer_type)
    accelerated = erb_accelerated() if how != "ERB as shipped" else nullcontext()
    with ERB_TEST_SETTINGS, PlatformLookups().installed(), accelerated:
        made = [json.loads(statement.json) for statement in transformer.transform(event)]
    if path is not None:
        path.append(transformer.last_path)
    return made


def has_object_id(expected) -> bool:
    return all(
        statement.get("object", {}).get("id") for statement in (expected if isinstance(expected, list) else [expected])
    )


XAPI_TRANSFORMED = sorted(name for name in EXPECTED["xapi"] if name in RAW_EVENTS and "anonymous" not in name)
XAPI_CASES = [name for name in XAPI_TRANSFORMED if has_object_id(EXPECTED["xapi"][name])]
# ERB's transformer makes these, but its live xAPI processor drops a statement without an object id.
XAPI_DROPPED_LIVE = [name for name in XAPI_TRANSFORMED if not has_object_id(EXPECTED["xapi"][name])]
CALIPER_CASES = sorted(name for name in EXPECTED["caliper"] if name in RAW_EVENTS and "anonymous" not in name)


def test_every_erb_fixture_with_an_expected_statement_is_covered():
    assert len(XAPI_TRANSFORMED) == 76 and len(CALIPER_CASES) == 34
    assert XAPI_DROPPED_LIVE == ["problem_check(browser).required.only.data"]


@pytest.mark.django_db
@pytest.mark.parametrize("how", PATHS)
@pytest.mark.parametrize("name", XAPI_CASES)
def test_xapi_statements_equal_erbs_expected_statements(name, how):
    expected = EXPECTED["xapi"][name]
    path: list[str] = []
    assert transformed("xapi", RAW_EVENTS[name], how, path) == (expected if isinstance(expected, list) else [expected])
    assert path == ["direct" if how == "fast path" else "erb"], "the way named is the way taken"


@pytest.mark.django_db
@pytest.mark.parametrize("name", CALIPER_CASES)
def test_caliper_statements_equal_erbs_expected_statements_but_for_the_random_id(name):
    (statement,) = transformed("caliper", RAW_EVENTS[name])
    assert statement.pop("id").startswith("urn:uuid:")
    expected = dict(EXPECTED["caliper"][name])
    expected.pop("id")
    assert statement == expected


@pytest.mark.django_db
@pytest.mark.parametrize("name", XAPI_DROPPED_LIVE)
def test_a_statement_the_live_pipeline_drops_is_set_aside_not_written(name):
    with pytest.raises(TransformFailure) as failure:
        transformed("xapi", RAW_EVENTS[name])
    assert failure.value.reason == "no_object_id"


@pytest.mark.django_db
def test_an_event_of_an_anonymous_user_is_refused_like_erb_refuses_it_with_its_own_reason():
    with pytest.raises(TransformFailure) as failure:
        transformed("xapi", RAW_EVENTS["edx.ui.lms.link_clicked(anonymous_user)"])
    assert failure.value.reason == "anonymous_user"


def test_the_allow_list_is_the_xapi_one_not_the_union_of_both():
    transformer = StatementTransformer("xapi")
    assert "edx.video.language_menu.shown" not in transformer.supported_names  # allowed for Caliper only
    assert "problem_check" in transformer.supported_names


class PseudonymActor(PipelineStep):
    """An operator's filter step on the actor, as OPEN_EDX_FILTERS_CONFIG plugs one in."""

    calls = 0

    def run_filter(self, transformer, result):  # noqa: ARG002 (openedx-filters' signature)
        PseudonymActor.calls += 1
        result.account.name = f"pseudonym-{PseudonymActor.calls % 2}"
        return {"result": result}


@pytest.mark.django_db
def test_with_an_openedx_filter_configured_erb_runs_its_calls_as_shipped():
    config = {MEMOIZED["get_actor"]: {"pipeline": [f"{__name__}.PseudonymActor"], "fail_silently": False}}
    event = RAW_EVENTS["load_video"]
    with override_settings(OPEN_EDX_FILTERS_CONFIG=config):
        PseudonymActor.calls = 0
        shipped = transformed("xapi", event, "ERB as shipped")
        calls_shipped, PseudonymActor.calls = PseudonymActor.calls, 0
        accelerated = transformed("xapi", event, "fast path")  # off: a filter is configured
    # The filter saw every call ERB makes (two per statement), and the statements are ERB's.
    assert PseudonymActor.calls == calls_shipped >= 2
    assert accelerated == shipped
