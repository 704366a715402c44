"""Staff of the dashboard: one role each, and for instructors the courses they may see and edit."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

course_sid_validator = RegexValidator(r"^CU[a-f0-9]{32}$", "A course SID is 'CU' followed by 32 lowercase hex digits.")


def validate_time_zone(value: str) -> None:
    if not value:
        return
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Amsterdam).") from None


class Role(models.TextChoices):
    COORDINATOR = "coordinator", "Coordinator"
    INSTRUCTOR = "instructor", "Instructor"
    SUPPORT = "support", "Support"


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    role = models.CharField(max_length=20, choices=Role.choices)
    # Empty means "use the dashboard's time zone" (DASHBOARD_TIME_ZONE).
    time_zone = models.CharField(max_length=64, blank=True, validators=[validate_time_zone])

    def __str__(self) -> str:
        return f"{self.user.get_username()} ({self.get_role_display()})"


class CourseAssignment(models.Model):
    """An instructor may read and edit the data of this course (and only of their assigned courses)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_assignments")
    course_sid = models.CharField(max_length=34, validators=[course_sid_validator], db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "course_sid"], name="unique_course_assignment")]

    def __str__(self) -> str:
        return f"{self.user.get_username()} → {self.course_sid}"


class OidcIdentity(models.Model):
    """The university account (issuer + subject of its OpenID Connect ID tokens) a dashboard account belongs to.
    Sign-ins are matched on this pair only, never on a username or an e-mail address (proctordash/accounts/oidc.py)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="unique_oidc_identity")]

    def __str__(self) -> str:
        return f"{self.user.get_username()} ← {self.issuer} {self.subject}"
