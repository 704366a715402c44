"""Read paths of the live monitor and the readiness board. Everything here reads the local cache only.

The monitor shows what needs a person first. Every ProctorExam student session of an open exam and every
SmarterProctoring appointment in progress or starting within the hour falls into one group (monitor_layout):

  attention  stuck (in setup / not started too long, running past its time), flagged (SmarterProctoring: past its
             start with no recording, or still "Needs Proctor"), or with incidents new since the user's last look
  incidents  in progress with incidents
  progress   in progress (in setup, in the room, exam started)
  soon       not started yet, booked from 30 min ago to an hour from now
  waiting    not started (the rest)                       } always counted per exam, listed on demand
  finished   finished                                     }

The first four are listed row by row while they fit the page's row budget (ROW_BUDGET rows in all, in that order);
a group that does not fit is counted per exam too. So the page stays a few hundred rows at 20,000 sessions. An
exam's count expands on demand (`expand=<group>-<exam key>[.<rows>]`), a plain link that htmx also follows.

The monitor is polled every few seconds by every support screen that is open: the groups are counted in SQL (one
GROUP BY), only listed rows are read, and each unit the page shows (group heading, per-exam count, row) has a
*version*, a short string of everything it shows. The poll compares versions with the ones the browser holds and
sends back only the units that differ.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import connection
from django.db.models import Case, Count, Exists, IntegerField, OuterRef, Q, Value, When
from django.db.models.functions import Lower
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

PRE_START_STATUSES = BEFORE_CHECKS_STATUSES | {"after_check_req"}
LIVE_STATUSES = SETUP_STATUSES | RUNNING_STATUSES
FINISHED_STATUS = "exam_finished"

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


MAX_DURATION_MINUTES = 7 * 24 * 60  # a stated duration longer than a week is not believed (nor a negative one)


def _duration_minutes(value) -> int | None:
    """A positive whole number of minutes from an upstream value (int, float or digits), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = int(value) if value == value and 0 < value <= MAX_DURATION_MINUTES else None
    elif isinstance(value, str):
        value = int(value) if value.isdecimal() and len(value) < 8 else None
    if isinstance(value, int) and 0 < value <= MAX_DURATION_MINUTES:
        return value
    return None


def exam_allowed_minutes(raw: dict) -> int | None:
    """The exam's duration in minutes, when ProctorExam's exam record states one."""
    for key in ("duration", "exam_duration", "duration_minutes"):
        minutes = _duration_minutes(raw.get(key) if isinstance(raw, dict) else None)
        if minutes is not None:
            return minutes
    return None


FAR_PAST = datetime.min.replace(tzinfo=dt_timezone.utc)
FAR_FUTURE = datetime.max.replace(tzinfo=dt_timezone.utc)


def _plus(value: datetime, delta: timedelta) -> datetime:
    """value + delta, saturating at the ends of the calendar (an upstream date can be 0001-01-01 or 9999-12-31)."""
    try:
        return value + delta
    except OverflowError:
        return FAR_FUTURE if delta > timedelta(0) else FAR_PAST


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
    group: str = ""
    reservation_time: datetime | None = None
    code: int = 0  # flag_code()

    @property
    def key(self) -> str:
        return f"pe-{self.id}"

    @property
    def status_label(self) -> str:
        return status_label(self.status)

    @property
    def checks_passed(self) -> int:
        return sum(1 for c in self.checks if c[1] == "ok")

    @property
    def exam_key(self) -> str:
        return f"pe{self.exam.id}"

    @property
    def exam_label(self) -> str:
        return self.exam.name or f"Exam {self.exam.id}"


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
        limit = _plus(updated_at, timedelta(seconds=settings.MONITOR_SETUP_STUCK_AFTER))
        if now > limit:
            return f"{status_label(status)} too long", updated_at
    if status in RUNNING_STATUSES:
        grace = timedelta(seconds=settings.MONITOR_OVERRUN_GRACE)
        if exam.minutes and start_time is not None:
            due = _plus(start_time, timedelta(minutes=exam.minutes))
            if now > _plus(due, grace):
                return f"Running past the {exam.minutes}-minute duration", due
        elif exam.end_time is not None and now > _plus(exam.end_time, grace):
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
        elif exam.end_time is not None and now > _plus(exam.end_time, grace):
            overrun |= Q(exam_id=exam.id)
    return Case(
        When(Q(status__in=SETUP_STATUSES, upstream_updated_at__lt=setup_cutoff), then=Value(1)),
        When(Q(status__in=RUNNING_STATUSES) & overrun, then=Value(2)),
        default=Value(0), output_field=IntegerField(),
    )


