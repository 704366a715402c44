"""Template helpers for explicit time zones.

{% dashtime value %}  → "25 Nov 2026 10:42 CST" in the dashboard's zone, plus the user's own zone when it differs,
                         inside a <time datetime="…Z"> element.
{{ value|relative }}  → "in 3 h" / "12 min ago"
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.html import format_html

from proctordash.core import timezones

register = template.Library()


@register.simple_tag(takes_context=True)
def dashtime(context, value: datetime | None, fmt: str = "%d %b %Y %H:%M", empty: str = "—"):
    if value is None:
        return empty
    request = context.get("request")
    main = timezones.format_in_zone(value, timezones.dashboard_zone(), fmt)
    own_zone = timezones.user_zone(getattr(request, "user", None)) if request else None
    iso = timezones.to_utc_z(value)
    if own_zone is None:
        return format_html('<time datetime="{}">{}</time>', iso, main)
    own = timezones.format_in_zone(value, own_zone, fmt)
    if own == main:
        return format_html('<time datetime="{}">{}</time>', iso, main)
    return format_html('<time datetime="{}">{}</time> <span class="muted own-zone">({})</span>', iso, main, own)


@register.filter
def relative(value: datetime | None) -> str:
    return timezones.relative(value) if value else ""


@register.simple_tag
def dashboard_zone_abbreviation() -> str:
    from django.utils import timezone

    return timezone.now().astimezone(timezones.dashboard_zone()).tzname()
