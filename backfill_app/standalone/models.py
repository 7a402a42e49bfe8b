"""
edx-platform models that event-routing-backends and our dump read, on the platform's
table names and columns (only the columns we use), so that a copy of the LMS database works.
"""

import uuid

from django.conf import settings
from django.db import models


class ExternalIdType(models.Model):
    """``openedx.core.djangoapps.external_user_ids.models.ExternalIdType``."""

    MICROBACHELORS_COACHING = "mb_coaching"
    LTI = "lti"
    XAPI = "xapi"
    CALIPER = "caliper"

    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    name = models.CharField(max_length=32, unique=True, db_index=True)
    description = models.TextField()

    class Meta:
        db_table = "external_user_ids_externalidtype"

    def __str__(self):
        return self.name


class ExternalId(models.Model):
    """``openedx.core.djangoapps.external_user_ids.models.ExternalId``: a user's anonymous id."""

    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    external_user_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id_type = models.ForeignKey(ExternalIdType, db_index=True, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, on_delete=models.CASCADE)

    class Meta:
        db_table = "external_user_ids_externalid"
        unique_together = (("user", "external_id_type"),)

    @classmethod
    def add_new_user_id(cls, user, type_name):
        """The platform's contract: ``(external_id, created)``, or ``(None, False)`` for an unknown type."""
        try:
            type_obj = ExternalIdType.objects.get(name=type_name)
        except ExternalIdType.DoesNotExist:
            return None, False
        return cls.objects.get_or_create(user=user, external_id_type=type_obj)


class CourseOverview(models.Model):
    """``openedx.core.djangoapps.content.course_overviews.models.CourseOverview`` (a subset)."""

    id = models.CharField(max_length=255, primary_key=True)
    created = models.DateTimeField(auto_now_add=True)
    modified = models.DateTimeField(auto_now=True)
    display_name = models.TextField(null=True)
    org = models.TextField(max_length=255, default="outdated_entry")
    start = models.DateTimeField(null=True)
    end = models.DateTimeField(null=True)
    enrollment_start = models.DateTimeField(null=True)
    enrollment_end = models.DateTimeField(null=True)
    self_paced = models.BooleanField(default=False)

    class Meta:
        db_table = "course_overviews_courseoverview"

    def __str__(self):
        return self.id