def session_version(content_hash: str, exam: ExamInfo, code: int, new: int, is_open: bool, group: str) -> str:
    """A row's version: cheap to build (no hashing: content_hash already is one). Its fields are read back by the
    poll (parse_row_version) to tell what a person must hear about: a row that became stuck, new incidents."""
    return f"{(content_hash or '')[:16]}.{exam.version}.{code}.{new}.{int(is_open)}.{GROUP_NUMBER.get(group, 9)}"


def parse_row_version(version: str | None) -> tuple[int, int] | None:
    """(flag code, new-incident count) of a version the browser holds, or None if it is not a row version."""
    if not version:
        return None
    parts = version.split(".")
    try:
        if len(parts) == 6:  # a session: hash.exam.code.new.open.group
            return int(parts[2]), int(parts[3])
        if len(parts) == 3:  # an appointment: hash.code.group
            return int(parts[1]), 0
    except ValueError:
        return None
    return None


# --- the attention groups --------------------------------------------------------------------------------------------
ATTENTION, INCIDENTS, PROGRESS, SOON, WAITING, FINISHED = "attention", "incidents", "progress", "soon", "waiting", "finished"
GROUPS = [ATTENTION, INCIDENTS, PROGRESS, SOON, WAITING, FINISHED]
GROUP_NUMBER = {group: number for number, group in enumerate(GROUPS)}
LISTED_GROUPS = [ATTENTION, INCIDENTS, PROGRESS, SOON]  # listed row by row while they fit ROW_BUDGET
GROUP_LABELS = {
    ATTENTION: "Needs attention",
    INCIDENTS: "In progress with incidents",
    PROGRESS: "In progress",
    SOON: "Starting within the hour",
    WAITING: "Not started",
    FINISHED: "Finished",
}
GROUP_HELP = {
    ATTENTION: "stuck, flagged, or with incidents new since your last look",
    INCIDENTS: "exam started, incidents reported",
    PROGRESS: "in setup, in the room or exam started",
    SOON: "booked from 30 min ago to an hour from now",
    WAITING: "counted per exam",
    FINISHED: "counted per exam",
}
SOON_AHEAD = timedelta(hours=1)
SOON_LATE = timedelta(minutes=30)  # a learner booked a little while ago may still start
ROW_BUDGET = 120  # rows listed on the first screen in all (settings.MONITOR_ROW_BUDGET overrides, for tests)
EXPAND_STEP = 100  # rows an exam's count shows per "Show" / "Show more"
EXPAND_MAX = 1000
MAX_EXPANSIONS = 12
_EXPAND_TOKEN = re.compile(r"^(attention|incidents|progress|soon|waiting|finished)-(pe\d{1,18}|sp)"
                           r"(?:\.(\d{1,5}))?$")


def row_budget() -> int:
    return getattr(settings, "MONITOR_ROW_BUDGET", ROW_BUDGET)


def parse_expand(values: list[str]) -> dict[tuple[str, str], int]:
    """`expand` tokens from the query string or the poll (`waiting-pe12`, `progress-spEX….200`) → {(group, exam
    key): rows}; malformed tokens are dropped, rows are clamped to EXPAND_STEP…EXPAND_MAX."""
    result: dict[tuple[str, str], int] = {}
    for value in values:
        for token in value.split(","):
            match = _EXPAND_TOKEN.match(token.strip())
            if match and len(result) < MAX_EXPANSIONS:
                rows = int(match.group(3) or EXPAND_STEP)
                result[(match.group(1), match.group(2))] = max(EXPAND_STEP, min(EXPAND_MAX, rows))
    return result


