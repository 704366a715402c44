"""Read paths over the appointment cache. Pages never call the upstream; every selector scopes to what the user may
see (`for_user`) and to rows still present upstream (`live`).

The filters reproduce the upstream report's semantics (docs/architecture.md, "Upstream semantics"): exact matches on
SIDs and enums, case-insensitive substring on the lowercased *_search columns, `appointmentAfter` inclusive and
`appointmentBefore` exclusive (compared in UTC; a null date never matches a date filter).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.core.cache import cache

from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone

from proctordash.appointments.forms import (DEFAULT_SORT, DEFAULT_SORT_FOR_WHEN, EXACT_FILTERS, SORT_KEYS,
                                            TEXT_FILTERS, Group, prepare_pickers, start_of_today)
from proctordash.appointments.models import (Appointment, Course, CourseOffering, EnrollmentExamSession, Exam,
                                             SavedView)
from proctordash.core import timezones, vocabulary
from proctordash.accounts.permissions import ALL, can_view_course, visible_course_sids

LIST_COLUMNS = [  # what the list and the export read: no `raw` (it can be large)
    "id", "sid", "appointment_date", "learner_first_name", "learner_last_name", "learner_email", "learner_sid",
    "course_sid", "course_title", "exam_sid", "exam_title", "session_type", "status", "review_status",
    "review_by_date", "session_report_count",
]
DUE_SOON = timedelta(hours=24)


def appointment_base(*, user) -> QuerySet[Appointment]:
    return Appointment.objects.live().for_user(user)


def appointment_filter(qs: QuerySet[Appointment], filters: dict) -> QuerySet[Appointment]:
    """Apply cleaned filter values (keys = the report's query names). Empty values mean "not filtered"."""
    for name, column in EXACT_FILTERS.items():
        if filters.get(name):
            qs = qs.filter(**{column: filters[name]})
    for name, column in TEXT_FILTERS.items():
        if filters.get(name):
            # the column is already lowercased; `contains` escapes % and _, so this is the upstream's `in`
            qs = qs.filter(**{f"{column}__contains": filters[name].lower()})
    if filters.get("appointmentAfter"):
        qs = qs.filter(appointment_date__gte=filters["appointmentAfter"])
    if filters.get("appointmentBefore"):
        qs = qs.filter(appointment_date__lt=filters["appointmentBefore"])
    when = filters.get("when") or ""
    if when in ("", "past") and not (filters.get("appointmentAfter") or filters.get("appointmentBefore")):
        today = filters.get("today_start") or start_of_today()
        if when == "past":
            qs = qs.filter(appointment_date__lt=today)
        else:  # from today on, and the appointments that have no date yet (Needs Proctor): they need attention too
            qs = qs.filter(Q(appointment_date__gte=today) | Q(appointment_date__isnull=True))
    for term in (filters.get("q") or "").lower().split():
        qs = qs.filter(search_text__contains=term)
    return qs


def appointment_order(qs: QuerySet[Appointment], sort: str | None) -> QuerySet[Appointment]:
    """Any column, ascending or descending (`-key`); nulls last either way; `sid` breaks ties so paging is stable."""
    sort = sort or DEFAULT_SORT
    if sort.lstrip("-") not in SORT_KEYS:
        sort = DEFAULT_SORT
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = SORT_KEYS.get(key, SORT_KEYS[DEFAULT_SORT])
    expr = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_last=True)
    order = [expr]
    if key == "learner":
        order.append(F("learner_first_name").desc() if descending else F("learner_first_name").asc())
    order.append("sid")
    return qs.order_by(*order)


def appointment_list(*, user, filters: dict) -> QuerySet[Appointment]:
    """The filtered, sorted appointments the user may see (the list page and the CSV export read this)."""
    sort = filters.get("sort") or DEFAULT_SORT_FOR_WHEN.get(filters.get("when") or "", DEFAULT_SORT)
    return appointment_order(appointment_filter(appointment_base(user=user), filters), sort)


@dataclass
class Overview:
    """What the list shows above its rows: the total, the count per status, and (local day, status, count) rows
    for the chart (day None = no date)."""

    total: int
    status_counts: dict[str, int]
    per_day: list[tuple]


def appointment_overview(*, user, filters: dict, qs: QuerySet[Appointment] | None = None) -> Overview:
    """The list's total, per-status counts and chart data for a filter: the ONE place the list aggregates over
    every matching row (today one GROUP BY local day × status of the filtered rows). Replace the internals (e.g.
    with per-day × status counts kept by the sync) without touching the view; `qs` = appointment_list(...) when
    the caller already built it."""
    if qs is None:
        qs = appointment_list(user=user, filters=filters)
    per_day = appointment_per_day(qs)
    counts = status_counts_from(per_day)
    return Overview(sum(counts.values()), counts, per_day)


def appointment_status_counts(qs: QuerySet[Appointment]) -> dict[str, int]:
    """Per-status counts of a filtered queryset in one query (their sum is the total)."""
    return status_counts_from(qs.order_by().values_list("status").annotate(n=Count("id")))


