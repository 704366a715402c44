"""What every page's layout needs: the navigation for the user's role and the time zone in force."""

from __future__ import annotations

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from proctordash.accounts.models import Role
from proctordash.accounts.permissions import user_role

# (label, url name, roles that see it). A link whose URL is not installed yet is left out.
NAVIGATION = [
    ("Appointments", "appointments:list", {Role.COORDINATOR, Role.INSTRUCTOR, Role.SUPPORT}),
    ("Review queue", "appointments:review", {Role.COORDINATOR, Role.SUPPORT}),
    ("Exams", "exams:index", {Role.COORDINATOR, Role.INSTRUCTOR, Role.SUPPORT}),
    ("Change history", "exams:history", {Role.COORDINATOR}),
    ("Live monitor", "monitoring:monitor", {Role.COORDINATOR, Role.SUPPORT}),
    ("Readiness", "monitoring:readiness", {Role.COORDINATOR, Role.SUPPORT}),
    ("Health", "monitoring:health", {Role.COORDINATOR, Role.SUPPORT}),
]


def navigation_for(user) -> list[dict]:
    role = user_role(user)
    items = []
    for label, url_name, roles in NAVIGATION:
        if role not in roles:
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append({"label": label, "url": url, "url_name": url_name})
    return items


def mark_current(items: list[dict], path: str) -> list[dict]:
    """Each item's `current`: "page" for the page itself, "true" for the section a deeper page belongs to (the
    longest entry whose URL starts the path: a session under the live monitor, an appointment under the list; the
    readiness board under /monitor/ is its own entry), "" otherwise — read as aria-current by the layout."""
    section = max((item["url"] for item in items if path.startswith(item["url"])), key=len, default=None)
    for item in items:
        item["current"] = ("page" if path == item["url"] else "true") if item["url"] == section else ""
    return items


def layout(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"dashboard_time_zone": settings.DASHBOARD_TIME_ZONE}
    role = user_role(user)
    return {
        "navigation": mark_current(navigation_for(user), request.path),
        "user_role": role,
        "user_role_label": Role(role).label if role else "No role",
        "dashboard_time_zone": settings.DASHBOARD_TIME_ZONE,
    }