def expand_token(group: str, exam_key: str, rows: int = EXPAND_STEP) -> str:
    return f"{group}-{exam_key}" if rows == EXPAND_STEP else f"{group}-{exam_key}.{rows}"


def group_of(*, status: str, code: int, new: int, incident_count: int, reservation_time: datetime | None,
             now: datetime) -> str:
    """The group of one ProctorExam session: the Python twin of group_expression() (tests hold them equal)."""
    if code or new:
        return ATTENTION
    if status in RUNNING_STATUSES and incident_count:
        return INCIDENTS
    if status in LIVE_STATUSES:
        return PROGRESS
    if status in PRE_START_STATUSES and reservation_time is not None \
            and now - SOON_LATE <= reservation_time < now + SOON_AHEAD:
        return SOON
    if status == FINISHED_STATUS:
        return FINISHED
    return WAITING


def group_expression(now: datetime, since: datetime | None):
    """The database's group_of(), as GROUP_NUMBER values; needs the `flag_code` annotation."""
    whens = [When(flag_code__gt=0, then=Value(GROUP_NUMBER[ATTENTION]))]
    if since is not None:
        new = Incident.objects.filter(student_session_id=OuterRef("pk"), first_seen_at__gt=since)
        whens.append(When(Exists(new), then=Value(GROUP_NUMBER[ATTENTION])))
    whens += [
        When(status__in=RUNNING_STATUSES, incident_count__gt=0, then=Value(GROUP_NUMBER[INCIDENTS])),
        When(status__in=LIVE_STATUSES, then=Value(GROUP_NUMBER[PROGRESS])),
        When(status__in=PRE_START_STATUSES, reservation_time__gte=now - SOON_LATE,
             reservation_time__lt=now + SOON_AHEAD, then=Value(GROUP_NUMBER[SOON])),
        When(status=FINISHED_STATUS, then=Value(GROUP_NUMBER[FINISHED])),
    ]
    return Case(*whens, default=Value(GROUP_NUMBER[WAITING]), output_field=IntegerField())


def _session_queryset(exams: dict[int, ExamInfo], status: str):
    qs = StudentSession.objects.filter(exam_id__in=list(exams), removed_at__isnull=True)
    return qs.filter(status=status) if status else qs


def _filtered_exams(exams: dict[int, ExamInfo] | None, exam_id: int | None) -> dict[int, ExamInfo]:
    exams = open_exams() if exams is None else exams
    if exam_id is not None:
        exams = {k: v for k, v in exams.items() if k == exam_id}
    return exams