def status_counts_from(rows) -> dict[str, int]:
    counts = {status: 0 for status in vocabulary.APPOINTMENT_STATUSES}
    for *_, status, n in rows:
        counts[status or "(none)"] = counts.get(status or "(none)", 0) + n
    return counts


def appointment_per_day(qs: QuerySet[Appointment]) -> list[tuple]:
    """(local date or None, status, count), days in the dashboard's time zone. One scan of the filtered rows serves
    both the per-status counts (sum over days, dateless rows included) and the chart (dated rows only)."""
    return list(
        qs.order_by()
        .annotate(day=TruncDate("appointment_date", tzinfo=timezones.dashboard_zone()))
        # COUNT(*), not COUNT(id): with nothing but indexed columns in the query, the database can answer from the
        # appt_enum_date index alone (an index-only scan; docs/appointments-indexes.md)
        .values_list("day", "status").annotate(n=Count("*")).order_by("day")
    )


def appointment_get(*, user, sid: str) -> Appointment:
    """One appointment, or 404 (also for another course's appointment: its existence is not confirmed)."""
    appointment = Appointment.objects.live().filter(sid=sid).first()
    if appointment is None or not can_view_course(user, appointment.course_sid):
        raise Http404("No such appointment")
    return appointment


def exam_session_list(*, user, appointment: Appointment) -> list[EnrollmentExamSession]:
    return list(
        EnrollmentExamSession.objects.for_user(user)
        .filter(enrollment_sid=appointment.enrollment_sid, exam_sid=appointment.exam_sid, removed_at__isnull=True)
        .order_by(F("created_date").desc(nulls_last=True), "sid")
    )


def course_choices(*, user) -> list[Course]:
    sids = visible_course_sids(user)
    qs = Course.objects.all()
    if sids is not ALL:
        qs = qs.filter(sid__in=sids)
    return list(qs.only("sid", "title", "code", "offering_sid", "offering_title"))


def exam_choices(*, user) -> list[Exam]:
    return list(Exam.objects.for_user(user).only("sid", "title", "course_sid"))


def offering_choices(*, user, courses: list[Course]) -> list[tuple]:
    """Offerings for the picker, grouped under their course's title (a course has several offerings)."""
    sids = visible_course_sids(user)
    qs = CourseOffering.objects.all()
    if sids is not ALL:
        qs = qs.filter(course_sid__in=sids)
    titles = {c.sid: c.title or c.sid for c in courses}
    groups: dict[str, list] = {}
    for offering in qs.only("sid", "course_sid", "title"):
        groups.setdefault(offering.course_sid, []).append((offering.sid, offering.title or offering.sid))
    return sorted(((Group(titles.get(sid, sid), sid), options) for sid, options in groups.items()),
                  key=lambda item: item[0].label.lower())


def exam_windows(*, user) -> dict[str, tuple]:
    """exam SID → (first, last) appointment date of its live appointments the user may see: the exam picker's
    "window", which tells apart exams of the same title in one course (one GROUP BY over the exam/date index)."""
    rows = (appointment_base(user=user).exclude(exam_sid="").order_by().values_list("exam_sid")
            .annotate(first=Min("appointment_date"), last=Max("appointment_date")))
    return {sid: (first, last) for sid, first, last in rows}


def window_text(window: tuple | None) -> str:
    """"02 Sep – 14 Dec 2026" in the dashboard's zone ("" when the exam has no dated appointment)."""
    first, last = window or (None, None)
    if first is None or last is None:
        return ""
    zone = timezones.dashboard_zone()
    first, last = first.astimezone(zone).date(), last.astimezone(zone).date()
    if first == last:
        return last.strftime("%d %b %Y")
    return f"{first.strftime('%d %b' if first.year == last.year else '%d %b %Y')} – {last.strftime('%d %b %Y')}"


class Choice(NamedTuple):
    """A picker entry (what the filter form reads from a course or an exam)."""

    sid: str
    title: str
    course_sid: str = ""
    detail: str = ""  # a course: its code and offering title, one per line; an exam: its window (window_text)


PICKER_CACHE_SECONDS = 300
_UNREAD = object()


def picker_choices(*, user) -> tuple[list[Choice], list[Choice], list[tuple]]:
    """(courses, exams, offerings grouped by course title) for the list's pickers.

    Cached in Redis per sync generation: the key holds the appointment sync's last success time and the user's course
    scope, so a finished sync (which is what changes courses, exams and offerings) starts a new entry. An exam created
    through the exams screens between two syncs appears after the next sync or PICKER_CACHE_SECONDS. Without a
    successful sync yet, or when Redis fails, the three small tables are read directly."""
    return _picker_choices(user=user, key=_picker_key(user=user))


