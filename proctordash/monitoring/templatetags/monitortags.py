from django import template

from proctordash.monitoring.rows import number as _number
from proctordash.sync import messages

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


@register.filter
def number(value) -> str:
    """A count with thousands separators ("20,000"), as the monitor's table writes them (rows.number)."""
    try:
        return _number(int(value))
    except (TypeError, ValueError):
        return "" if value is None else str(value)


# Staff language for what went wrong with a refresh (sync/messages.py): never an exception class or an API path.
@register.filter
def run_problem(run) -> str:
    """{{ run|run_problem }}: what went wrong with this SyncRun, in words ("" when nothing did)."""
    return messages.run_problem(run)


@register.filter
def failure_sentence(summary, label) -> str:
    """{{ state.last_error|failure_sentence:"SmarterProctoring" }}."""
    return messages.failure_sentence(summary, str(label)) if summary else ""


@register.filter
def skipped_record(first_error) -> str:
    """{{ run.skipped_first_error|skipped_record }}: the first malformed record a pass left out, in words."""
    return messages.skipped_record_sentence(first_error or "")