def _db_datetime(value) -> datetime | None:
    """A DateTimeField value read with a plain cursor, as the ORM would return it: PostgreSQL gives an aware
    datetime, SQLite the UTC text Django stored ('2026-11-25 09:00:00.123456')."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt_timezone.utc)


SESSION_COLUMNS = ("id", "exam_id", "name", "email", "status", *(c for c, _ in SYSTEM_CHECKS), "start_time",
                   "end_time", "entered_room", "reviewed", "incident_count", "upstream_updated_at",
                   "reservation_time", "content_hash")


def _read_sessions(qs, limit: int | None = None) -> list[tuple]:
    """Rows of SESSION_COLUMNS + flag_code + grp, without the ORM's per-value converters (datetimes and a boolean
    go through _db_datetime / bool instead: this runs for every open monitor every 15 s)."""
    values = qs.values_list(*SESSION_COLUMNS, "flag_code", "grp")
    if limit is not None:
        values = values[:limit]
    sql, params = values.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _new_counts_for(ids: list[int], since: datetime | None) -> dict[int, int]:
    if since is None or not ids:
        return {}
    qs = Incident.objects.filter(first_seen_at__gt=since, student_session_id__in=ids)
    return dict(qs.values_list("student_session_id").annotate(n=Count("id")).values_list("student_session_id", "n"))


def _session_row(values: tuple, *, exams: dict[int, ExamInfo], new_counts: dict[int, int], open_ids,
                 now: datetime) -> SessionRow:
    sid, exam_id, name, email, st, *rest = values
    checks_raw = rest[:6]
    start, end, entered, reviewed, incidents, updated, reservation, chash, code, grp = rest[6:]
    start, end = _db_datetime(start), _db_datetime(end)
    updated, reservation = _db_datetime(updated), _db_datetime(reservation)
    exam = exams[exam_id]
    flag, flag_since = session_flag(status=st, updated_at=updated, start_time=start, exam=exam, now=now)
    new = new_counts.get(sid, 0)
    is_open = sid in open_ids
    group = GROUPS[grp] if 0 <= grp < len(GROUPS) else WAITING
    row = SessionRow(sid, exam, name or "", email or "", st or "", checks_of(tuple(checks_raw)), start, end,
                     None if entered is None else bool(entered), reviewed or "", incidents or 0, new, flag,
                     flag_since, is_open, [], "", group, reservation, code)
    row.version = session_version(chash, exam, code, new, is_open, group)
    return row


def attach_timelines(rows: list[SessionRow], *, since: datetime | None) -> None:
    """Load the incidents of the rows whose timeline is open (one query for all of them)."""
    wanted = {row.id: row for row in rows if row.open}
    if not wanted:
        return
    for row in wanted.values():
        row.incidents = []
    for incident in Incident.objects.filter(student_session_id__in=list(wanted)).order_by("created_at", "id"):
        incident.is_new = since is not None and incident.first_seen_at > since
        wanted[incident.student_session_id].incidents.append(incident)


def session_get(session_id: int) -> StudentSession | None:
    """A live student session of any exam (for the timeline page), with its exam."""
    return StudentSession.objects.select_related("exam").filter(pk=session_id, removed_at__isnull=True).first()


def incidents_for(session_id: int, *, since: datetime | None) -> list[Incident]:
    incidents = list(Incident.objects.filter(student_session_id=session_id).order_by("created_at", "id"))
    for incident in incidents:
        incident.is_new = since is not None and incident.first_seen_at > since
    return incidents


# --- SmarterProctoring appointments --------------------------------------------------------------------------------
SP_NO_RECORDING, SP_NEEDS_PROCTOR = 1, 2  # AppointmentRow.code
SP_BUCKET = "sp"  # the one per-group count of SmarterProctoring appointments (they spread over hundreds of exams)
_SP_EXAM_SID = re.compile(r"^[A-Za-z0-9]{1,40}$")


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
    exam_sid: str = ""
    code: int = 0  # 0, SP_NO_RECORDING or SP_NEEDS_PROCTOR
    group: str = ""

    @property
    def key(self) -> str:
        return f"sp-{self.sid}"

    @property
    def exam_key(self) -> str:
        """An id-safe key of the appointment's exam (the SID, or a digest of whatever the upstream sent)."""
        sid = self.exam_sid or ""
        if _SP_EXAM_SID.match(sid):
            return f"sp{sid}"
        return "sp" + hashlib.blake2b(sid.encode(), digest_size=6).hexdigest()

    @property
    def exam_label(self) -> str:
        return self.exam_title or self.exam_sid or "Untitled exam"


def _minutes(value) -> int:
    return _duration_minutes(value) or SP_DEFAULT_DURATION_MINUTES


