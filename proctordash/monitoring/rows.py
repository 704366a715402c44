"""The monitor's rows as HTML, built in Python.

Why not the template: over 2,000 sessions Django's template engine spent ~0.25 ms per row (≈ 40 variable lookups,
a loop over six checks, three {% dashtime %} tags), which made the first page load and any whole-table answer take
half a second. The same markup built here costs a few microseconds per row. This module is the only place the row
markup lives (the page, the poll's out-of-band rows and inserted rows, and the timeline toggle all call it); every
upstream value goes through `escape`.
"""

from __future__ import annotations

import html

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from proctordash.core import timezones


def escape(value) -> str:
    """django.utils.html.escape's output (it is html.escape(str(value))) without its lazy-string wrapper, which
    checked every argument for a lazy translation: ~3.5 µs a call, 20,000 calls on a 3,400-row page (~70 ms)."""
    return html.escape(str(value))


class RowRenderer:
    """Renders session and appointment rows for one request (the user's zone and `since` are fixed per request)."""

    def __init__(self, *, request=None, since_iso: str = ""):
        self.request = request
        self.since_iso = since_iso
        self.zone = timezones.dashboard_zone()
        user = getattr(request, "user", None) if request is not None else None
        self.own_zone = timezones.user_zone(user) if user is not None else None
        url = reverse("monitoring:session", args=[0])
        self.session_prefix = url[: url.rindex("0/")]  # /monitor/sessions/
        self.since_query = urlencode({"since": since_iso}) if since_iso else ""
        self._times: dict = {}
        self._checks: dict = {}

    # {% dashtime value fmt %} without the template machinery (same output), memoised per request.
    def time(self, value, fmt: str = "%H:%M") -> str:
        if value is None:
            return "—"
        key = (value, fmt)
        cached = self._times.get(key)
        if cached is None:
            main = escape(timezones.format_in_zone(value, self.zone, fmt))
            iso = timezones.to_utc_z(value)
            cached = f'<time datetime="{iso}">{main}</time>'
            if self.own_zone is not None:
                own = escape(timezones.format_in_zone(value, self.own_zone, fmt))
                if own != main:
                    cached += f' <span class="muted own-zone">({own})</span>'
            self._times[key] = cached
        return cached

    @staticmethod
    def checks_html(checks) -> str:
        items = []
        for label, state, icon, text in checks:
            if state != "ok":
                items.append(f'<li class="check {state}"><span class="icon" aria-hidden="true">{icon}</span> {label} '
                             f'<span class="state">{escape(text)}</span></li>')
            else:
                items.append(f'<li class="check {state}"><span class="icon" aria-hidden="true">{icon}</span> {label}'
                             f'<span class="visually-hidden"> {escape(text)}</span></li>')
        return "".join(items)

    def session(self, row, *, oob: bool = False, updated: bool = False) -> SafeString:
        """One ProctorExam session as a `<tbody id="pe-…" data-v="…">` (with its timeline when open)."""
        return mark_safe(self._session(row, oob=oob, updated=updated))

    # The _session/_appointment builders return plain str: sessions()/appointments() mark the joined table safe once
    # (mark_safe copies each ~1.3 kB row into a SafeString: ~3 µs a row, ~10 ms over 3,400 rows).
    def _session(self, row, *, oob: bool = False, updated: bool = False) -> str:
        classes = "session"
        if row.flag:
            classes += " stuck"
        if row.new_incidents:
            classes += " has-new"
        if oob or updated:
            classes += " updated"
        attrs = f' data-open="{row.id}"' if row.open else ""
        if oob:
            attrs += ' hx-swap-oob="true"'
        status = escape(row.status or "unknown")
        flag = ""
        if row.flag:
            since = f" (since {self.time(row.flag_since)})" if row.flag_since else ""
            flag = (f'<div class="flag"><span aria-hidden="true">⚠</span> <strong>Stuck:</strong> '
                    f"{escape(row.flag)}{since}</div>")
        checks = self._checks.get(row.checks)
        if checks is None:
            checks = self._checks[row.checks] = self.checks_html(row.checks)
        if row.entered_room is None:
            room = '<span class="muted">—</span>'
        else:
            room = "Yes" if row.entered_room else "No"
        if row.incident_count:
            url = f"{self.session_prefix}{row.id}/"
            since_amp = f"&amp;{self.since_query}" if self.since_query else ""
            href = f"{url}?{self.since_query}" if self.since_query else url
            plural = "" if row.incident_count == 1 else "s"
            incidents = (f'<a href="{href}" hx-get="{url}?open={0 if row.open else 1}{since_amp}" '
                         f'hx-target="#{row.key}" hx-swap="outerHTML" aria-expanded="{"true" if row.open else "false"}" '
                         f'aria-controls="timeline-{row.id}">{row.incident_count} incident{plural}'
                         f'{" ▴" if row.open else " ▾"}</a>')
        else:
            incidents = "0"
        if row.new_incidents:
            incidents += f'<br><span class="badge new">{row.new_incidents} new</span>'
        timeline = ""
        if row.open:
            inner = render_to_string("monitoring/_timeline.html", {"incidents": row.incidents}, request=self.request)
            timeline = f'<tr class="timeline-row" id="timeline-{row.id}"><td colspan="9">{inner}</td></tr>'
        return (
            f'<tbody id="{row.key}" data-v="{row.version}" class="{classes}"{attrs}>'
            f'<tr><td><span class="learner">{escape(row.name) or "—"}</span><br>'
            f'<span class="muted small">{escape(row.email or "")}</span></td>'
            f"<td>{escape(row.exam.name or row.exam.id)}</td>"
            f'<td><span class="badge status-{status}">{escape(row.status_label)}</span>{flag}</td>'
            f'<td><ul class="checks" aria-label="System checks: {row.checks_passed} of 6 passed">{checks}</ul></td>'
            f'<td class="nowrap">{self.time(row.start_time)}</td>'
            f'<td class="nowrap">{self.time(row.end_time)}</td>'
            f"<td>{room}</td>"
            f"<td>{escape(row.reviewed) if row.reviewed else '—'}</td>"
            f'<td class="num">{incidents}</td></tr>{timeline}</tbody>'
        )

    def sessions(self, rows) -> SafeString:
        return mark_safe("".join([self._session(row) for row in rows]))

    def appointment(self, row, *, oob: bool = False, updated: bool = False) -> SafeString:
        """One SmarterProctoring appointment as a `<tbody id="sp-…" data-v="…">`."""
        return mark_safe(self._appointment(row, oob=oob, updated=updated))

    def _appointment(self, row, *, oob: bool = False, updated: bool = False) -> str:
        needs = row.status == "Needs Proctor"
        classes = "appointment"
        if row.flag:
            classes += " stuck"
        if needs:
            classes += " needs-proctor"
        if oob or updated:
            classes += " updated"
        badge = "bad" if needs else "ok" if row.status == "In Progress" else "info"
        flag = (f'<div class="flag"><span aria-hidden="true">⚠</span> <strong>Stuck:</strong> {escape(row.flag)}</div>'
                if row.flag else "")
        recording = (f"Since {self.time(row.recording_start_date)}" if row.recording_start_date
                     else '<span class="muted">No recording</span>')
        phase = "In progress" if row.phase == "in progress" else "Starts"
        oob_attr = ' hx-swap-oob="true"' if oob else ""
        return (
            f'<tbody id="{escape(row.key)}" data-v="{row.version}" class="{classes}"{oob_attr}>'
            f'<tr><td><span class="learner">{escape(row.learner_name) or "—"}</span><br>'
            f'<span class="muted small">{escape(row.learner_email or "")}</span></td>'
            f'<td>{escape(row.course_title) or "—"}<br><span class="muted small">{escape(row.exam_title or "")}</span></td>'
            f'<td><span class="badge {badge}">{escape(row.status)}</span>{flag}</td>'
            f'<td class="nowrap">{phase} · {self.time(row.appointment_date)}<br>'
            f'<span class="muted small">{row.minutes} min</span></td>'
            f"<td>{recording}</td></tr></tbody>"
        )

    def appointments(self, rows) -> SafeString:
        return mark_safe("".join([self._appointment(row) for row in rows]))
