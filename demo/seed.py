"""Users, courses and their anonymous ids in the standalone database, for the demo and tests."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from backfill_app.standalone.models import CourseOverview, UserProfile

# The courses that ERB's fixture events refer to.
FIXTURE_COURSES = {
    "course-v1:edX+DemoX+Demo_Course": "Demonstration Course",
    "course-v1:testX+XAPI101+2019_T2": "xAPI 101",
    "course-v1:TestX+XP101+2023_T1": "xAPI Pilot",
    "ccx-v1:edX+DemoX+Demo_Course+ccx@1": "Demonstration Course (CCX)",
}


def seed_courses(courses: dict[str, str] = FIXTURE_COURSES) -> None:
    for course_id, name in courses.items():
        CourseOverview.objects.update_or_create(
            id=course_id, defaults={"display_name": name, "org": course_id.split(":")[1].split("+")[0]}
        )


def seed_users(count: int, first_id: int = 1) -> list[tuple[int, str]]:
    """``count`` learners with ids from ``first_id``; existing ones are kept."""
    User = get_user_model()
    wanted = {user_id: f"learner{user_id}" for user_id in range(first_id, first_id + count)}
    existing = set(User.objects.filter(id__in=wanted).values_list("id", flat=True))
    User.objects.bulk_create(
        [
            User(id=user_id, username=name, email=f"{name}@example.com")
            for user_id, name in wanted.items()
            if user_id not in existing
        ]
    )
    countries = ("FR", "US", "IN", "BR", "NG", "DE")
    UserProfile.objects.bulk_create(
        [
            UserProfile(user_id=user_id, name=name.title(), country=countries[user_id % len(countries)])
            for user_id, name in wanted.items()
            if user_id not in existing
        ]
    )
    return list(wanted.items())
