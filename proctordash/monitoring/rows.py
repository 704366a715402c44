"""The monitor's table as HTML, built in Python: group headings, per-exam counts and rows.

Why not the template: over 2,000 sessions Django's template engine spent ~0.25 ms per row (≈ 40 variable lookups,
a loop over six checks, three {% dashtime %} tags), which made the first page load and any whole-table answer take
half a second. The same markup built here costs a few microseconds per row. This module is the only place the
table's markup lives (the page, the poll's out-of-band units and inserted rows, and the timeline toggle all call
it); every upstream value goes through `escape`.

Each unit is a `<tbody id="…" data-v="…">`: the poll's currency (docs/architecture.md, Monitoring).
"""

from __future__ import annotations

import html

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe

from proctordash.core import timezones
from proctordash.monitoring import selectors

COLUMNS = 6  # learner, exam, status, checks, time, incidents

# The short label shown beside each check's icon (the accessible name says it in full).
CHECK_CLASS = {label: f"k{i}" for i, (_, label) in enumerate(selectors.SYSTEM_CHECKS, start=1)}

# "1,234 not started": how an exam's count reads in each group.
BUCKET_WORDS = {
    selectors.ATTENTION: ("needs attention", "need attention"),
    selectors.INCIDENTS: ("in progress with incidents", "in progress with incidents"),
    selectors.PROGRESS: ("in progress", "in progress"),
    selectors.SOON: ("starting within the hour", "starting within the hour"),
    selectors.WAITING: ("not started", "not started"),
    selectors.FINISHED: ("finished", "finished"),
}


def escape(value) -> str:
    """django.utils.html.escape's output (it is html.escape(str(value))) without its lazy-string wrapper, which
    checked every argument for a lazy translation: ~3.5 µs a call, 20,000 calls on a 3,400-row page (~70 ms)."""
    return html.escape(str(value))


def number(value: int) -> str:
    return f"{value:,}"


