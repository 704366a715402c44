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


def _row_renderer(context):
    """One RowRenderer per template render (it memoises the user's zone and formatted times)."""
    from proctordash.monitoring.rows import RowRenderer

    renderer = context.render_context.get("monitor_rows")
    if renderer is None:
        renderer = RowRenderer(request=context.get("request"), since_iso=context.get("since_iso") or "")
        context.render_context["monitor_rows"] = renderer
    return renderer


@register.simple_tag(takes_context=True)
def session_rows(context, rows):
    """The monitor's session rows (built in Python: see monitoring/rows.py for why)."""
    return _row_renderer(context).sessions(rows)


@register.simple_tag(takes_context=True)
def session_row(context, row):
    return _row_renderer(context).session(row, oob=bool(context.get("row_oob")))


@register.simple_tag(takes_context=True)
def appointment_rows(context, rows):
    return _row_renderer(context).appointments(rows)
