"""One learner across both vendors: SmarterProctoring appointments (appointments app) and ProctorExam student sessions
(monitoring app). A package of its own because it reads both apps' caches, and neither of them may import the other
in both directions.

The vendors share no identifier: a person is linked across them by e-mail, normalised (trimmed, case-folded) —
`normalise_email`. The pages say "matched by e-mail" wherever that link is used. ProctorExam sessions carry no
course, so only roles that see every course get them (an instructor sees their own courses' appointments only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F, Q, QuerySet
from django.db.models.functions import Lower, Trim

from proctordash.accounts.permissions import ALL, visible_course_sids
from proctordash.appointments.models import Appointment
from proctordash.appointments.selectors import LIST_COLUMNS, appointment_base
from proctordash.monitoring.models import StudentSession

LOOKUP_LIMIT = 200  # rows read per vendor for one search
PERSON_LIMIT = 500  # rows shown per vendor on one person's page


def normalise_email(value: str | None) -> str:
    """The e-mail key that links one person's records across the vendors: trimmed and case-folded."""
    return (value or "").strip().casefold()


def _sessions() -> QuerySet[StudentSession]:
    return StudentSession.objects.filter(removed_at__isnull=True).select_related("exam")


def sessions_by_email(keys: set[str]) -> QuerySet[StudentSession]:
    """Live ProctorExam student sessions whose normalised e-mail is one of `keys` (the cache keeps the e-mail as
    sent; trimmed and lowercased here, checked again in Python with casefold by the callers)."""
    return _sessions().annotate(email_key=Lower(Trim("email"))).filter(email_key__in={k.lower() for k in keys})


def appointments_by_email(qs: QuerySet[Appointment], keys: set[str]) -> QuerySet[Appointment]:
    # learner_email_search is the lowercased e-mail (appointments/mapping.py); trimmed here
    return qs.annotate(email_key=Trim("learner_email_search")).filter(email_key__in={k.lower() for k in keys})


# --- the lookup: people, not rows ----------------------------------------------------------------------------------
@dataclass
class Person:
    """One learner as the lookup lists them: everything found under one normalised e-mail (or, without an e-mail,
    one SmarterProctoring learner SID / one ProctorExam session)."""

    key: str  # the normalised e-mail, or "sid:US…" / "pe:<session id>"
    name: str = ""
    email: str = ""
    learner_sids: set = field(default_factory=set)
    appointments: list = field(default_factory=list)
    sessions: list = field(default_factory=list)

    @property
    def matched_by_email(self) -> bool:
        return bool(self.appointments and self.sessions)

    @property
    def query(self) -> str:
        """The person page's query string."""
        from urllib.parse import urlencode

        if self.key.startswith("sid:"):
            return urlencode({"sid": self.key[4:]})
        if self.key.startswith("pe:"):
            return urlencode({"session": self.key[3:]})
        return urlencode({"email": self.email or self.key})


@dataclass
class LearnerLookup:
    query: str
    people: list
    appointments_total: int
    sessions_total: int
    proctorexam_visible: bool
    truncated: bool = False


def _person_key(email: str, fallback: str) -> str:
    return normalise_email(email) or fallback


def learner_lookup(*, user, query: str) -> LearnerLookup:
    """People whose name, e-mail or either vendor's ID matches the query (every word must match), with their
    records from both vendors joined by normalised e-mail. IDs: a SmarterProctoring learner (US…) or enrollment
    (EN…) SID, a ProctorExam student session id, student id or external id."""
    terms = query.lower().split()
    appointments = appointment_base(user=user)
    for term in terms:
        appointments = appointments.filter(
            Q(learner_first_name_search__contains=term) | Q(learner_last_name_search__contains=term)
            | Q(learner_email_search__contains=term) | Q(learner_sid_search__contains=term)
            | Q(enrollment_sid="EN" + term[2:] if term.startswith("en") else term)
        )
    order = ["learner_last_name", "learner_first_name", "learner_sid", F("appointment_date").desc(nulls_last=True), "sid"]
    appointment_rows = list(appointments.only(*LIST_COLUMNS, "enrollment_sid").order_by(*order)[:LOOKUP_LIMIT])
    appointments_total = (len(appointment_rows) if len(appointment_rows) < LOOKUP_LIMIT
                          else appointments.count())

    visible = visible_course_sids(user) is ALL
    session_rows, sessions_total = [], 0
    if visible:
        matches = Q()
        for term in terms:
            by_id = Q()
            if term.isdigit() and len(term) <= 18:
                by_id = (Q(id=int(term)) | Q(raw__student_id=int(term)) | Q(raw__student_id=term)
                         | Q(raw__external_id=term) | Q(raw__external_id=int(term)))
            elif term:
                by_id = Q(raw__external_id=term)
            matches &= Q(name__icontains=term) | Q(email__icontains=term) | by_id
        sessions = _sessions().filter(matches).order_by("name", "email", F("start_time").desc(nulls_last=True), "id")
        session_rows = list(sessions[:LOOKUP_LIMIT])
        sessions_total = len(session_rows) if len(session_rows) < LOOKUP_LIMIT else sessions.count()
        # the same people on either side, by e-mail: every record of every e-mail found on one side or the other
        keys = ({normalise_email(a.learner_email) for a in appointment_rows}
                | {normalise_email(s.email) for s in session_rows}) - {""}
        if keys:
            seen = {s.id for s in session_rows}
            session_rows += [s for s in sessions_by_email(keys).order_by("id")[:LOOKUP_LIMIT]
                             if s.id not in seen and normalise_email(s.email) in keys]
            seen = {a.sid for a in appointment_rows}
            extra = appointments_by_email(appointment_base(user=user), keys).only(*LIST_COLUMNS, "enrollment_sid")
            appointment_rows += [a for a in extra.order_by(*order)[:LOOKUP_LIMIT]
                                 if a.sid not in seen and normalise_email(a.learner_email) in keys]

    people: dict[str, Person] = {}
    for a in appointment_rows:
        key = _person_key(a.learner_email, f"sid:{a.learner_sid}" if a.learner_sid else f"appt:{a.sid}")
        person = people.setdefault(key, Person(key, a.learner_name, a.learner_email))
        person.appointments.append(a)
        if a.learner_sid:
            person.learner_sids.add(a.learner_sid)
    for s in session_rows:
        key = _person_key(s.email, f"pe:{s.id}")
        person = people.setdefault(key, Person(key, s.name, s.email))
        person.name = person.name or s.name
        person.sessions.append(s)
    ordered = sorted(people.values(), key=lambda p: ((p.name or "").casefold(), p.key))
    return LearnerLookup(query, ordered, appointments_total, sessions_total, visible,
                         truncated=appointments_total > LOOKUP_LIMIT or sessions_total > LOOKUP_LIMIT)