def _picker_key(*, user, generation=_UNREAD) -> str | None:
    """The pickers' cache key (sync generation and course scope), or None before the first successful sync.
    `generation`: the appointment sync's last success time when the caller already read it (None: never)."""
    from proctordash.sync.models import UpstreamState

    if generation is _UNREAD:
        generation = (UpstreamState.objects.filter(upstream="smarterproctoring")
                      .values_list("last_success_at", flat=True).first())
    if generation is None:
        return None
    sids = visible_course_sids(user)
    scope = "all" if sids is ALL else hashlib.sha256("\n".join(sorted(sids)).encode()).hexdigest()[:32]
    return f"appointments:pickers:v2:{scope}:{generation.isoformat()}"


def _picker_choices(*, user, key: str | None) -> tuple[list[Choice], list[Choice], list[tuple]]:
    if key is not None:
        try:
            cached = cache.get(key)
        except Exception:  # Redis down: the database answers, the page does not fail
            cached = None
        if cached is not None:
            return cached
    courses = course_choices(user=user)
    windows = exam_windows(user=user)
    value = (
        [Choice(c.sid, c.title, "", f"{c.code}\n{c.offering_title}") for c in courses],
        [Choice(e.sid, e.title, e.course_sid, window_text(windows.get(e.sid))) for e in exam_choices(user=user)],
        offering_choices(user=user, courses=courses),
    )
    if key is not None:
        try:
            cache.set(key, value, PICKER_CACHE_SECONDS)
        except Exception:
            pass
    return value


_prepared_pickers: dict[str, tuple[float, dict]] = {}  # key → (monotonic expiry, prepared pickers); per process
PREPARED_PICKERS_MAX = 64  # keys (course scopes × generations) a process keeps; emptied when full


def picker_widgets(*, user, generation=_UNREAD) -> dict:
    """The pickers ready to render (forms.prepare_pickers), kept per process under picker_choices' key and expiry:
    the full list page then pays neither the Redis round trip and unpickling of the choices nor escaping hundreds of
    options (~4 ms of CPU per page at 200 exams; docs/benchmarks.md). Same freshness rules as picker_choices.
    `generation` as for _picker_key (the list reads the UpstreamState row once for this and the freshness line)."""
    key = _picker_key(user=user, generation=generation)
    now = time.monotonic()
    if key is not None:
        hit = _prepared_pickers.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    prepared = prepare_pickers(*_picker_choices(user=user, key=key))
    if key is not None:
        if len(_prepared_pickers) >= PREPARED_PICKERS_MAX:
            _prepared_pickers.clear()
        _prepared_pickers[key] = (now + PICKER_CACHE_SECONDS, prepared)
    return prepared


def saved_view_list(*, user) -> list[SavedView]:
    return list(SavedView.visible_to(user).select_related("owner"))


# --- review queue --------------------------------------------------------------------------------------------------
@dataclass
class ReviewGroup:
    key: str
    label: str
    rows: list = field(default_factory=list)
    total: int = 0


REVIEW_GROUP_LIMIT = 200
# The review queue's rule (docs/architecture.md): an appointment needs review when its review is required and not
# complete (review status "pending") AND the exam session has been taken, which in SmarterProctoring's appointment
# statuses is only "Closed". Needs Proctor and Scheduled have nothing recorded yet, In Progress is still running,
# Cancelled never ran: none of them can be reviewed, so none is in the queue or in its counts.
REVIEWABLE_STATUSES = ("Closed",)
REVIEW_LIST_QUERY = "reviewStatus=pending&status=Closed&when=all&sort=reviewByDate"  # the same rows in the list


def review_needed(*, user) -> QuerySet[Appointment]:
    """Every appointment the user may see that needs a review (REVIEWABLE_STATUSES, review pending)."""
    return appointment_base(user=user).filter(review_status="pending", status__in=REVIEWABLE_STATUSES)


def review_queue(*, user, now: datetime | None = None) -> list[ReviewGroup]:
    """Appointments that need a review, grouped Overdue / due within 24 h / later (incl. no deadline), each by
    review-by date. A group's total counts exactly the rows its query lists (the first REVIEW_GROUP_LIMIT are shown).
    Three bounded queries plus at most three counts, whatever the size of the queue."""
    now = now or timezone.now()
    base = review_needed(user=user).only(*LIST_COLUMNS)
    order = [F("review_by_date").asc(nulls_last=True), "sid"]
    specs = [
        ("overdue", "Overdue", Q(review_by_date__lt=now)),
        ("soon", "Due within 24 h", Q(review_by_date__gte=now, review_by_date__lt=now + DUE_SOON)),
        ("later", "Later", Q(review_by_date__gte=now + DUE_SOON) | Q(review_by_date__isnull=True)),
    ]
    groups = []
    for key, label, condition in specs:
        qs = base.filter(condition)
        rows = list(qs.order_by(*order)[:REVIEW_GROUP_LIMIT])
        total = len(rows) if len(rows) < REVIEW_GROUP_LIMIT else qs.count()
        groups.append(ReviewGroup(key, label, rows, total))
    return groups
