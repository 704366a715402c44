"""The exams index (/exams/): the user's exams from the cache, searchable by exam title and course, named in words,
with their base configuration, per-student configurations, window and changes made outside ProctorDash.

Query string (a contract: links and bookmarks carry it): `q` (words; each must match the exam title, the course
title or the course code), `page`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from proctordash.exams import fields as F_
from proctordash.exams.models import CachedConfiguration, ConfigurationChange
from proctordash.exams.names import course_names

PAGE_SIZE = 50
MAX_QUERY = 200


@dataclass
class ExamRow:
    exam: object  # appointments.Exam
    course_label: str
    course_code: str
    base_sid: str = ""  # the base configuration, when known
    base_known: bool = False  # True: fetched (we know it is the base), False: guessed from the appointments
    other_sids: list[str] = field(default_factory=list)  # configurations seen but not told apart yet
    per_student: int = 0
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    outside: ConfigurationChange | None = None  # the latest change made outside ProctorDash (recent)


def exams_index(*, user, q: str = "", page: str | int | None = 1, also_name: list[str] = ()
                ) -> tuple[Page, list[ExamRow], int, dict]:
    """(page, rows, outside_count, course names): one page of the user's exams matching `q`, ordered by course title
    then exam title, with everything a row shows, in a constant number of queries; outside_count = exams of the user
    with a change made outside ProctorDash in the last DRIFT_CHECK_DAYS days; the course names cover the page's
    courses and `also_name` (the page's course picker), looked up together."""
    from proctordash.appointments.models import Appointment, Course, Exam

    qs = Exam.objects.for_user(user).annotate(
        course_title=Coalesce(Subquery(Course.objects.filter(sid=OuterRef("course_sid")).values("title")[:1]),
                              "course_sid"))
    for word in q.split()[:10]:
        courses = Course.objects.filter(Q(title__icontains=word) | Q(code__icontains=word)).values("sid")
        qs = qs.filter(Q(title__icontains=word) | Q(course_sid__in=courses))
    qs = qs.order_by(Lower("course_title"), "course_sid", Lower("title"), "sid")
    paginator = Paginator(qs, PAGE_SIZE)
    page_obj = paginator.get_page(page)
    exams = list(page_obj.object_list)
    exam_sids = [e.sid for e in exams]
    names = course_names({e.course_sid for e in exams} | set(also_name))
    rows = {e.sid: ExamRow(e, names[e.course_sid].label if e.course_sid in names else "",
                           names[e.course_sid].code if e.course_sid in names else "") for e in exams}
    per_student: dict[str, set[str]] = {}
    for exam_sid, sid, enrollment_sid, raw_open, raw_close in (
            CachedConfiguration.objects.filter(exam_sid__in=exam_sids)
            .values_list("exam_sid", "sid", "enrollment_sid", "raw__examOpenDate", "raw__examCloseDate")):
        row = rows[exam_sid]
        if enrollment_sid:
            per_student.setdefault(exam_sid, set()).add(sid)
        elif not row.base_known:
            row.base_sid, row.base_known = sid, True
            row.opens_at, row.closes_at = F_.parse_date(raw_open), F_.parse_date(raw_close)
    # Configurations the appointments name: the base is the one several learners share (a per-student one belongs
    # to one enrollment).
    seen: dict[str, list[tuple[str, int]]] = {}
    for exam_sid, sid, learners in (Appointment.objects.filter(exam_sid__in=exam_sids).exclude(configuration_sid="")
                                    .order_by().values_list("exam_sid", "configuration_sid")
                                    .annotate(n=Count("enrollment_sid", distinct=True))):
        seen.setdefault(exam_sid, []).append((sid, learners))
    for exam_sid, configs in seen.items():
        row = rows[exam_sid]
        known_students = per_student.setdefault(exam_sid, set())
        for sid, learners in sorted(configs, key=lambda c: -c[1]):
            if sid == row.base_sid or sid in known_students:
                continue
            if not row.base_sid and learners >= 2:
                row.base_sid = sid
            elif learners == 1 and row.base_sid:
                known_students.add(sid)
            else:
                row.other_sids.append(sid)
    for exam_sid, sids in per_student.items():
        rows[exam_sid].per_student = len(sids)
    since = timezone.now() - timedelta(days=settings.DRIFT_CHECK_DAYS)
    for change in (ConfigurationChange.objects.filter(source=ConfigurationChange.Source.OUTSIDE,
                                                      exam_sid__in=exam_sids, created_at__gte=since)
                   .order_by("exam_sid", "-created_at").only("exam_sid", "course_sid", "configuration_sid",
                                                             "created_at", "diff")):
        rows[change.exam_sid].outside = rows[change.exam_sid].outside or change
    outside_count = (ConfigurationChange.objects.for_user(user)
                     .filter(source=ConfigurationChange.Source.OUTSIDE, created_at__gte=since)
                     .values("exam_sid").distinct().count())
    return page_obj, [rows[s] for s in exam_sids], outside_count, names