def monitor_appointments(*, now: datetime | None = None) -> list[AppointmentRow]:
    """SmarterProctoring appointments in progress now or starting within the next hour, each with its group.

    In progress: status "In Progress", or an active appointment whose start has passed and whose duration (from
    its exam configuration) has not. Flagged (group "attention") when its start is MONITOR_NO_RECORDING_AFTER past
    with no recording, or when it still "Needs Proctor".
    """
    now = now or timezone.now()
    soon = now + SOON_AHEAD
    qs = (
        Appointment.objects.live()
        .filter(status__in=SP_ACTIVE_STATUSES)
        .filter(Q(status="In Progress", appointment_date__gte=now - SP_LOOKBACK)
                | Q(appointment_date__gte=now - SP_LOOKBACK, appointment_date__lt=soon))
        .values_list("sid", "status", "learner_first_name", "learner_last_name", "learner_email", "course_title",
                     "exam_title", "appointment_date", "recording_start_date", "content_hash",
                     "raw__examConfiguration__duration", "exam_sid")
    )
    no_recording_after = timedelta(seconds=settings.MONITOR_NO_RECORDING_AFTER)
    rows = []
    for sid, st, first, last, email, course, exam, date, recording, chash, duration, exam_sid in qs:
        minutes = _minutes(duration)
        if date is not None and date <= now:
            if st != "In Progress" and _plus(date, timedelta(minutes=minutes)) < now:
                continue  # its time is over and it never started: not "in progress", not "soon"
            phase = "in progress"
        elif st == "In Progress":
            phase = "in progress"
        else:
            phase = "starting soon"
        flag, code = "", 0
        if date is not None and recording is None and now > _plus(date, no_recording_after):
            flag, code = "Past its start, no recording", SP_NO_RECORDING
        elif st == "Needs Proctor":
            flag, code = "Needs a proctor", SP_NEEDS_PROCTOR
        group = ATTENTION if code else PROGRESS if phase == "in progress" else SOON
        name = " ".join(p for p in (first, last) if p)
        row = AppointmentRow(sid, st, name, email or "", course or "", exam or "", date, recording, minutes, phase,
                             flag, "", exam_sid or "", code, group)
        row.version = f"{_version(chash, st, phase, flag)}.{code}.{GROUP_NUMBER[group]}"
        rows.append(row)
    far_future = datetime.max.replace(tzinfo=now.tzinfo)
    rows.sort(key=lambda r: (r.status != "Needs Proctor", r.appointment_date or far_future, r.sid))
    return rows


# --- the monitor's layout ------------------------------------------------------------------------------------------
@dataclass
class GroupHead:
    group: str
    count: int
    listed: bool  # rows listed one by one (else counted per exam)
    exams: int = 0  # exams with rows in this group (counted per exam)
    partial: int = 0  # attention only: this many rows listed, the rest counted per exam

    @property
    def key(self) -> str:
        return f"g-{self.group}"

    @property
    def label(self) -> str:
        return GROUP_LABELS[self.group]

    @property
    def help(self) -> str:
        return GROUP_HELP[self.group]

    @property
    def version(self) -> str:
        return f"{self.count}.{'L' if self.listed else 'P' if self.partial else 'C'}.{self.exams}"


@dataclass
class Bucket:
    """One exam's count in a group that is not listed row by row; `rows` > 0 when the user expanded it."""

    group: str
    exam_key: str  # pe<id> / sp<exam sid>
    exam_label: str
    upstream: str
    count: int
    rows: int = 0  # rows asked for (0: collapsed)
    exam_version: str = ""
    shown: int = 0

    @property
    def key(self) -> str:
        return f"c-{self.group}-{self.exam_key}"

    @property
    def token(self) -> str:
        return expand_token(self.group, self.exam_key, self.rows or EXPAND_STEP)

    @property
    def version(self) -> str:
        return f"{self.count}.{self.rows}.{self.exam_version}"


@dataclass
class Unit:
    """One swappable thing of the monitor's table, in page order: a group heading, an exam's count, a row."""

    key: str
    version: str
    kind: str  # "group" | "bucket" | "session" | "appointment"
    item: object


@dataclass
class MonitorLayout:
    units: list[Unit]
    heads: dict[str, GroupHead]
    figures: dict
    sessions: list[SessionRow]  # every session row on the page (for timelines and rendering)
    expand: dict[tuple[str, str], int]  # the expansions honoured (of buckets that exist)
    appointments_shown: bool = True

    def unit(self, key: str) -> Unit | None:
        for unit in self.units:
            if unit.key == key:
                return unit
        return None


