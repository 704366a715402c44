"""Provisioning staff accounts (used by the `staff` command; the Django admin edits the same models)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from proctordash.accounts.models import CourseAssignment, Role, StaffProfile, course_sid_validator


@dataclass
class StaffAddResult:
    created: bool
    generated_password: str | None  # shown once to the operator, never stored or logged


def staff_add(*, username: str, role: str, courses: list[str], password: str | None) -> StaffAddResult:
    """Create a staff account, or update an existing one's role and courses. Raises ValidationError naming the
    argument at fault; nothing is written unless every argument is valid."""
    if role not in Role.values:
        raise ValidationError({"role": f"must be one of {', '.join(Role.values)}"})
    for sid in courses:
        try:
            course_sid_validator(sid)
        except ValidationError:
            raise ValidationError({"course": f"{sid!r} is not a course SID (CU + 32 lowercase hex digits)"}) from None
    if courses and role != Role.INSTRUCTOR:
        raise ValidationError({"course": "only instructors are assigned courses; coordinators and support see all"})
    User = get_user_model()
    if not username or len(username) > 150:
        raise ValidationError({"username": "must be 1 to 150 characters"})
    generated = None
    with transaction.atomic():
        user, created = User.objects.get_or_create(username=username)
        if password is not None:
            try:
                validate_password(password, user)
            except ValidationError as e:
                raise ValidationError({"password": list(e.messages)}) from None
            user.set_password(password)
        elif created:
            generated = secrets.token_urlsafe(12)
            user.set_password(generated)
        user.save()
        StaffProfile.objects.update_or_create(user=user, defaults={"role": role})
        for sid in courses:
            CourseAssignment.objects.get_or_create(user=user, course_sid=sid)
    return StaffAddResult(created=created, generated_password=generated)


def staff_list() -> list[dict]:
    User = get_user_model()
    rows = []
    for user in User.objects.select_related("staff_profile").prefetch_related("course_assignments").order_by("username"):
        profile = getattr(user, "staff_profile", None)
        rows.append(
            {
                "username": user.username,
                "role": profile.role if profile else "",
                "courses": sorted(a.course_sid for a in user.course_assignments.all()),
                "active": user.is_active,
            }
        )
    return rows
