"""Read paths of the live monitor and the readiness board. Everything here reads the local cache only.

The monitor is polled every few seconds by every support screen that is open, so the session list reads plain
value rows (no model instances, no `raw` JSON) and computes each row's *version*: a short hash of everything the
row shows. The poll compares versions with the ones the browser holds and sends back only the rows that differ.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from proctordash.appointments.models import Appointment
from proctordash.monitoring.models import Incident, ProctorExamExam, StudentSession

# The six system checks, in the order the monitor shows them: (column, label).
SYSTEM_CHECKS = [
    ("webcam_check", "Webcam"),
    ("microphone_check", "Microphone"),
    ("speakers_check", "Speakers"),
    ("screenshare_check", "Screen share"),
    ("mobile_check", "Mobile"),
    ("bandwidth_check", "Bandwidth"),
]
# How a check's upstream value reads: (css state, icon). The icon is decoration; the text always says the value.
_CHECK_OK = {"passed", "pass", "success", "succeeded", "ok", "completed", "complete", "done", "true", "skipped"}
_CHECK_BAD = {"failed", "fail", "failure", "error", "false", "denied", "blocked"}
_CHECK_PENDING = {"", "not_started", "none", "null"}

SETUP_STATUSES = {"in_setup", "exam_not_started"}
RUNNING_STATUSES = {"exam_started"}
# ProctorExam statuses a learner passes through before the checks are done (readiness board).
BEFORE_CHECKS_STATUSES = {"registered", "before_check_req_mail", "email_bounced", "email_sent", "after_check_req_mail",
                          "before_check_req"}

SP_ACTIVE_STATUSES = ["Needs Proctor", "Scheduled", "In Progress"]
SP_DEFAULT_DURATION_MINUTES = 120  # when the appointment's configuration does not say
SP_LOOKBACK = timedelta(hours=6)  # no appointment runs longer than this; bounds the "in progress" query


def check_state(value: str | None) -> tuple[str, str, str]:
    """(state, icon, text) of one system check value: state is ok / bad / pending / other."""
    raw = (value or "").strip()
    key = raw.lower()
    text = raw.replace("_", " ") if raw else "not started"
    if key in _CHECK_OK:
        return "ok", "✓", text
    if key in _CHECK_BAD:
        return "bad", "✗", text
    if key in _CHECK_PENDING:
        return "pending", "○", text
    return "other", "…", text  # e.g. in_progress: neither good nor bad yet


@functools.lru_cache(maxsize=2048)
def checks_of(values: tuple) -> tuple:
    """The six checks as (label, state, icon, text), shared between rows with the same values (most rows are alike:
    building them per row was a visible part of a 2,000-row page)."""
    return tuple((label, *check_state(v)) for (_, label), v in zip(SYSTEM_CHECKS, values))


def status_label(status: str) -> str:
    return status.replace("_", " ").capitalize() if status else "—"


def _version(*parts) -> str:
    """A short hash of small things (the summary, an appointment row)."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=6).hexdigest()


