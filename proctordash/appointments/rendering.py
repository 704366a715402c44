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

    def dashtime(self, value: datetime, fmt: str = "%d %b %Y %H:%M") -> str:
        main = timezones.format_in_zone(value, self.main_zone, fmt)
        iso = timezones.to_utc_z(value)
        html = f'<time datetime="{iso}">{_e(main)}</time>'
        if self.own_zone is not None:
            own = timezones.format_in_zone(value, self.own_zone, fmt)
            if own != main:
                html += f' <span class="muted own-zone">({_e(own)})</span>'
        return html

    def full(self, value: datetime) -> str:
        """The whole date as plain text (a cell's title: the row shows it shortened)."""
        text = timezones.format_in_zone(value, self.main_zone, "%a %d %b %Y %H:%M")
        if self.own_zone is not None:
            own = timezones.format_in_zone(value, self.own_zone, "%a %d %b %Y %H:%M")
            if own != text:
                text += f" ({own})"
        return text

    def relative(self, value: datetime) -> str:
        return _e(timezones.relative(value, self.now))


SHORT_DATE = "%a %d %b %H:%M"  # the row's date: the year is in the cell's title and on the detail page


def rows_html(rows, *, user, now: datetime) -> SafeString:
    """The <tr> elements of the appointment list (rows as `selectors.LIST_COLUMNS` loads them, with `review_flag`).

    One line per row: every cell keeps to one line (CSS truncates it with an ellipsis) and carries its full text in
    `title` (hover); a focused row shows its cells in full (`tr:focus-within`), and the detail page has everything."""
    times = _Times(user=user, now=now)
    detail = reverse("appointments:detail", args=["SID"]).replace("SID", "{}")
    out = []
    for a in rows:
        if a.appointment_date:
            relative = timezones.relative(a.appointment_date, now)
            when = (f'<td class="when" title="{_e(times.full(a.appointment_date) + " (" + relative + ")")}">'
                    f'{times.dashtime(a.appointment_date, SHORT_DATE)} <span class="muted small">{_e(relative)}</span></td>')
        else:
            when = '<td class="when"><span class="muted">not scheduled</span></td>'
        name = a.learner_name or "(no name)"
        if a.review_by_date:
            review_by = times.dashtime(a.review_by_date, SHORT_DATE)
            title = f"Review by {times.full(a.review_by_date)} ({timezones.relative(a.review_by_date, now)})"
            if a.review_flag == "overdue":
                review_by = f'<span class="badge bad">⚠ Overdue {times.relative(a.review_by_date)}</span> ' + review_by
            elif a.review_flag == "soon":
                review_by = f'<span class="badge warn">Due {times.relative(a.review_by_date)}</span> ' + review_by
            review_by = f'<td class="review-by {a.review_flag}" title="{_e(title)}">{review_by}</td>'
        else:
            review_by = f'<td class="review-by {a.review_flag}"><span class="muted">—</span></td>'
        reports = "—" if a.session_report_count is None else str(a.session_report_count)
        course = _e(a.course_title or a.course_sid)
        exam = _e(a.exam_title or a.exam_sid)
        email = _e(a.learner_email)
        out.append(
            f'<tr>{when}'
            f'<td class="learner" title="{_e(name)}"><a href="{_e(detail.format(quote(a.sid, safe="")))}">{_e(name)}</a></td>'
            f'<td class="email" title="{email}">{email}</td>'
            f'<td class="course" title="{course}">{course}</td>'
            f'<td class="exam" title="{exam}">{exam}</td>'
            f'<td class="type">{_e(a.session_type)}</td>'
            f'<td class="st"><span class="status st-{_slug(a.status)}">{_e(a.status or "—")}</span></td>'
            f'<td class="review">{_e(a.review_status or "—")}</td>'
            f'{review_by}'
            f'<td class="num">{reports}</td></tr>'
        )
    return mark_safe("\n".join(out))


def headers_html(headers: list[dict], *, list_url: str) -> SafeString:
    """The list's sortable column headers (views._sort_headers), the markup the template loop wrote (its whitespace
    included): ten headers × a dozen template nodes were ~1 ms of the page."""
    out = []
    for h in headers:
        aria = f' aria-sort="{_e(h["aria_sort"])}"' if h["aria_sort"] else ""
        num = f' class="col-{_e(h["key"])} num"' if h["key"] == "sessionReportCount" else f' class="col-{_e(h["key"])}"'
        arrow = {"ascending": ' <span aria-hidden="true">▲</span>',
                 "descending": ' <span aria-hidden="true">▼</span>'}.get(h["aria_sort"], "")
        url = _e(h["url"])
        out.append(f'<th scope="col"{aria}{num}>\n              <a href="{url}" hx-get="{_e(list_url)}{url}" '
                   f'hx-target="#results" hx-swap="outerHTML settle:0ms" hx-push-url="true">{_e(h["label"])}{arrow}</a>\n'
                   f'            </th>')
    # the template loop's layout: each header on its own lines, indented as before
    return mark_safe("".join(f"\n            {th}\n          " for th in out))
