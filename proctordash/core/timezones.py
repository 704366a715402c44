"""Time zones made explicit: the dashboard's zone (DASHBOARD_TIME_ZONE), a user's own zone, relative times."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.utils import timezone


def dashboard_zone() -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(settings.DASHBOARD_TIME_ZONE)


def user_zone(user) -> zoneinfo.ZoneInfo | None:
    """The user's own zone when they chose one that differs from the dashboard's, else None."""
    profile = getattr(user, "staff_profile", None) if user is not None and user.is_authenticated else None
    name = getattr(profile, "time_zone", "") or ""
    if not name or name == settings.DASHBOARD_TIME_ZONE:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def format_in_zone(value: datetime, zone: zoneinfo.ZoneInfo, fmt: str = "%d %b %Y %H:%M") -> str:
    try:
        local = value.astimezone(zone)
    except OverflowError:  # an upstream's 0001-01-01 or 9999-12-31 has no local time in most zones: say it in UTC
        local = value.astimezone(dt_timezone.utc)
    return f"{local.strftime(fmt)} {local.tzname()}"


def to_utc_z(value: datetime) -> str:
    """Serialise an aware datetime as the upstreams expect: ISO 8601 in UTC with milliseconds and a trailing Z."""
    if timezone.is_naive(value):
        raise ValueError("naive datetime: interpret it in a zone first")
    return value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.astimezone(dt_timezone.utc).microsecond // 1000:03d}Z"


def relative(value: datetime, now: datetime | None = None) -> str:
    """'in 3 h', '12 min ago', 'just now', 'in 2 d'."""
    now = now or timezone.now()
    delta = value - now
    seconds = delta.total_seconds()
    future = seconds > 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now" if not future else "in <1 min"
    if seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        hours = seconds / 3600
        text = f"{hours:.0f} h" if hours >= 10 else f"{hours:.1f} h".replace(".0 h", " h")
    else:
        text = f"{int(seconds // 86400)} d"
    return f"in {text}" if future else f"{text} ago"


def is_within(value: datetime | None, window: timedelta, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return value is not None and now <= value <= now + window
