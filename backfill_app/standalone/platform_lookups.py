"""
The three edx-platform lookups that event-routing-backends imports, answered from the
standalone models. ERB imports them inside a ``try`` and leaves ``None`` when the platform
is absent; giving it ours makes its own code path (``get_anonymous_user_id``,
``get_course_from_id``) run unchanged outside the LMS.
"""

from django.contrib.auth import get_user_model


def get_potentially_retired_user_by_username(username):
    """Standalone databases hold no retirement records: the user is looked up by name."""
    return get_user_model().objects.get(username=username)


def get_course_overviews(course_ids):
    """Like the platform's course_overviews API: one dict per known course, with ``display_name``."""
    from backfill_app.standalone.models import CourseOverview

    keys = [str(course_id) for course_id in course_ids]
    return [
        {"id": overview.id, "display_name": overview.display_name, "org": overview.org}
        for overview in CourseOverview.objects.filter(id__in=keys)
    ]


def provide_platform_lookups_to_erb():
    from event_routing_backends import helpers

    from backfill_app.standalone.models import ExternalId, ExternalIdType

    if helpers.ExternalId is None:
        helpers.ExternalId = ExternalId
        helpers.ExternalIdType = ExternalIdType
        helpers.get_potentially_retired_user_by_username = get_potentially_retired_user_by_username
        helpers.get_course_overviews = get_course_overviews
