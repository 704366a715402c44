"""The list's table rows rendered in Python.

Why not the template: at 50–200 rows × 10 cells, Django's template engine (variable resolution, filters, the
`dashtime` tag, `{% url %}` per row) cost ~0.25 ms per row, about a third of the whole list request at 100,000 cached
appointments (benchmarks/bench_appointments.py --profile). This writes the same markup the template did, escaping
every upstream value (names and titles are untrusted), in ~0.02 ms per row.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import quote

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import slugify

from proctordash.core import timezones

_slugs: dict[str, str] = {}


def _slug(value: str) -> str:
    slug = _slugs.get(value)
    if slug is None:
        slug = slugify(value)
        if len(_slugs) < 1000:  # statuses are a handful; never grow without bound on odd upstream values
            _slugs[value] = slug
    return slug


def _e(value) -> str:
    return escape(str(value), quote=True)


class _Times:
    """`{% dashtime %}` and `|relative` for many values: the dashboard zone, and the user's own zone when it differs."""

    def __init__(self, *, user, now: datetime):
        self.main_zone = timezones.dashboard_zone()
        self.own_zone = timezones.user_zone(user)
        self.now = now

    def dashtime(self, value: datetime) -> str:
        main = timezones.format_in_zone(value, self.main_zone)
        iso = timezones.to_utc_z(value)
        html = f'<time datetime="{iso}">{_e(main)}</time>'
        if self.own_zone is not None:
            own = timezones.format_in_zone(value, self.own_zone)
            if own != main:
                html += f' <span class="muted own-zone">({_e(own)})</span>'
        return html

    def relative(self, value: datetime) -> str:
        return _e(timezones.relative(value, self.now))


def rows_html(rows, *, user, now: datetime) -> SafeString:
    """The <tr> elements of the appointment list (rows as `selectors.LIST_COLUMNS` loads them, with `review_flag`)."""
    times = _Times(user=user, now=now)
    detail = reverse("appointments:detail", args=["SID"]).replace("SID", "{}")
    out = []
    for a in rows:
        if a.appointment_date:
            when = (f'{times.dashtime(a.appointment_date)}<br><span class="muted small">'
                    f'{times.relative(a.appointment_date)}</span>')
        else:
            when = '<span class="muted">not scheduled</span>'
        name = a.learner_name or "(no name)"
        if a.review_by_date:
            review_by = times.dashtime(a.review_by_date)
            if a.review_flag == "overdue":
                review_by += f'<br><span class="badge bad">⚠ Overdue {times.relative(a.review_by_date)}</span>'
            elif a.review_flag == "soon":
                review_by += f'<br><span class="badge warn">Due soon: {times.relative(a.review_by_date)}</span>'
        else:
            review_by = '<span class="muted">—</span>'
        reports = "—" if a.session_report_count is None else str(a.session_report_count)
        out.append(
            f'<tr><td class="when">{when}</td>'
            f'<td><a href="{_e(detail.format(quote(a.sid, safe="")))}">{_e(name)}</a></td>'
            f'<td class="email">{_e(a.learner_email)}</td>'
            f'<td>{_e(a.course_title or a.course_sid)}</td>'
            f'<td>{_e(a.exam_title or a.exam_sid)}</td>'
            f'<td>{_e(a.session_type)}</td>'
            f'<td><span class="status st-{_slug(a.status)}">{_e(a.status or "—")}</span></td>'
            f'<td>{_e(a.review_status or "—")}</td>'
            f'<td class="review-by {a.review_flag}">{review_by}</td>'
            f'<td class="num">{reports}</td></tr>'
        )
    return mark_safe("\n".join(out))


def headers_html(headers: list[dict], *, list_url: str) -> SafeString:
    """The list's sortable column headers (views._sort_headers), the markup the template loop wrote (its whitespace
    included): ten headers × a dozen template nodes were ~1 ms of the page."""
    out = []
    for h in headers:
        aria = f' aria-sort="{_e(h["aria_sort"])}"' if h["aria_sort"] else ""
        num = ' class="num"' if h["key"] == "sessionReportCount" else ""
        arrow = {"ascending": ' <span aria-hidden="true">▲</span>',
                 "descending": ' <span aria-hidden="true">▼</span>'}.get(h["aria_sort"], "")
        url = _e(h["url"])
        out.append(f'<th scope="col"{aria}{num}>\n              <a href="{url}" hx-get="{_e(list_url)}{url}" '
                   f'hx-target="#results" hx-swap="outerHTML settle:0ms" hx-push-url="true">{_e(h["label"])}{arrow}</a>\n'
                   f'            </th>')
    # the template loop's layout: each header on its own lines, indented as before
    return mark_safe("".join(f"\n            {th}\n          " for th in out))
