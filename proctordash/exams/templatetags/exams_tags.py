"""Template helpers of the exam pages: `{{ field.value|as_datetime }}` reads a date field's value (a datetime, or the
text a user typed) in the dashboard's zone, for the help line that spells it out; `{% sid_copy sid "label" %}` a SID
shortened for reading, full in its title, with a copy button (static/js/exams.js shows it)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.core.exceptions import ValidationError
from django.utils.html import format_html

register = template.Library()


@register.filter
def as_datetime(value) -> datetime | None:
    from proctordash.exams.forms import DashboardDateTimeField

    if value in (None, ""):
        return None
    try:
        return DashboardDateTimeField().to_python(value)
    except (ValidationError, ValueError, TypeError):
        return None


@register.simple_tag
def sid_copy(sid, label: str = "SID"):
    """A SID as staff need it: readable (start…end), complete in the title and in a copy button."""
    sid = "" if sid is None else str(sid)
    if not sid:
        return ""
    short = sid if len(sid) <= 14 else f"{sid[:6]}…{sid[-4:]}"
    return format_html(
        '<span class="sid"><code title="{}">{}</code><button type="button" class="copy" data-copy="{}" hidden '
        'aria-label="Copy {}: {}">Copy</button></span>', sid, short, sid, label, sid)


@register.simple_tag(name="zone_label")
def zone_label_tag() -> str:
    """The dashboard's zone as labels say it ("Chicago time")."""
    from proctordash.exams.forms import zone_label

    return zone_label()


@register.filter(name="short_sid")
def short_sid_filter(sid) -> str:
    from proctordash.exams.selectors import short_sid

    return short_sid(sid or "")
