"""Read paths of the exam pages: names for SIDs (course, exam, learner, proctor types) and the modality option keys
the dashboard has seen. All from the local cache, never the upstream; every lookup is scoped to the course in the
URL, so a SID of another course names nothing."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.core.cache import cache

from proctordash.core.vocabulary import is_sid

# The appointment report's session types, as staff call them (labels for proctor types learned from them).
SESSION_TYPE_LABELS = {
    "b-virtual": "B Virtual", "examity": "Examity", "proctoru": "ProctorU", "register-blast": "Register Blast",
    "instructor-as-proctor": "Instructor as proctor", "messaging": "Messaging", "ad-hoc": "Ad hoc", "vtc": "VTC",
    "automated": "Automated",
}
LABEL_MIN_VOTES = 2  # appointments that must agree before a proctor type gets a name
LABEL_MIN_SHARE = 0.75
LEARN_CACHE_SECONDS = 600
MAX_LEARN_ROWS = 20000


def short_sid(sid: str) -> str:
    """A SID as a label when nothing names it: "TS2523…1ed8" (the full SID goes in the title)."""
    sid = str(sid)
    return sid if len(sid) <= 14 else f"{sid[:6]}…{sid[-4:]}"


def course_get(course_sid: str):
    from proctordash.appointments.models import Course

    return Course.objects.filter(sid=course_sid).first()


def exam_get(*, course_sid: str, exam_sid: str):
    """The cached exam, only when it belongs to that course (another course's exam names nothing)."""
    from proctordash.appointments.models import Exam

    return Exam.objects.filter(sid=exam_sid, course_sid=course_sid).first()


def exam_in_other_course(*, course_sid: str, exam_sid: str, configuration_sid: str = "") -> bool:
    """True when the cache knows this exam (or configuration) under a different course: the URL mixes courses, and
    the page must answer 404 before anything is fetched or shown."""
    from proctordash.appointments.models import Exam
    from proctordash.exams.models import CachedConfiguration

    if Exam.objects.filter(sid=exam_sid).exclude(course_sid=course_sid).exists():
        return True
    return bool(configuration_sid) and CachedConfiguration.objects.filter(sid=configuration_sid).exclude(
        course_sid=course_sid, exam_sid=exam_sid).exists()


@dataclass(frozen=True)
class Learner:
    name: str
    email: str


def learner_get(*, course_sid: str, enrollment_sid: str) -> Learner | None:
    """The learner of an enrollment, named by the appointment cache (the configuration itself carries only the
    enrollment SID)."""
    from proctordash.appointments.models import Appointment

    if not is_sid("enrollment", enrollment_sid or ""):
        return None
    row = (Appointment.objects.filter(course_sid=course_sid, enrollment_sid=enrollment_sid)
           .exclude(learner_first_name="", learner_last_name="", learner_email="")
           .order_by("removed_at", "-last_seen_at")
           .values("learner_first_name", "learner_last_name", "learner_email").first())
    if row is None:
        return None
    name = " ".join(p for p in (row["learner_first_name"], row["learner_last_name"]) if p)
    return Learner(name=name, email=row["learner_email"])


def proctor_type_options(*, course_sid: str) -> list[tuple[str, str]]:
    """[(TS sid, label)] of the proctor types used by this course's configurations, as the synced data show them.

    The upstream never names a proctor type. A name is learned when the appointments of configurations that list
    exactly that one type agree on the session type (at least LABEL_MIN_VOTES appointments, LABEL_MIN_SHARE of
    them): "ProctorU". Otherwise the label is the SID itself (shortened; the full SID is the value and the title).
    Cached per course for LEARN_CACHE_SECONDS."""
    key = f"exams:proctor-types:v1:{course_sid}"
    cached = cache.get(key)
    if cached is not None:
        return cached
    from proctordash.appointments.models import Appointment
    from proctordash.exams.models import CachedConfiguration

    votes: dict[str, Counter] = defaultdict(Counter)
    seen: Counter = Counter()
    rows = (Appointment.objects.live().filter(course_sid=course_sid)
            .values_list("session_type", "raw__examConfiguration__proctorTypes")[:MAX_LEARN_ROWS])
    for session_type, types in rows:
        if not isinstance(types, list):
            continue
        types = [t for t in types if isinstance(t, str) and is_sid("proctor_type", t)]
        seen.update(types)
        if len(types) == 1 and session_type:
            votes[types[0]][session_type] += 1
    for raw in CachedConfiguration.objects.filter(course_sid=course_sid).values_list("raw", flat=True)[:2000]:
        types = raw.get("proctorTypes") if isinstance(raw, dict) else None
        if isinstance(types, list):
            seen.update(t for t in types if isinstance(t, str) and is_sid("proctor_type", t))
    options = []
    for sid, _ in seen.most_common():
        label = ""
        counter = votes.get(sid)
        if counter:
            top, n = counter.most_common(1)[0]
            if n >= LABEL_MIN_VOTES and n / sum(counter.values()) >= LABEL_MIN_SHARE:
                label = SESSION_TYPE_LABELS.get(top, top)
        options.append((sid, label or short_sid(sid)))
    options.sort(key=lambda o: (o[1] == short_sid(o[0]), o[1].lower()))
    options = options[:40]
    cache.set(key, options, LEARN_CACHE_SECONDS)
    return options


def modality_keys(*, course_sid: str) -> dict[str, str]:
    """{key: field kind} of the modality options seen in this course's cached configurations (the reference pages
    name none), for values a field can show exactly (forms.modality_kind). The most common kind wins."""
    from proctordash.exams.forms import modality_kind
    from proctordash.exams.models import CachedConfiguration

    kinds: dict[str, Counter] = defaultdict(Counter)
    for raw in CachedConfiguration.objects.filter(course_sid=course_sid).values_list("raw", flat=True)[:2000]:
        options = raw.get("modalityOptions") if isinstance(raw, dict) else None
        if isinstance(options, dict):
            for key, value in options.items():
                kind = modality_kind(value)
                if kind and isinstance(key, str) and len(key) <= 200:
                    kinds[key][kind] += 1
    return {key: counter.most_common(1)[0][0] for key, counter in list(kinds.items())[:30]}