def _sort_key(group: str, row) -> tuple:
    """Order inside a listed group. Attention: stuck and flagged first (newest first), then new incidents; with
    incidents: most incidents first; starting soon: earliest first; otherwise exam and learner."""
    far = datetime.max.replace(tzinfo=dt_timezone.utc)
    name = (row.name if isinstance(row, SessionRow) else row.learner_name).lower()
    exam = row.exam_label.lower()
    if group == ATTENTION:
        if isinstance(row, SessionRow):
            rank, since = (0, row.flag_since) if row.code else (2, None)
        else:
            rank, since = (0 if row.code == SP_NO_RECORDING else 1), row.appointment_date
        # the newest trouble first: what went wrong a minute ago matters more than a no-show of three hours ago
        return (rank, since is None, -since.timestamp() if since else 0, exam, name, row.key)
    if group == INCIDENTS:
        return (-(row.incident_count if isinstance(row, SessionRow) else 0), exam, name, row.key)
    if group == SOON:
        due = row.reservation_time if isinstance(row, SessionRow) else row.appointment_date
        return (due or far, exam, name, row.key)
    return (exam, name, row.key)


def monitor_layout(*, exam_id: int | None = None, status: str = "", since: datetime | None = None,
                   open_ids: set[int] | frozenset = frozenset(), now: datetime | None = None,
                   exams: dict[int, ExamInfo] | None = None, attention_only: bool = False,
                   expand: dict[tuple[str, str], int] | None = None, timelines: bool = True) -> MonitorLayout:
    """Everything the monitor's table shows, in page order (see the module docstring).

    A ProctorExam filter (exam, status) leaves SmarterProctoring's appointments out; `attention_only` shows the
    attention group alone. Queries: open exams (unless given), the per-exam group counts, the listed rows, one per
    expanded exam, new-incident counts of the attention rows, the total of new incidents, the appointments, and the
    open timelines (when `timelines`)."""
    now = now or timezone.now()
    expand = expand or {}
    all_exams = open_exams() if exams is None else exams
    exams = _filtered_exams(all_exams, exam_id)
    budget = row_budget()
    groups = [ATTENTION] if attention_only else list(GROUPS)
    wanted_numbers = [GROUP_NUMBER[g] for g in groups]

    # 1. How many sessions each group holds per exam (one GROUP BY).
    counts: dict[str, dict[str, int]] = {g: {} for g in GROUPS}
    labels: dict[str, tuple[str, str, str]] = {}  # exam key -> (label, upstream, version)
    qs = None
    if exams:
        qs = (_session_queryset(exams, status)
              .annotate(flag_code=flag_code_expression(exams, now))
              .annotate(grp=group_expression(now, since)))
        for exam_id_, grp, n in qs.values_list("exam_id", "grp").annotate(n=Count("id")).order_by():
            if grp in wanted_numbers:
                counts[GROUPS[grp]][f"pe{exam_id_}"] = n
        for exam in exams.values():
            labels[f"pe{exam.id}"] = (exam.name or f"Exam {exam.id}", "ProctorExam", exam.version)
    appointments_shown = exam_id is None and not status
    appointments = monitor_appointments(now=now) if appointments_shown else []
    appointments = [a for a in appointments if a.group in groups]
    sp_by_group: dict[str, list[AppointmentRow]] = {}
    for row in appointments:
        # SmarterProctoring's appointments spread over hundreds of exams, one or two each: counted as one.
        sp_by_group.setdefault(row.group, []).append(row)
        counts[row.group][SP_BUCKET] = counts[row.group].get(SP_BUCKET, 0) + 1
    if appointments:
        labels[SP_BUCKET] = ("SmarterProctoring appointments", "SmarterProctoring", "sp")

    # 2. Which groups are listed row by row: in attention order, each while it fits what is left of the budget.
    # The attention group never disappears behind counts: when it is larger than the budget, its newest rows fill
    # the budget and only the rest is counted per exam ("partial").
    heads: dict[str, GroupHead] = {}
    left = budget
    for group in groups:
        total = sum(counts[group].values())
        listed = group in LISTED_GROUPS and total <= left
        head = heads[group] = GroupHead(group, total, listed, len(counts[group]))
        if listed:
            left -= total
        elif group == ATTENTION and total:
            head.partial, left = left, 0

    # 3. Read the listed rows (one query) and each expanded exam's first rows (one query each).
    session_rows: dict[str, list[SessionRow]] = {}
    bucket_rows: dict[tuple[str, str], list] = {}
    raw_listed: list[tuple] = []
    raw_buckets: dict[tuple[str, str], list[tuple]] = {}
    attention = heads.get(ATTENTION)
    partial = attention is not None and attention.partial > 0
    if qs is not None:
        listed_numbers = [GROUP_NUMBER[g] for g in groups if (heads[g].listed or heads[g].partial) and heads[g].count]
        if listed_numbers:
            raw_listed = _read_sessions(qs.filter(grp__in=listed_numbers))
    if partial:  # what is listed, what is left: the remainder's counts per exam are what the buckets show
        pool = [r for r in raw_listed if r[-1] == GROUP_NUMBER[ATTENTION]]
        new_counts = _new_counts_for([r[0] for r in pool], since)
        build = functools.partial(_session_row, exams=exams, new_counts=new_counts, open_ids=open_ids, now=now)
        ranked = sorted([build(v) for v in pool] + sp_by_group.get(ATTENTION, []),
                        key=functools.partial(_sort_key, ATTENTION))
        shown_rows, rest = ranked[: attention.partial], ranked[attention.partial:]
        counts[ATTENTION] = {}
        remainder: dict[str, list] = {}
        for row in rest:
            key = row.exam_key if isinstance(row, SessionRow) else SP_BUCKET
            remainder.setdefault(key, []).append(row)
            counts[ATTENTION][key] = counts[ATTENTION].get(key, 0) + 1
        attention.exams = len(remainder)
        session_rows[ATTENTION] = [r for r in shown_rows if isinstance(r, SessionRow)]
        sp_by_group[ATTENTION] = [r for r in shown_rows if not isinstance(r, SessionRow)]
        raw_listed = [r for r in raw_listed if r[-1] != GROUP_NUMBER[ATTENTION]]
    honoured = {k: v for k, v in expand.items() if k[0] in heads and not heads[k[0]].listed
                and counts[k[0]].get(k[1])}
    if qs is not None:
        for (group, exam_key), rows in honoured.items():
            if exam_key.startswith("pe") and not (partial and group == ATTENTION):
                bucket_qs = qs.filter(grp=GROUP_NUMBER[group], exam_id=int(exam_key[2:])).order_by(Lower("name"), "id")
                raw_buckets[(group, exam_key)] = _read_sessions(bucket_qs, rows)
    attention_ids = [r[0] for r in raw_listed if r[-1] == GROUP_NUMBER[ATTENTION]]
    attention_ids += [r[0] for (g, _), rs in raw_buckets.items() if g == ATTENTION for r in rs]
    new_counts = _new_counts_for(attention_ids, since)
    build = functools.partial(_session_row, exams=exams, new_counts=new_counts, open_ids=open_ids, now=now)
    all_sessions: list[SessionRow] = list(session_rows.get(ATTENTION, []))
    for values in raw_listed:
        row = build(values)
        session_rows.setdefault(row.group, []).append(row)
        all_sessions.append(row)
    for bucket, raws in raw_buckets.items():
        built = [build(values) for values in raws]
        bucket_rows[bucket] = built
        all_sessions.extend(built)
    for (group, exam_key), rows in honoured.items():
        if partial and group == ATTENTION:
            picked = sorted(remainder[exam_key], key=lambda r: ((r.name if isinstance(r, SessionRow)
                                                                 else r.learner_name).lower(), r.key))[:rows]
            bucket_rows[(group, exam_key)] = picked
            all_sessions.extend(r for r in picked if isinstance(r, SessionRow))
        elif exam_key == SP_BUCKET:
            picked = sorted(sp_by_group.get(group, []), key=functools.partial(_sort_key, group))
            bucket_rows[(group, exam_key)] = picked[:rows]
    if timelines:
        attach_timelines(all_sessions, since=since)

    # 4. The units in page order.
    units: list[Unit] = []
    for group in groups:
        head = heads[group]
        units.append(Unit(head.key, head.version, "group", head))
        if head.listed or head.partial:
            rows = session_rows.get(group, []) + sp_by_group.get(group, [])
            rows.sort(key=functools.partial(_sort_key, group))
            units.extend(Unit(r.key, r.version, "session" if isinstance(r, SessionRow) else "appointment", r)
                         for r in rows)
            if head.listed:
                continue
        for exam_key in sorted(counts[group], key=lambda k: (k == SP_BUCKET, labels[k][0].lower(), k)):
            label, upstream, exam_version = labels[exam_key]
            rows_wanted = honoured.get((group, exam_key), 0)
            shown = bucket_rows.get((group, exam_key), [])
            bucket = Bucket(group, exam_key, label, upstream, counts[group][exam_key], rows_wanted, exam_version,
                            len(shown))
            units.append(Unit(bucket.key, bucket.version, "bucket", bucket))
            units.extend(Unit(r.key, r.version, "session" if isinstance(r, SessionRow) else "appointment", r)
                         for r in shown)

    # 5. The figures of the summary line.
    new_total = 0
    if since is not None and exams:
        new_qs = Incident.objects.filter(first_seen_at__gt=since, student_session__exam_id__in=list(exams),
                                         student_session__removed_at__isnull=True)
        if status:
            new_qs = new_qs.filter(student_session__status=status)
        new_total = new_qs.count()
    sessions_total = sum(n for g in groups for k, n in counts[g].items() if k.startswith("pe"))
    figures = {
        "sessions": sessions_total,
        "open_exams": len(exams),
        "attention": heads[ATTENTION].count,
        "in_progress": sum(heads[g].count for g in (INCIDENTS, PROGRESS) if g in heads),
        "with_incidents": heads[INCIDENTS].count if INCIDENTS in heads else 0,
        "soon": heads[SOON].count if SOON in heads else 0,
        "waiting": heads[WAITING].count if WAITING in heads else 0,
        "finished": heads[FINISHED].count if FINISHED in heads else 0,
        "new_incidents": new_total,
        "appointments": len(appointments),
        "needs_proctor": sum(1 for a in appointments if a.status == "Needs Proctor"),
    }
    return MonitorLayout(units, heads, figures, all_sessions, honoured, appointments_shown)


def session_unit(session_id: int, *, since: datetime | None, open_ids, now: datetime | None = None,
                 exams: dict[int, ExamInfo] | None = None) -> SessionRow | None:
    """One live session of an open exam as the monitor shows it (the timeline toggle re-renders it in place)."""
    now = now or timezone.now()
    exams = open_exams() if exams is None else exams
    if not exams:
        return None
    qs = (StudentSession.objects.filter(pk=session_id, exam_id__in=list(exams), removed_at__isnull=True)
          .annotate(flag_code=flag_code_expression(exams, now)).annotate(grp=group_expression(now, since)))
    raw = _read_sessions(qs)
    if not raw:
        return None
    row = _session_row(raw[0], exams=exams, new_counts=_new_counts_for([session_id], since), open_ids=open_ids,
                       now=now)
    attach_timelines([row], since=since)
    return row


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
        # Open now: its configuration's window holds this moment. A window that closed already (the vendor's data
        # can disagree with a later appointment) does not make the exam "open now": it is listed by its appointment.
        exam.open_now = opens is not None and opens <= now and (closes is None or closes > now)
        exam.opens = opens if opens is not None and (exam.open_now or opens > now) else first_date
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