# --- one person ----------------------------------------------------------------------------------------------------
@dataclass
class Enrollment:
    enrollment_sid: str
    course_sid: str
    course_title: str
    appointments: int = 0


@dataclass
class PersonRecords:
    name: str
    email: str
    email_key: str
    learner_sids: list
    enrollments: list
    appointments: list
    appointments_total: int
    sessions: list
    sessions_total: int
    proctorexam_visible: bool


def person_get(*, user, email: str = "", sid: str = "", session: str = "") -> PersonRecords | None:
    """Everything both caches hold about one learner the user may see, found by e-mail (normalised), by a
    SmarterProctoring learner SID or by a ProctorExam student session id; None when nothing is found. A SID or a
    session leads to that learner's e-mail, and the e-mail to the rest (labelled "matched by e-mail")."""
    base = appointment_base(user=user)
    visible = visible_course_sids(user) is ALL
    key = normalise_email(email)
    sids: set[str] = {sid} if sid else set()
    if session and visible and session.isdigit() and len(session) <= 18:
        found = _sessions().filter(id=int(session)).first()
        if found is None:
            return None
        key = key or normalise_email(found.email)
        if not key:  # a session without an e-mail links to nothing else
            return PersonRecords(found.name, "", "", [], [], [], 0, [found], 1, True)
    if sid and not key:
        first = base.filter(learner_sid=sid).exclude(learner_email="").only("learner_email").first()
        key = normalise_email(first.learner_email) if first else ""
    if not key and not sids:
        return None
    condition = Q(learner_sid__in=sids) if sids else Q(pk__in=[])
    appointments = base.annotate(email_key=Trim("learner_email_search"))
    if key:
        condition |= Q(email_key=key.lower())
    appointments = appointments.filter(condition)
    order = [F("appointment_date").desc(nulls_last=True), "sid"]
    rows = [a for a in appointments.only(*LIST_COLUMNS, "enrollment_sid").order_by(*order)[:PERSON_LIMIT]
            if not key or a.learner_sid in sids or normalise_email(a.learner_email) == key]
    total = len(rows) if len(rows) < PERSON_LIMIT else appointments.count()
    sessions, sessions_total = [], 0
    if visible and key:
        qs = sessions_by_email({key}).order_by(F("start_time").desc(nulls_last=True), "id")
        sessions = [s for s in qs[:PERSON_LIMIT] if normalise_email(s.email) == key]
        sessions_total = len(sessions) if len(sessions) < PERSON_LIMIT else qs.count()
    if not rows and not sessions:
        return None
    enrollments: dict[str, Enrollment] = {}
    for a in rows:
        entry = enrollments.setdefault(a.enrollment_sid or f"?{a.course_sid}",
                                       Enrollment(a.enrollment_sid, a.course_sid, a.course_title))
        entry.appointments += 1
    named = next((a for a in rows if a.learner_name), None)
    name = named.learner_name if named else next((s.name for s in sessions if s.name), "")
    shown_email = next((a.learner_email for a in rows if a.learner_email), "") or next(
        (s.email for s in sessions if s.email), email)
    return PersonRecords(name, shown_email.strip(), key, sorted({a.learner_sid for a in rows if a.learner_sid}),
                         sorted(enrollments.values(), key=lambda e: e.course_title.casefold()), rows, total,
                         sessions, sessions_total, visible)
