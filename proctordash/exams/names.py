"""Names for the SIDs a person reads on the exams pages: course titles (told apart when two share a title), exam
titles and learners' names, looked up in the appointment cache with one query per kind.

A SID is never the label when a name is known; when none is known the label says so in words ("Exam not in the
cache yet") and the SID stays available as a title attribute and on the detail page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count


@dataclass(frozen=True)
class CourseName:
    sid: str
    title: str
    code: str = ""
    label: str = ""  # what a person reads: the title, plus the code (or a SID tail) when another course shares it

    def __str__(self) -> str:
        return self.label


@dataclass
class Names:
    courses: dict[str, CourseName] = field(default_factory=dict)
    exams: dict[str, str] = field(default_factory=dict)
    learners: dict[str, str] = field(default_factory=dict)  # enrollment SID → "First Last"

    def course(self, sid: str) -> str:
        found = self.courses.get(sid)
        return found.label if found else ""

    def exam(self, sid: str) -> str:
        return self.exams.get(sid, "")


def _tail(sid: str) -> str:
    return "…" + sid[-6:] if sid else ""


def course_names(sids: Iterable[str]) -> dict[str, CourseName]:
    """SID → CourseName for the courses the cache knows. Two courses with the same title are told apart by their
    code (e.g. "MATH 137"), and by the end of their SID when the codes agree too."""
    from proctordash.appointments.models import Course

    rows = list(Course.objects.filter(sid__in=set(sids) - {""}).values_list("sid", "title", "code"))
    titles = {title for _, title, _ in rows if title}
    shared = set(Course.objects.filter(title__in=titles).values("title").annotate(n=Count("id"))
                 .filter(n__gt=1).values_list("title", flat=True)) if titles else set()
    shared_codes: set[tuple[str, str]] = set()
    if shared:
        shared_codes = {(t, c) for t, c, n in Course.objects.filter(title__in=shared).values("title", "code")
                        .annotate(n=Count("id")).filter(n__gt=1).values_list("title", "code", "n")}
    out = {}
    for sid, title, code in rows:
        label = title or (code and f"Course {code}") or ""
        if title in shared:
            if code and (title, code) not in shared_codes:
                label = f"{title} ({code})"
            else:
                label = f"{title} ({code + ' ' if code else ''}{_tail(sid)})"
        out[sid] = CourseName(sid=sid, title=title, code=code, label=label)
    return out


def names_for(*, course_sids: Iterable[str] = (), exam_sids: Iterable[str] = (),
              enrollment_sids: Iterable[str] = ()) -> Names:
    """The names of these courses, exams and enrollments (learners), as far as the cache knows them."""
    from proctordash.appointments.models import Appointment, Exam

    names = Names(courses=course_names(course_sids))
    exam_sids = set(exam_sids) - {""}
    if exam_sids:
        names.exams = {sid: title for sid, title in Exam.objects.filter(sid__in=exam_sids).values_list("sid", "title")
                       if title}
    enrollment_sids = set(enrollment_sids) - {""}
    if enrollment_sids:
        for sid, first, last in (Appointment.objects.filter(enrollment_sid__in=enrollment_sids)
                                 .values_list("enrollment_sid", "learner_first_name", "learner_last_name")
                                 .distinct()):
            name = " ".join(p for p in (first, last) if p)
            if name:
                names.learners.setdefault(sid, name)
    return names
