from django import template

register = template.Library()


@register.filter
def recording_offset(seconds) -> str:
    """Seconds into the recording as h:mm:ss or m:ss."""
    try:
        total = max(0, int(seconds))
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def run_duration(run) -> str:
    """How long a finished SyncRun took: '4.2 s', '3 min 5 s'."""
    if run is None or not run.finished_at or not run.started_at:
        return "—"
    seconds = max(0.0, (run.finished_at - run.started_at).total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s"


@register.simple_tag(takes_context=True)
def monitor_units(context, layout):
    """The monitor's table body: group headings, per-exam counts and rows (built in Python: see monitoring/rows.py).
    The view puts one RowRenderer (the page's query, `since`, the user's zone) in the context."""
    return context["rows_renderer"].units(layout.units)