def exam_allowed_minutes(raw: dict) -> int | None:
    """The exam's duration in minutes, when ProctorExam's exam record states one."""
    for key in ("duration", "exam_duration", "duration_minutes"):
        value = raw.get(key) if isinstance(raw, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return int(value)
        if isinstance(value, str) and value.isdecimal() and int(value) > 0:
            return int(value)
    return None


@dataclass
class ExamInfo:
    id: int
    name: str
    start_time: datetime | None
    end_time: datetime | None
    minutes: int | None
    version: str = ""  # a few characters of the exam's content hash: a renamed exam re-renders its rows

    @property
    def order(self) -> tuple[str, int]:
        return (self.name.lower(), self.id)


def open_exams() -> dict[int, ExamInfo]:
    """The open ProctorExam exams still present upstream, by id."""
    exams = {}
    for row in ProctorExamExam.objects.filter(status="open", removed_at__isnull=True).values(
        "id", "name", "start_time", "end_time", "raw", "content_hash"
    ):
        exams[row["id"]] = ExamInfo(row["id"], row["name"], row["start_time"], row["end_time"],
                                    exam_allowed_minutes(row["raw"]), (row["content_hash"] or "")[:6])
    return exams


@dataclass
class SessionRow:
    """One ProctorExam student session as the monitor shows it."""

    id: int
    exam: ExamInfo
    name: str
    email: str
    status: str
    checks: tuple[tuple[str, str, str, str], ...]  # (label, state, icon, text), see checks_of
    start_time: datetime | None
    end_time: datetime | None
    entered_room: bool | None
    reviewed: str
    incident_count: int
    new_incidents: int
    flag: str  # why the session looks stuck, or ""
    flag_since: datetime | None
    open: bool = False
    incidents: list = field(default_factory=list)  # filled only for an open timeline
    version: str = ""

    @property
    def key(self) -> str:
        return f"pe-{self.id}"

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def checks_passed(self) -> int:
        return sum(1 for c in self.checks if c[1] == "ok")


def session_flag(*, status: str, updated_at: datetime | None, start_time: datetime | None, exam: ExamInfo,
                 now: datetime) -> tuple[str, datetime | None]:
    """Why a session looks stuck (text, since when), or ("", None).

    - in setup / exam not started for longer than MONITOR_SETUP_STUCK_AFTER, counted from the session's last
      upstream change (ProctorExam's updated_at moves on every status change);
    - still running past the exam's duration (or, when the exam states none, past the exam's end) plus
      MONITOR_OVERRUN_GRACE.
    Times in the text are absolute, so a row's version does not change every minute.
    """
    if status in SETUP_STATUSES and updated_at is not None:
        limit = updated_at + timedelta(seconds=settings.MONITOR_SETUP_STUCK_AFTER)
        if now > limit:
            return f"{status_label(status)} too long", updated_at
    if status in RUNNING_STATUSES:
        grace = timedelta(seconds=settings.MONITOR_OVERRUN_GRACE)
        if exam.minutes and start_time is not None:
            due = start_time + timedelta(minutes=exam.minutes)
            if now > due + grace:
                return f"Running past the {exam.minutes}-minute duration", due
        elif exam.end_time is not None and now > exam.end_time + grace:
            return "Running past the exam's end", exam.end_time
    return "", None


SESSION_COLUMNS = ("id", "exam_id", "name", "email", "status", *(c for c, _ in SYSTEM_CHECKS), "start_time",
                   "end_time", "entered_room", "reviewed", "incident_count", "upstream_updated_at", "content_hash")
# What the poll needs to know whether a row changed: everything a row shows comes from the upstream record, whose
# hash (content_hash) the sync keeps; the rest is derived here (stuck flag, new incidents, timeline open).
INDEX_COLUMNS = ("id", "exam_id", "name", "status", "incident_count", "content_hash")


def flag_code(status: str, flag: str) -> int:
    """0: not stuck, 1: in setup / not started too long, 2: running past its time."""
    if not flag:
        return 0
    return 1 if status in SETUP_STATUSES else 2


def flag_code_expression(exams: dict[int, ExamInfo], now: datetime):
    """The database's version of session_flag() (same rules, same thresholds), as flag_code() numbers."""
    setup_cutoff = now - timedelta(seconds=settings.MONITOR_SETUP_STUCK_AFTER)
    grace = timedelta(seconds=settings.MONITOR_OVERRUN_GRACE)
    overrun = Q(pk__in=[])
    for exam in exams.values():
        if exam.minutes:
            overrun |= Q(exam_id=exam.id, start_time__lt=now - timedelta(minutes=exam.minutes) - grace)
        elif exam.end_time is not None and now > exam.end_time + grace:
            overrun |= Q(exam_id=exam.id)
    return Case(
        When(Q(status__in=SETUP_STATUSES, upstream_updated_at__lt=setup_cutoff), then=Value(1)),
        When(Q(status__in=RUNNING_STATUSES) & overrun, then=Value(2)),
        default=Value(0), output_field=IntegerField(),
    )


def session_version(content_hash: str, exam: ExamInfo, code: int, new: int, is_open: bool) -> str:
    """A row's version: cheap to build for thousands of rows (no hashing: content_hash already is one)."""
    return f"{content_hash[:16]}.{exam.version}.{code}.{new}.{int(is_open)}"


class SessionIndexRow:
    """The light form of a row the poll compares: key, version, order and the figures of the summary."""

    __slots__ = ("id", "key", "version", "order", "status", "flag", "new", "incidents")

    def __init__(self, id, key, version, order, status, flag, new, incidents):
        self.id, self.key, self.version, self.order = id, key, version, order
        self.status, self.flag, self.new, self.incidents = status, flag, new, incidents


def _session_queryset(exams: dict[int, ExamInfo], status: str):
    qs = StudentSession.objects.filter(exam_id__in=list(exams), removed_at__isnull=True)
    return qs.filter(status=status) if status else qs


def _new_counts(exams: dict[int, ExamInfo], since: datetime | None, status: str = "") -> dict[int, int]:
    if since is None:
        return {}
    qs = Incident.objects.filter(first_seen_at__gt=since, student_session__exam_id__in=list(exams),
                                 student_session__removed_at__isnull=True)
    if status:
        qs = qs.filter(student_session__status=status)
    return dict(qs.values_list("student_session_id").annotate(n=Count("id")).values_list("student_session_id", "n"))


def _filtered_exams(exams: dict[int, ExamInfo] | None, exam_id: int | None) -> dict[int, ExamInfo]:
    exams = open_exams() if exams is None else exams
    if exam_id is not None:
        exams = {k: v for k, v in exams.items() if k == exam_id}
    return exams


def session_index(*, exam_id: int | None = None, status: str = "", since: datetime | None = None,
                  open_ids: set[int] | frozenset = frozenset(), now: datetime | None = None,
                  exams: dict[int, ExamInfo] | None = None, attention_only: bool = False) -> list[SessionIndexRow]:
    """The monitor's rows in their light form, in page order: what a poll needs to find the rows that changed
    without building (or rendering) the others. Two queries."""
    now = now or timezone.now()
    exams = _filtered_exams(exams, exam_id)
    if not exams:
        return []
    new_counts = _new_counts(exams, since, status)
    # The stuck flag is computed by the database (flag_code_expression), and the rows are read without the ORM's
    # per-value converters: this runs for every open monitor every 15 s over thousands of rows.
    qs = _session_queryset(exams, status).annotate(flag_code=flag_code_expression(exams, now))
    sql, params = qs.values_list(*INDEX_COLUMNS, "flag_code").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = []
    for sid, exam_id_, name, st, incidents, chash, code in rows:
        exam = exams[exam_id_]
        name = name or ""
        new = new_counts.get(sid, 0)
        is_open = sid in open_ids
        if attention_only and not (code or new):
            continue
        result.append(SessionIndexRow(sid, f"pe-{sid}", session_version(chash, exam, code, new, is_open),
                                      (exam.order, name.lower(), sid), st, code, new, incidents or 0))
    result.sort(key=lambda r: r.order)
    return result


def _db_datetime(value) -> datetime | None:
    """A DateTimeField value read with a plain cursor, as the ORM would return it: PostgreSQL gives an aware
    datetime, SQLite the UTC text Django stored ('2026-11-25 09:00:00.123456')."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt_timezone.utc)


def index_of(rows: list[SessionRow]) -> list[SessionIndexRow]:
    """The light form of rows already built (a full page): the same figures session_index() reads, without reading
    the sessions a second time (at ~3,400 sessions that second query and its rows were ~30 ms of the page)."""
    return [SessionIndexRow(r.id, r.key, r.version, (r.exam.order, (r.name or "").lower(), r.id), r.status,
                            flag_code(r.status, r.flag), r.new_incidents, r.incident_count or 0) for r in rows]


def monitor_sessions(*, exam_id: int | None = None, status: str = "", since: datetime | None = None,
                     open_ids: set[int] | frozenset = frozenset(), now: datetime | None = None,
                     exams: dict[int, ExamInfo] | None = None, only_ids: set[int] | None = None,
                     attention_only: bool = False) -> list[SessionRow]:
    """Student sessions of open ProctorExam exams, filtered, in a stable order (exam, learner, id) so that a
    poll only reorders rows when a session appears or disappears. `only_ids` limits it to those rows (a poll
    renders just the ones that changed). `attention_only` keeps the sessions that look stuck or have new
    incidents (the same rule in session_index(), so a poll adds and drops rows as they start or stop needing it).

    `since` is the user's last look: incidents the dashboard first saw after it count as new. `open_ids` are the
    sessions whose incident timeline is open; their incidents are loaded (one query for all of them).
    Queries: sessions, new-incident counts, and the open timelines if any (plus the open exams unless given).
    """
    now = now or timezone.now()
    exams = _filtered_exams(exams, exam_id)
    if not exams or only_ids == set():
        return []
    qs = _session_queryset(exams, status)
    if only_ids is not None:
        qs = qs.filter(id__in=list(only_ids))
    # Read without the ORM's per-value converters (~3 datetimes and a boolean per row through Django's generic
    # converter chain); _db_datetime / bool below do the same conversion directly.
    sql, params = qs.values_list(*SESSION_COLUMNS).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()

    new_counts: dict[int, int] = {}
    if since is not None and rows:
        new_qs = Incident.objects.filter(first_seen_at__gt=since, student_session_id__in=[r[0] for r in rows]) \
            if only_ids is not None else None
        new_counts = dict(new_qs.values_list("student_session_id").annotate(n=Count("id")).values_list(
            "student_session_id", "n")) if new_qs is not None else _new_counts(exams, since, status)
    timelines: dict[int, list] = {}
    wanted = {r[0] for r in rows} & set(open_ids)
    if wanted:
        for incident in Incident.objects.filter(student_session_id__in=wanted).order_by("created_at", "id"):
            incident.is_new = since is not None and incident.first_seen_at > since
            timelines.setdefault(incident.student_session_id, []).append(incident)

    result = []
    for (sid, exam_id_, name, email, st, *rest) in rows:
        checks_raw = rest[:6]
        start, end, entered, reviewed, incidents, updated, chash = rest[6:]
        start, end, updated = _db_datetime(start), _db_datetime(end), _db_datetime(updated)
        entered = None if entered is None else bool(entered)
        exam = exams[exam_id_]
        flag, flag_since = session_flag(status=st, updated_at=updated, start_time=start, exam=exam, now=now)
        if attention_only and not (flag or new_counts.get(sid, 0)):
            continue
        is_open = sid in wanted
        checks = checks_of(tuple(checks_raw))
        new = new_counts.get(sid, 0)
        row = SessionRow(sid, exam, name, email, st, checks, start, end, entered, reviewed, incidents, new, flag,
                         flag_since, is_open, timelines.get(sid, []))
        row.version = session_version(chash, exam, flag_code(st, flag), new, is_open)
        result.append(row)
    result.sort(key=lambda r: (r.exam.order, r.name.lower(), r.id))
    return result


def session_get(session_id: int) -> StudentSession | None:
    """A live student session of any exam (for the timeline page), with its exam."""
    return StudentSession.objects.select_related("exam").filter(pk=session_id, removed_at__isnull=True).first()


def incidents_for(session_id: int, *, since: datetime | None) -> list[Incident]:
    incidents = list(Incident.objects.filter(student_session_id=session_id).order_by("created_at", "id"))
    for incident in incidents:
        incident.is_new = since is not None and incident.first_seen_at > since
    return incidents


# --- SmarterProctoring appointments --------------------------------------------------------------------------------
@dataclass
class AppointmentRow:
    sid: str
    status: str
    learner_name: str
    learner_email: str
    course_title: str
    exam_title: str
    appointment_date: datetime | None
    recording_start_date: datetime | None
    minutes: int
    phase: str  # "in progress" / "starting soon"
    flag: str
    version: str = ""

    @property
    def key(self) -> str:
        return f"sp-{self.sid}"


def _minutes(value) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    if isinstance(value, str) and value.isdecimal() and int(value) > 0:
        return int(value)
    return SP_DEFAULT_DURATION_MINUTES


def monitor_appointments(*, now: datetime | None = None) -> list[AppointmentRow]:
    """SmarterProctoring appointments in progress now or starting within the next hour, "Needs Proctor" first.

    In progress: status "In Progress", or an active appointment whose start has passed and whose duration (from
    its exam configuration) has not. Flagged when its start is MONITOR_NO_RECORDING_AFTER past with no recording.
    """
    now = now or timezone.now()
    soon = now + timedelta(hours=1)
    qs = (
        Appointment.objects.live()
        .filter(status__in=SP_ACTIVE_STATUSES)
        .filter(Q(status="In Progress", appointment_date__gte=now - SP_LOOKBACK)
                | Q(appointment_date__gte=now - SP_LOOKBACK, appointment_date__lt=soon))
        .values_list("sid", "status", "learner_first_name", "learner_last_name", "learner_email", "course_title",
                     "exam_title", "appointment_date", "recording_start_date", "content_hash",
                     "raw__examConfiguration__duration")
    )
    no_recording_after = timedelta(seconds=settings.MONITOR_NO_RECORDING_AFTER)
    rows = []
    for sid, st, first, last, email, course, exam, date, recording, chash, duration in qs:
        minutes = _minutes(duration)
        if date is not None and date <= now:
            if st != "In Progress" and date + timedelta(minutes=minutes) < now:
                continue  # its time is over and it never started: not "in progress", not "soon"
            phase = "in progress"
        elif st == "In Progress":
            phase = "in progress"
        else:
            phase = "starting soon"
        flag = ""
        if date is not None and recording is None and now > date + no_recording_after:
            flag = "Past its start, no recording"
        name = " ".join(p for p in (first, last) if p)
        row = AppointmentRow(sid, st, name, email, course, exam, date, recording, minutes, phase, flag)
        row.version = _version(chash, st, phase, flag)
        rows.append(row)
    far_future = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (r.status != "Needs Proctor", r.appointment_date or far_future, r.sid))
    return rows


# --- readiness board -----------------------------------------------------------------------------------------------
@dataclass
class ReadinessLearner:
    upstream: str  # "SmarterProctoring" / "ProctorExam"
    exam: str
    exam_key: str
    course: str
    name: str
    email: str
    reason: str
    when: datetime | None  # appointment date / exam opening


@dataclass
class ReadinessExam:
    key: str
    upstream: str
    title: str
    course: str
    opens: datetime | None  # ProctorExam: the exam's start; SmarterProctoring: the exam's opening, else the first appointment
    learners: list[ReadinessLearner] = field(default_factory=list)
    open_now: bool = False  # its window has begun: listed under "Open now", not "Opening within N days"
    closes: datetime | None = None

    @property
    def has_checks(self) -> bool:
        """Only ProctorExam runs system checks; SmarterProctoring's column reads "n/a", not "0"."""
        return self.upstream == "ProctorExam"

    @property
    def has_proctor_step(self) -> bool:
        """Only SmarterProctoring appointments wait for a proctor ("Needs Proctor")."""
        return self.upstream == "SmarterProctoring"

    @property
    def needs_proctor(self) -> int:
        return sum(1 for learner in self.learners if learner.reason == "Needs Proctor")

    @property
    def checks_pending(self) -> int:
        return len(self.learners) - self.needs_proctor


@dataclass
class ReadinessBoard:
    """The board's two groups: exams already open (their window has begun) and exams opening within `days`."""

    open_now: list[ReadinessExam]
    opening: list[ReadinessExam]

    @property
    def exams(self) -> list[ReadinessExam]:
        return self.open_now + self.opening

    @property
    def learners(self) -> int:
        return sum(len(e.learners) for e in self.exams)


def _parse_upstream_date(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:  # well-formed but impossible ("2026-02-30T…"): treated as absent, like any bad upstream date
        return None
    if parsed is None or timezone.is_naive(parsed):
        return None
    return parsed


def readiness_board(*, days: int, now: datetime | None = None) -> list[ReadinessExam]:
    """Every exam of the board in one list, open ones first (see readiness_groups)."""
    return readiness_groups(days=days, now=now).exams


def readiness_groups(*, days: int, now: datetime | None = None) -> ReadinessBoard:
    """Exams open now or opening within `days`, with the learners who are not ready for them.

    SmarterProctoring: learners still "Needs Proctor" with an appointment in the window, or with no date yet when
    the exam's configuration window (examOpenDate…examCloseDate) is open now or opens within the window.
    ProctorExam: learners whose system checks are not all through, for open exams that have not ended and exams
    (open or draft) starting within the window.
    An exam is "open now" when its window has begun (ProctorExam: start time passed; SmarterProctoring: the
    configuration's examOpenDate passed); the rest are "opening within N days", ordered by opening time."""
    now = now or timezone.now()
    until = now + timedelta(days=days)
    exams: dict[str, ReadinessExam] = {}
    sp_windows: dict[str, list] = {}

    sp = (
        Appointment.objects.live()
        .filter(status="Needs Proctor")
        .filter(Q(appointment_date__gte=now, appointment_date__lt=until) | Q(appointment_date__isnull=True))
        .values_list("exam_sid", "exam_title", "course_title", "learner_first_name", "learner_last_name",
                     "learner_email", "appointment_date", "raw__examConfiguration__examOpenDate",
                     "raw__examConfiguration__examCloseDate")
    )
    for exam_sid, exam_title, course, first, last, email, date, open_date, close_date in sp:
        opens = _parse_upstream_date(open_date)
        closes = _parse_upstream_date(close_date)
        if date is None:
            # No appointment date: listed while its exam is open or opens within the window, if the exam says when.
            if opens is None or opens >= until or (closes is not None and closes <= now):
                continue
        key = f"sp-{exam_sid or exam_title}"
        exam = exams.get(key)
        if exam is None:
            exam = exams[key] = ReadinessExam(key, "SmarterProctoring", exam_title or exam_sid, course, None)
            sp_windows[key] = [None, None, None]  # the configuration's opening and closing, the first appointment
        window = sp_windows[key]
        if opens is not None and (window[0] is None or opens < window[0]):
            window[0] = opens
        if closes is not None and (window[1] is None or closes > window[1]):
            window[1] = closes
        if date is not None and (window[2] is None or date < window[2]):
            window[2] = date
        name = " ".join(p for p in (first, last) if p)
        exam.learners.append(ReadinessLearner("SmarterProctoring", exam.title, key, course, name, email,
                                              "Needs Proctor", date or opens))
    for key, (opens, closes, first_date) in sp_windows.items():
        exam = exams[key]
        exam.open_now = opens is not None and opens <= now
        exam.opens = opens if opens is not None else first_date
        exam.closes = closes

    pe_exams = ProctorExamExam.objects.filter(removed_at__isnull=True, status__in=["open", "draft"]).filter(
        Q(start_time__lt=until) | Q(start_time__isnull=True, status="open")
    ).filter(Q(end_time__isnull=True) | Q(end_time__gt=now))
    pe_by_id = {e.id: e for e in pe_exams.only("id", "name", "start_time", "end_time", "status")}
    if pe_by_id:
        sessions = StudentSession.objects.filter(exam_id__in=list(pe_by_id), removed_at__isnull=True).values_list(
            "exam_id", "name", "email", "status", *(c for c, _ in SYSTEM_CHECKS)
        )
        for exam_id, name, email, st, *checks in sessions:
            if st in {"exam_started", "exam_finished"}:
                continue  # past the checks already
            # A check still "not started" after the learner went through the requirements step was not required
            # (ProctorExam leaves the mobile check so when the exam does not use it); a failed one always counts.
            failing = [label for (_, label), v in zip(SYSTEM_CHECKS, checks) if check_state(v)[0] == "bad"]
            if not failing and st not in BEFORE_CHECKS_STATUSES:
                continue
            pe_exam = pe_by_id[exam_id]
            key = f"pe-{exam_id}"
            exam = exams.get(key)
            if exam is None:
                started = pe_exam.status == "open" and (pe_exam.start_time is None or pe_exam.start_time <= now)
                exam = exams[key] = ReadinessExam(key, "ProctorExam", pe_exam.name or str(exam_id), "",
                                                  pe_exam.start_time, open_now=started, closes=pe_exam.end_time)
            reason = ("System check failed: " + ", ".join(failing) if failing
                      else f"System checks not done (status: {status_label(st).lower()})")
            exam.learners.append(ReadinessLearner("ProctorExam", exam.title, key, "", name, email, reason,
                                                  pe_exam.start_time))
    far = datetime.max.replace(tzinfo=now.tzinfo)
    for exam in exams.values():
        exam.learners.sort(key=lambda learner: (learner.reason != "Needs Proctor", learner.name.lower()))
    open_now = sorted((e for e in exams.values() if e.open_now),
                      key=lambda e: (e.closes or far, e.title.lower(), e.key))
    opening = sorted((e for e in exams.values() if not e.open_now),
                     key=lambda e: (e.opens or far, e.title.lower(), e.key))
    return ReadinessBoard(open_now, opening)
