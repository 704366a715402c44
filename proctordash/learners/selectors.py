"""One learner across both vendors: SmarterProctoring appointments (appointments app) and ProctorExam student sessions
(monitoring app). A package of its own because it reads both apps' caches, and neither of them may import the other
in both directions."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import F, Q

from proctordash.accounts.permissions import ALL, visible_course_sids
from proctordash.appointments.selectors import LIST_COLUMNS, appointment_base
from proctordash.monitoring.models import StudentSession


# --- learner lookup ------------------------------------------------------------------------------------------------
LOOKUP_LIMIT = 200


@dataclass
class LearnerLookup:
    query: str
    appointments: list
    appointments_total: int
    sessions: list
    sessions_total: int
    proctorexam_visible: bool


def learner_lookup(*, user, query: str) -> LearnerLookup:
    """Appointments (SmarterProctoring) and student sessions (ProctorExam) whose learner name, e-mail or SID contains
    every word of the query. ProctorExam sessions carry no course, so only roles that see every course get them."""
    terms = query.lower().split()
    appointments = appointment_base(user=user)
    for term in terms:
        appointments = appointments.filter(
            Q(learner_first_name_search__contains=term) | Q(learner_last_name_search__contains=term)
            | Q(learner_email_search__contains=term) | Q(learner_sid_search__contains=term)
        )
    appointments = appointments.only(*LIST_COLUMNS).order_by(
        "learner_last_name", "learner_first_name", "learner_sid", F("appointment_date").desc(nulls_last=True), "sid")
    appointment_rows = list(appointments[:LOOKUP_LIMIT])
    appointments_total = len(appointment_rows) if len(appointment_rows) < LOOKUP_LIMIT else appointments.count()

    visible = visible_course_sids(user) is ALL
    session_rows, sessions_total = [], 0
    if visible:
        # the same person across upstreams: every word in their name or e-mail, or an e-mail their appointments carry
        matches = Q()
        for term in terms:
            matches &= Q(name__icontains=term) | Q(email__icontains=term)
        emails = {a.learner_email for a in appointment_rows if a.learner_email}
        if emails:
            matches |= Q(email__in=emails)
        sessions = StudentSession.objects.filter(removed_at__isnull=True).filter(matches).select_related("exam")
        sessions = sessions.order_by("name", "email", F("start_time").desc(nulls_last=True), "id")
        session_rows = list(sessions[:LOOKUP_LIMIT])
        sessions_total = len(session_rows) if len(session_rows) < LOOKUP_LIMIT else sessions.count()
    return LearnerLookup(query, appointment_rows, appointments_total, session_rows, sessions_total, visible)
