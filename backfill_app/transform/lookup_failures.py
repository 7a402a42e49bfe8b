"""Why the platform could not give an event's user or course: each is a reason in the summary."""


class LookupFailure(ValueError):
    """A lookup that cannot succeed during this run: remembered, and raised again, by class and message."""


class UnknownUser(LookupFailure):
    """No user matches the event's user id or username."""


class AnonymousUser(LookupFailure):
    """The event has no user: a visitor who was not logged in (the live pipeline drops it too)."""


class BadUserKey(LookupFailure):
    """The event's user is a value no user id or username can be (an object, a list, broken text...)."""


class NoExternalId(LookupFailure):
    """The user has no external id of the type yet, and this database may not be written to."""


class UnknownCourse(LookupFailure):
    """No course overview matches the event's course id."""


class BadCourseKey(LookupFailure):
    """The event's course id is not a valid course key."""
