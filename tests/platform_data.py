"""Platform data the dump tests share: the Open edX demo course, the event_sink tables, learners' profiles."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model

from backfill_app.standalone.models import UserProfile

DEMO_COURSE = Path(__file__).parent / "fixtures" / "demo-course"
EVENT_SINK_TABLES = ("course_overviews", "course_blocks", "user_profile", "external_id", "course_enrollment", "tag",
                     "taxonomy", "object_tag")  # fmt: skip


def make_profiles(count: int, first_id: int = 1) -> list:
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(id=i, username=f"learner{i}", email=f"learner{i}@example.com") for i in range(first_id, first_id + count)]
    )
    return UserProfile.objects.bulk_create(
        [UserProfile(user=user, name=f"Learner {user.id}", country="FR", year_of_birth=1990) for user in users]
    )