class RowRenderer:
    """Renders the monitor's units for one request (the user's zone, `since` and the page's query are fixed)."""

    def __init__(self, *, request=None, since_iso: str = "", page_query: dict | None = None,
                 expand: dict | None = None):
        self.request = request
        self.since_iso = since_iso
        self.zone = timezones.dashboard_zone()
        user = getattr(request, "user", None) if request is not None else None
        self.own_zone = timezones.user_zone(user) if user is not None else None
        url = reverse("monitoring:session", args=[0])
        self.session_prefix = url[: url.rindex("0/")]  # /monitor/sessions/
        self.monitor_url = reverse("monitoring:monitor")
        self.since_query = urlencode({"since": since_iso}) if since_iso else ""
        self.page_query = {k: v for k, v in (page_query or {}).items() if v}
        self.expand = dict(expand or {})
        self._times: dict = {}
        self._checks: dict = {}

    # The table's times: the dashboard's zone without its abbreviation (the column heading names the zone once),
    # the user's own zone beside it when it differs; memoised per request.
    def time(self, value, fmt: str = "%H:%M") -> str:
        if value is None:
            return "—"
        key = (value, fmt)
        cached = self._times.get(key)
        if cached is None:
            iso = timezones.to_utc_z(value)
            try:
                local = value.astimezone(self.zone)
            except OverflowError:  # 0001-01-01 / 9999-12-31 from an upstream: beyond the calendar in this zone
                cached = f'<time datetime="{iso}">{escape(value.strftime(fmt))} UTC</time>'
            else:
                cached = f'<time datetime="{iso}">{escape(local.strftime(fmt))}</time>'
                own_local = None
                if self.own_zone is not None:
                    try:
                        own_local = value.astimezone(self.own_zone)
                    except OverflowError:
                        own_local = None
                if own_local is not None:
                    if own_local.utcoffset() != local.utcoffset():
                        cached += (f' <span class="muted own-zone">({escape(own_local.strftime(fmt))} '
                                   f'{escape(own_local.tzname())})</span>')
            self._times[key] = cached
        return cached

    @staticmethod
    def _title(text: str) -> str:
        return f' title="{escape(text)}"' if text else ""

    def zone_name(self, when) -> str:
        """The dashboard zone's abbreviation now (CST, CEST): named once, in the Time column's heading."""
        return when.astimezone(self.zone).tzname() or ""

    # --- links -------------------------------------------------------------------------------------------------------
    def page_href(self, expand: dict) -> str:
        """The monitor's URL with this page's filters, `since` and the given expansions: works as a plain link."""
        query = dict(self.page_query)
        if self.since_iso:
            query["since"] = self.since_iso
        tokens = [selectors.expand_token(group, key, rows) for (group, key), rows in expand.items()]
        if tokens:
            query["expand"] = ",".join(tokens)
        encoded = urlencode(query)
        return f"{self.monitor_url}?{encoded}" if encoded else self.monitor_url

    def _link(self, unit_key: str, label: str, expand: dict, *, expanded: bool, suffix: str = "",
              describe: str = "") -> str:
        href = escape(self.page_href(expand))
        described = f' aria-label="{escape(describe)}"' if describe else ""
        return (f'<a id="x-{unit_key}{suffix}" class="bucket-toggle" href="{href}" hx-get="{href}" '
                f'hx-target="#monitor-live" hx-swap="outerHTML" hx-push-url="true" data-monitor-expand '
                f'aria-expanded="{"true" if expanded else "false"}"{described}>{label}</a>')

    # --- units -------------------------------------------------------------------------------------------------------
    def unit(self, unit, *, oob: bool = False, updated: bool = False) -> str:
        if unit.kind == "session":
            return self._session(unit.item, oob=oob, updated=updated)
        if unit.kind == "appointment":
            return self._appointment(unit.item, oob=oob, updated=updated)
        if unit.kind == "group":
            return self._group(unit.item, oob=oob)
        return self._bucket(unit.item, oob=oob)

    def units(self, units) -> SafeString:
        # The builders return plain str: the joined table is marked safe once (mark_safe copies each row).
        return mark_safe("".join([self.unit(unit) for unit in units]))

    def _group(self, head, *, oob: bool = False) -> str:
        oob_attr = ' hx-swap-oob="true"' if oob else ""
        if head.count == 0:
            note = ('<span class="note">Nothing needs attention right now.</span>' if head.group == selectors.ATTENTION
                    else '<span class="note muted">none</span>')
        elif head.partial:
            note = (f'<span class="note">Too many to list at once: the newest {number(head.partial)} here, the rest '
                    f'counted per exam below ({number(head.exams)} exam{"" if head.exams == 1 else "s"}).</span>')
        elif not head.listed and head.group in selectors.LISTED_GROUPS:
            note = (f'<span class="note">Too many to list at once: counted per exam below '
                    f'({number(head.exams)} exam{"" if head.exams == 1 else "s"}).</span>')
        else:
            note = f'<span class="note muted">{escape(head.help)}</span>'
        return (f'<tbody id="{head.key}" data-v="{head.version}" class="group {head.group}"{oob_attr}>'
                f'<tr><th colspan="{COLUMNS}" scope="colgroup"><h2>{escape(head.label)} '
                f'<span class="count">{number(head.count)}</span></h2>{note}</th></tr></tbody>')

    def _bucket(self, bucket, *, oob: bool = False) -> str:
        oob_attr = ' hx-swap-oob="true"' if oob else ""
        singular, plural = BUCKET_WORDS[bucket.group]
        words = singular if bucket.count == 1 else plural
        raw_exam = bucket.exam_label
        exam = escape(raw_exam)
        if bucket.exam_key == selectors.SP_BUCKET:
            head = f'<span class="bucket-exam">{exam}</span> <strong>{number(bucket.count)}</strong> {words}'
        else:
            head = (f'<span class="bucket-exam">{exam}</span> <span class="muted small">{bucket.upstream}</span> '
                    f'<strong>{number(bucket.count)}</strong> {words}')
        ident = (bucket.group, bucket.exam_key)
        if bucket.rows:
            others = {k: v for k, v in self.expand.items() if k != ident}
            links = self._link(bucket.key, "Hide", others, expanded=True, describe=f"Hide {raw_exam}: {words}")
            if bucket.shown < bucket.count and bucket.rows < selectors.EXPAND_MAX:
                more = {**self.expand, ident: min(selectors.EXPAND_MAX, bucket.rows + selectors.EXPAND_STEP)}
                step = min(selectors.EXPAND_STEP, bucket.count - bucket.shown)
                links += " " + self._link(bucket.key, f"Show {step} more", more, expanded=True, suffix="-more",
                                          describe=f"Show {step} more of {raw_exam}: {words}")
            shown = (f' <span class="muted small">showing {number(bucket.shown)} of {number(bucket.count)}, '
                     f'by name</span>' if bucket.shown < bucket.count else "")
            attrs = f' data-expanded="{bucket.token}"'
            classes = "bucket expanded"
        else:
            more = {**self.expand, ident: selectors.EXPAND_STEP}
            links = self._link(bucket.key, "Show", more, expanded=False, describe=f"Show {raw_exam}: {words}")
            shown, attrs, classes = "", "", "bucket"
        return (f'<tbody id="{bucket.key}" data-v="{bucket.version}" class="{classes} {bucket.group}"{attrs}{oob_attr}>'
                f'<tr><td colspan="{COLUMNS}">{head}{shown} {links}</td></tr></tbody>')

    @staticmethod
    def checks_html(checks) -> str:
        """The six checks as one line of icons, each an image with its full text as its name (and tooltip); the
        short label beside each icon comes from the stylesheet (.k1 … .k6)."""
        items = []
        for label, state, icon, text in checks:
            name = f"{label}: {escape(text)}"
            items.append(f'<span class="ck {state} {CHECK_CLASS[label]}" role="img" aria-label="{name}" '
                         f'title="{name}">{icon}</span>')
        return "".join(items)

    def session(self, row, *, oob: bool = False, updated: bool = False) -> SafeString:
        """One ProctorExam session as a `<tbody id="pe-…" data-v="…">` (with its timeline when open)."""
        return mark_safe(self._session(row, oob=oob, updated=updated))

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
            since = f" since {self.time(row.flag_since)}" if row.flag_since else ""
            flag = (f' <span class="flag"><span aria-hidden="true">⚠</span> <strong>Stuck:</strong> '
                    f"{escape(row.flag)}{since}</span>")
        elif row.status == selectors.FINISHED_STATUS and row.reviewed:
            flag = f' <span class="muted">reviewed {escape(row.reviewed)}</span>'
        checks = self._checks.get(row.checks)
        if checks is None:
            checks = self._checks[row.checks] = self.checks_html(row.checks)
        if row.start_time is not None:
            when = f"Started {self.time(row.start_time)}"
            if row.end_time is not None:
                when = f"{self.time(row.start_time)}–{self.time(row.end_time)}"
            elif row.entered_room is False:
                when += ' <span class="muted">not in the room</span>'
        elif row.reservation_time is not None:
            fmt = "%H:%M" if row.group not in (selectors.WAITING, selectors.FINISHED) else "%d %b %H:%M"
            when = f"Booked {self.time(row.reservation_time, fmt)}"
        else:
            when = '<span class="muted">—</span>'
        if row.incident_count:
            url = f"{self.session_prefix}{row.id}/"
            since_amp = f"&amp;{self.since_query}" if self.since_query else ""
            href = f"{url}?{self.since_query}" if self.since_query else url
            plural = "" if row.incident_count == 1 else "s"
            incidents = (f'<a href="{href}" hx-get="{url}?open={0 if row.open else 1}{since_amp}" '
                         f'hx-target="#{row.key}" hx-swap="outerHTML" aria-expanded="{"true" if row.open else "false"}" '
                         f'aria-controls="timeline-{row.id}">{number(row.incident_count)} incident{plural}'
                         f'{" ▴" if row.open else " ▾"}</a>')
        else:
            incidents = '<span class="muted">0</span>'
        if row.new_incidents:
            incidents += f' <span class="badge new">{number(row.new_incidents)} new</span>'
        timeline = ""
        if row.open:
            inner = render_to_string("monitoring/_timeline.html", {"incidents": row.incidents}, request=self.request)
            timeline = f'<tr class="timeline-row" id="timeline-{row.id}"><td colspan="{COLUMNS}">{inner}</td></tr>'
        name = escape(row.name)
        email = escape(row.email)
        exam = escape(row.exam_label)
        return (
            f'<tbody id="{row.key}" data-v="{row.version}" class="{classes}"{attrs}>'
            f'<tr><td class="who" title="{name} {email}"><span class="learner">{name or "—"}</span> '
            f'<span class="sub">{email}</span></td>'
            f'<td class="exam" title="{exam}">{exam} <span class="sub">ProctorExam</span></td>'
            f'<td class="state"{self._title(row.flag)}><span class="badge status-{status}">{escape(row.status_label)}</span>{flag}</td>'
            f'<td class="checks">{checks}</td>'
            f'<td class="time">{when}</td>'
            f'<td class="num inc">{incidents}</td></tr>{timeline}</tbody>'
        )

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
        flag = (f' <span class="flag"><span aria-hidden="true">⚠</span> <strong>Flagged:</strong> '
                f'{escape(row.flag)}</span>' if row.flag else "")
        if row.recording_start_date:
            recording = f'<span class="rec ok">Recording since {self.time(row.recording_start_date)}</span>'
        elif row.phase == "in progress":
            recording = '<span class="rec none">No recording yet</span>'
        else:
            recording = '<span class="muted">Not started</span>'
        when = "Since" if row.phase == "in progress" else "Starts"
        oob_attr = ' hx-swap-oob="true"' if oob else ""
        name, email, exam = escape(row.learner_name), escape(row.learner_email), escape(row.exam_label)
        course = escape(row.course_title)
        return (
            f'<tbody id="{escape(row.key)}" data-v="{row.version}" class="{classes}"{oob_attr}>'
            f'<tr><td class="who" title="{name} {email}"><span class="learner">{name or "—"}</span> '
            f'<span class="sub">{email}</span></td>'
            f'<td class="exam" title="{exam} ({course})">{exam} <span class="sub">SmarterProctoring{" · " + course if course else ""}</span></td>'
            f'<td class="state"{self._title(row.flag)}><span class="badge {badge}">{escape(row.status)}</span>{flag}</td>'
            f'<td class="checks">{recording}</td>'
            f'<td class="time">{when} {self.time(row.appointment_date)} <span class="muted">· {row.minutes} min</span></td>'
            f'<td class="num inc"><span class="muted" title="SmarterProctoring reports no incidents">—</span></td>'
            "</tr></tbody>"
        )
