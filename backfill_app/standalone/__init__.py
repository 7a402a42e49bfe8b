"""
The few edx-platform tables that event-routing-backends reads, for use outside the LMS.

Installed only by the standalone project: inside the LMS the platform's own models serve,
and models here would collide with them (same table names on purpose, so that the
standalone project can run against a copy of the LMS database).
"""
