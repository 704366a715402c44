"""Who may see and change what. Every view and fragment checks here, on the server.

Coordinator: reads everything, edits any exam configuration.
Instructor: reads and edits only the courses assigned to them; anything else answers 404 (not 403), so an
instructor cannot even learn that another course's appointment exists.
Support: reads everything, edits nothing, may trigger a data refresh.
"""

from __future__ import annotations

from functools import wraps
from typing import Callable

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from proctordash.accounts.models import Role

ALL = None  # visible_course_sids() returns this for "every course"


def user_role(user) -> str | None:
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.COORDINATOR
    profile = getattr(user, "staff_profile", None)
    return profile.role if profile else None


def visible_course_sids(user) -> set[str] | None:
    """The course SIDs the user may read, or ALL (None). Cached on the user object for the request."""
    role = user_role(user)
    if role in (Role.COORDINATOR, Role.SUPPORT):
        return ALL
    if role == Role.INSTRUCTOR:
        cached = getattr(user, "_visible_course_sids", None)
        if cached is None:
            cached = set(user.course_assignments.values_list("course_sid", flat=True))
            user._visible_course_sids = cached
        return cached
    return set()


def can_view_course(user, course_sid: str | None) -> bool:
    sids = visible_course_sids(user)
    return sids is ALL or (course_sid is not None and course_sid in sids)


def can_edit_course(user, course_sid: str | None) -> bool:
    role = user_role(user)
    if role == Role.COORDINATOR:
        return True
    return role == Role.INSTRUCTOR and can_view_course(user, course_sid)


def can_trigger_refresh(user) -> bool:
    return user_role(user) in (Role.COORDINATOR, Role.SUPPORT)


def require_course_view(user, course_sid: str | None) -> None:
    """404 rather than 403: do not confirm that another course's object exists."""
    if not can_view_course(user, course_sid):
        raise Http404("No such course")


def require_course_edit(user, course_sid: str | None) -> None:
    require_course_view(user, course_sid)
    if not can_edit_course(user, course_sid):
        raise PermissionDenied("Your role may not change this course")


def role_required(*roles: str) -> Callable:
    """Allow the view only to staff with one of these roles (403 for other staff; anonymous users never get here,
    LoginRequiredMiddleware sends them to the login page first)."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs):
            if user_role(request.user) not in roles:
                raise PermissionDenied("Your role may not open this page")
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = roles  # read by the URL-walking access test
        return wrapper

    return decorator


def staff_required(view):
    """Any staff role; a logged-in account without a role (no StaffProfile) gets 403."""
    return role_required(Role.COORDINATOR, Role.INSTRUCTOR, Role.SUPPORT)(view)
