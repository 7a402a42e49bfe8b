"""
edx-platform models that event-routing-backends and our dump read, on the platform's
table names and columns (only the columns we use), so that a copy of the LMS database works.
"""

import uuid

from django.conf import settings
from django.db import models


class HexUUIDField(models.UUIDField):
    """
    A UUID kept as 32 hex characters, as the platform's ``external_user_id`` column is
    (``char(32)``) on every backend. Django 5 writes a UUIDField natively on MariaDB 10.7+
    (36 characters with dashes), which would not fit that column.
    """

    def db_type(self, connection):
        return "char(32)"

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        return (value if isinstance(value, uuid.UUID) else self.to_python(value)).hex


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
    external_user_id = HexUUIDField(default=uuid.uuid4, unique=True, editable=False)
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


class UserProfile(models.Model):
    """``common.djangoapps.student.models.UserProfile`` (the columns Aspects dumps)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, unique=True, on_delete=models.CASCADE, related_name="profile")
    name = models.CharField(blank=True, max_length=255, db_index=True)
    meta = models.TextField(blank=True)
    courseware = models.CharField(blank=True, max_length=255, default="course.xml")
    language = models.CharField(blank=True, max_length=255, db_index=True)
    location = models.CharField(blank=True, max_length=255, db_index=True)
    year_of_birth = models.IntegerField(blank=True, null=True, db_index=True)
    gender = models.CharField(blank=True, null=True, max_length=6, db_index=True)
    level_of_education = models.CharField(blank=True, null=True, max_length=6, db_index=True)
    mailing_address = models.TextField(blank=True, null=True)
    city = models.TextField(blank=True, null=True)
    country = models.CharField(blank=True, null=True, max_length=2)
    state = models.CharField(blank=True, null=True, max_length=2)
    goals = models.TextField(blank=True, null=True)
    bio = models.CharField(blank=True, null=True, max_length=3000, db_index=False)
    profile_image_uploaded_at = models.DateTimeField(null=True, blank=True)
    phone_number = models.CharField(blank=True, null=True, max_length=50)

    class Meta:
        db_table = "auth_userprofile"

    def __str__(self):
        return f"profile {self.pk}"


class CourseEnrollment(models.Model):
    """``common.djangoapps.student.models.CourseEnrollment`` (a subset)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_id = models.CharField(max_length=255, db_index=True)
    created = models.DateTimeField(auto_now_add=True, null=True, db_index=True)
    is_active = models.BooleanField(default=True)
    mode = models.CharField(default="audit", max_length=100)

    class Meta:
        db_table = "student_courseenrollment"
        unique_together = (("user", "course_id"),)

    def __str__(self):
        return f"enrollment {self.pk}"


class Taxonomy(models.Model):
    """``openedx_tagging.models.base.Taxonomy`` (a subset)."""

    name = models.CharField(max_length=255, db_index=True)

    class Meta:
        db_table = "oel_tagging_taxonomy"

    def __str__(self):
        return self.name


class Tag(models.Model):
    """``openedx_tagging.models.base.Tag`` (a subset), with the same ``get_lineage``."""

    taxonomy = models.ForeignKey(Taxonomy, null=True, on_delete=models.CASCADE)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    value = models.CharField(max_length=500)
    external_id = models.CharField(max_length=255, null=True, blank=True)

    class Meta:
        db_table = "oel_tagging_tag"

    def __str__(self):
        return self.value

    def get_lineage(self) -> list[str]:
        """The values from the root tag down to this one."""
        lineage: list[str] = []
        tag = self
        while tag is not None:
            lineage.insert(0, tag.value)
            tag = tag.parent
        return lineage


class ObjectTag(models.Model):
    """``openedx_tagging.models.base.ObjectTag`` (a subset)."""

    object_id = models.CharField(max_length=255, db_index=True)
    taxonomy = models.ForeignKey(Taxonomy, null=True, on_delete=models.SET_NULL)
    tag = models.ForeignKey(Tag, null=True, on_delete=models.SET_NULL)
    _value = models.CharField(max_length=500)
    _export_id = models.CharField(max_length=255)

    class Meta:
        db_table = "oel_tagging_objecttag"

    def __str__(self):
        return f"{self.object_id}: {self._value}"

    def get_lineage(self) -> list[str]:
        return self.tag.get_lineage() if self.tag else [self._value]
