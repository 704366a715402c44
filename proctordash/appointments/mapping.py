"""How SmarterProctoring's records become the appointment cache's rows: the mapping this app gives the sync engine.

The engine (proctordash/sync/passes.py) fetches the pages, holds the lock and keeps the run's books; it calls
`appointments_write` for each page and the helpers at the bottom to mark rows removed after a complete pass. Rows are
idempotent upserts that leave unchanged rows alone (content_hash of the canonical raw JSON).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from proctordash.appointments import counts
from proctordash.appointments.models import Appointment, Course, CourseOffering, EnrollmentExamSession, Exam
from proctordash.integrations.exceptions import UpstreamBadResponse
from proctordash.sync.mappings import AppointmentsMapping, PageResult, SessionsMapping
from proctordash.sync.upsert import (
    bulk_upsert,
    clean_raw,
    content_hash,
    hashed_raw,
    obj,
    parse_datetime,
    parse_int,
    stored_values,
    text,
)

log = logging.getLogger(__name__)


# --- mapping: upstream JSON → rows ---------------------------------------------------------------------------------
_LENGTHS: dict[tuple[type, str], int] = {}


def _f(model, name: str) -> int:
    try:
        return _LENGTHS[model, name]
    except KeyError:
        _LENGTHS[model, name] = length = model._meta.get_field(name).max_length
        return length


def review_status_of(raw: dict) -> str:
    """As the report's reviewStatus filter: not-required unless reviewRequired is true; then complete when
    reviewCompletedDate is set, else pending."""
    if raw.get("reviewRequired") is not True:
        return "not-required"
    return "complete" if raw.get("reviewCompletedDate") not in (None, "") else "pending"


_APPOINTMENT_TEXT = ["sid", "exam_sid", "enrollment_sid", "course_sid", "course_offering_sid", "configuration_sid",
                     "status", "session_type", "exam_status", "learner_sid", "learner_first_name", "learner_last_name",
                     "learner_email", "course_title", "exam_title"]


@functools.cache
def _row_lengths() -> dict[str, int]:
    return {name: _f(Appointment, name) for name in _APPOINTMENT_TEXT}


def _text(value: Any, max_length: int) -> str:
    # text() with its common case (a short string without NUL) inlined: this runs ~15 times per written row
    if type(value) is str and len(value) <= max_length and "\x00" not in value:
        return value
    return text(value, max_length)


def appointment_row(raw: dict, *, now: datetime, hashed: tuple[Any, str, str] | None = None) -> dict[str, Any]:
    """One List Appointments record → the Appointment row (every typed column, lowercased *_search copies,
    search_text, raw and content_hash). `hashed` is hashed_raw(raw) when the caller has it already."""
    raw, raw_text, digest = hashed or hashed_raw(scrub_secrets(raw))
    get = raw.get
    exam, enrollment, course = obj(get("exam")), obj(get("enrollment")), obj(get("course"))
    offering, config = obj(course.get("offering")), obj(get("examConfiguration"))
    n = _row_lengths()

    first, last = _text(enrollment.get("firstName"), n["learner_first_name"]), _text(enrollment.get("lastName"), n["learner_last_name"])
    email, learner_sid = _text(enrollment.get("email"), n["learner_email"]), _text(enrollment.get("userSid"), n["learner_sid"])
    course_title, exam_title = _text(course.get("title"), n["course_title"]), _text(exam.get("title"), n["exam_title"])
    return dict(
        sid=_text(get("sid"), n["sid"]),
        exam_sid=_text(get("examSid") or exam.get("sid"), n["exam_sid"]),
        enrollment_sid=_text(get("enrollmentSid") or enrollment.get("enrollmentSid"), n["enrollment_sid"]),
        # the report's courseSid filter matches course.sid (docs/architecture.md)
        course_sid=_text(course.get("sid"), n["course_sid"]),
        course_offering_sid=_text(offering.get("sid"), n["course_offering_sid"]),
        configuration_sid=_text(config.get("sid"), n["configuration_sid"]),
        status=_text(get("status"), n["status"]),
        session_type=_text(get("sessionType"), n["session_type"]),
        review_status=review_status_of(raw),
        exam_status=_text(exam.get("status"), n["exam_status"]),
        appointment_date=parse_datetime(get("appointmentDate")),
        review_by_date=parse_datetime(get("reviewByDate")),
        review_completed_date=parse_datetime(get("reviewCompletedDate")),
        recording_start_date=parse_datetime(get("recordingStartDate")),
        session_report_count=parse_int(get("sessionReportCount")),
        learner_sid=learner_sid,
        learner_first_name=first,
        learner_last_name=last,
        learner_email=email,
        course_title=course_title,
        exam_title=exam_title,
        # lowercased exactly as the upstream compares (value.lower() in field.lower())
        learner_first_name_search=first.lower(),
        learner_last_name_search=last.lower(),
        learner_email_search=email.lower(),
        learner_sid_search=learner_sid.lower(),
        course_title_search=course_title.lower(),
        exam_title_search=exam_title.lower(),
        # the `q` box: one line per field so a query never matches across two fields
        search_text="\n".join([f"{first} {last}".strip(), email, course_title, exam_title]).lower(),
        raw=raw,
        _raw_text=raw_text,  # written as is: the JSON is serialised once, for the hash and the column
        content_hash=digest,
        last_seen_at=now,
        removed_at=None,
    )


def course_row(raw: dict) -> dict[str, Any] | None:
    """The course's own fields; its offering columns are filled from CourseOffering (see appointments_write)."""
    course = obj(raw.get("course"))
    sid = course.get("sid")
    if not isinstance(sid, str) or not sid:
        return None
    C = Course
    return dict(sid=text(sid, _f(C, "sid")), title=text(course.get("title"), _f(C, "title")),
                code=text(course.get("code"), _f(C, "code")), offering_sid="", offering_title="")


def offering_row(raw: dict) -> dict[str, Any] | None:
    course = obj(raw.get("course"))
    offering = obj(course.get("offering"))
    sid, course_sid = offering.get("sid"), course.get("sid")
    if not (isinstance(sid, str) and sid and isinstance(course_sid, str) and course_sid):
        return None
    O = CourseOffering
    return dict(sid=text(sid, _f(O, "sid")), course_sid=text(course_sid, _f(O, "course_sid")),
                title=text(offering.get("title"), _f(O, "title")),
                start_date=parse_datetime(offering.get("startDate")), end_date=parse_datetime(offering.get("endDate")))


def _latest_offerings(course_sids: list[str]) -> dict[str, tuple[str, str]]:
    """course sid → (sid, title) of its latest offering by start date (then sid): the same answer whatever order
    the pages came in, so a course row is only rewritten when an offering really changed."""
    best: dict[str, tuple] = {}
    rows = CourseOffering.objects.filter(course_sid__in=course_sids).values_list("course_sid", "start_date", "sid",
                                                                                 "title")
    for course_sid, start, sid, title in rows:
        key = (start is not None, start, sid)
        if course_sid not in best or key > best[course_sid][0]:
            best[course_sid] = (key, sid, title)
    return {course_sid: (sid, title) for course_sid, (_key, sid, title) in best.items()}


def exam_row(raw: dict) -> dict[str, Any] | None:
    exam = obj(raw.get("exam"))
    sid = exam.get("sid") or raw.get("examSid")
    if not isinstance(sid, str) or not sid:
        return None
    E = Exam
    course_sid = exam.get("courseSid") or obj(raw.get("course")).get("sid")
    return dict(sid=text(sid, _f(E, "sid")), course_sid=text(course_sid, _f(E, "course_sid")),
                title=text(exam.get("title"), _f(E, "title")), type=text(exam.get("type"), _f(E, "type")),
                status=text(exam.get("status"), _f(E, "status")), raw=clean_raw(exam))


def _raw_of(record: Any) -> dict:
    raw = getattr(record, "raw", record)
    return raw if isinstance(raw, dict) else {}


# What an exam password becomes before a record is stored: the detail page can still say "set (not shown)", and
# nothing of the password itself is kept (not even a digest: a 6-character password's digest is a lookup away).
PASSWORD_NOT_STORED = "[not stored]"


def scrub_secrets(raw: dict) -> dict:
    """The record as it may be stored: the exam password (`examConfiguration.password`, the only secret the List
    Appointments record carries) replaced by PASSWORD_NOT_STORED. Returns `raw` itself when there is nothing to
    remove, else a copy (the caller's dict is left alone). The content hash is taken of this scrubbed record, so
    an unchanged record still hashes the same from one pass to the next and writes nothing; migration 0006 scrubbed
    the rows stored before."""
    config = raw.get("examConfiguration")
    if type(config) is dict:
        password = config.get("password")
        if password not in (None, "", PASSWORD_NOT_STORED):
            return {**raw, "examConfiguration": {**config, "password": PASSWORD_NOT_STORED}}
    return raw


def appointments_write(records: list[Any], *, now: datetime | None = None) -> PageResult:
    """Upsert one page of appointment records (pydantic records or raw dicts) with their courses and exams,
    in one transaction. Unchanged rows are not written. Idempotent: safe to repeat after a crash."""
    now = now or timezone.now()
    raws = [scrub_secrets(_raw_of(r)) for r in records]
    # Hash first; only new or changed records are mapped and written (a pass with no change maps nothing).
    hashed = {}
    for record, raw in zip(records, raws):
        sid = raw.get("sid")
        if isinstance(sid, str) and sid:
            hashed[text(sid, _f(Appointment, "sid"))] = (record, raw, hashed_raw(raw))
    # (content_hash, removed_at) of the stored rows: a row is written when it is new, changed or was removed
    stored = stored_values(Appointment, "sid", ["content_hash", "removed_at"], list(hashed))
    changed = [(record, raw, h) for sid, (record, raw, h) in hashed.items() if stored.get(sid) != (h[2], None)]
    # Malformed records are left out HERE, before anything of the page is written, and reported: one bad record
    # never sinks the page. The client has checked each record's identity and top-level fields while reading the
    # page (and left out, with skip_bad_records, those that failed); the nested objects (exam, enrollment, course
    # and offering) are validated now, for the records about to be written only (an unchanged record was
    # validated when it was written). A skipped record keeps its previous row (its key counts as seen, so it is
    # not marked removed). Raw dicts (tests, tools) carry no check and are mapped tolerantly.
    skipped: list[tuple[Any, str]] = []
    valid = []
    for item in changed:
        check = getattr(item[0], "check_nested", None)
        if check is not None:
            try:
                check()
            except UpstreamBadResponse as e:
                skipped.append((item[1].get("sid"), e.message))  # the fields named, without the upstream's path
                continue
        valid.append(item)
    changed = valid
    rows = [appointment_row(raw, now=now, hashed=h) for _record, raw, h in changed]
    if not rows:
        return PageResult(0, 0, list(hashed), skipped)  # nothing changed on this page: nothing to write
    # One representative record per course, offering and exam among the records written (the last one, as the
    # upsert would keep). Only written records count: an unchanged record's course, offering and exam objects are
    # part of its hash, so they were written when the record was.
    written = [raw for _record, raw, _h in changed]
    by_course = {obj(raw.get("course")).get("sid"): raw for raw in written}
    by_offering = {obj(obj(raw.get("course")).get("offering")).get("sid"): raw for raw in written}
    by_exam = {obj(raw.get("exam")).get("sid") or raw.get("examSid"): raw for raw in written}
    courses = {c["sid"]: c for c in (course_row(raw) for raw in by_course.values()) if c}
    offerings = {o["sid"]: o for o in (offering_row(raw) for raw in by_offering.values()) if o}
    exams = {e["sid"]: e for e in (exam_row(raw) for raw in by_exam.values()) if e}
    with transaction.atomic():
        # the per-day counts the list reads move with the rows, in this transaction (appointments/counts.py)
        exact = counts.counts_lock()
        before = counts.stored_keys([row["sid"] for row in rows]) if exact else []
        created, updated, _ = bulk_upsert(Appointment, rows, key="sid", compare=["content_hash", "removed_at"],
                                          existing=stored)
        counts.counts_write(before, [counts.key_row(row) for row in rows], exact=exact)
        bulk_upsert(CourseOffering, offerings.values(), key="sid",
                    compare=["course_sid", "title", "start_date", "end_date"], keep=())
        for course_sid, (offering_sid, offering_title) in _latest_offerings(list(courses)).items():
            courses[course_sid].update(offering_sid=offering_sid, offering_title=offering_title)
        bulk_upsert(Course, courses.values(), key="sid",
                    compare=["title", "code", "offering_sid", "offering_title"], keep=())
        bulk_upsert(Exam, exams.values(), key="sid", compare=["course_sid", "title", "type", "status", "raw"], keep=())
    return PageResult(created, updated, list(hashed), skipped)


# --- enrollment exam sessions --------------------------------------------------------------------------------------
def session_row(raw: dict, *, enrollment_sid: str, exam_sid: str, course_sid: str, now: datetime) -> dict[str, Any]:
    raw = clean_raw(raw)
    S = EnrollmentExamSession
    return dict(
        sid=text(raw.get("sid"), _f(S, "sid")), enrollment_sid=enrollment_sid, exam_sid=exam_sid,
        course_sid=course_sid, status=text(raw.get("status"), _f(S, "status")),
        session_type=text(raw.get("sessionType"), _f(S, "session_type")),
        appointment_date=parse_datetime(raw.get("appointmentDate")),
        created_date=parse_datetime(raw.get("createdDate")), edit_date=parse_datetime(raw.get("editDate")),
        raw=raw, content_hash=content_hash(raw), last_seen_at=now, removed_at=None,
    )


# --- what the engine needs to mark rows removed -------------------------------------------------------------------
def appointment_live_sids(*, seen_before: datetime, window: tuple[datetime, datetime] | None = None) -> Iterator[str]:
    live = Appointment.objects.live().filter(last_seen_at__lt=seen_before)
    if window:
        live = live.filter(appointment_date__gte=window[0], appointment_date__lt=window[1])
    return live.values_list("sid", flat=True).iterator(chunk_size=5000)


def appointments_live_count() -> int:
    return Appointment.objects.live().count()


def appointments_mark_removed(sids: list[str], *, seen_before: datetime, now: datetime) -> int:
    removed = 0
    with transaction.atomic():  # with the per-day counts they leave (appointments/counts.py)
        exact = counts.counts_lock()
        before: list[tuple] = []
        for start in range(0, len(sids), 500):
            rows = Appointment.objects.filter(sid__in=sids[start:start + 500], removed_at__isnull=True,
                                              last_seen_at__lt=seen_before)
            if exact:
                before.extend(rows.values_list(*counts.KEY_COLUMNS))
            removed += rows.update(removed_at=now)
        counts.counts_write(before, [], exact=exact)
    return removed


def appointment_lookup_filters(sids: list[str]) -> dict[str, dict[str, str]]:
    """sid → the List Appointments filters that find the record again (its exam and learner), where both are known."""
    from proctordash.core.vocabulary import is_sid

    rows = Appointment.objects.filter(sid__in=sids).only("sid", "exam_sid", "learner_sid")
    return {a.sid: {"exam_sid": a.exam_sid, "learner_sid": a.learner_sid}
            for a in rows if is_sid("exam", a.exam_sid) and a.learner_sid}


def sessions_write_pair(records: list[Any], *, enrollment_sid: str, exam_sid: str, seen_before: datetime,
                        now: datetime, remove_missing: bool = True,
                        keep: set[str] = frozenset()) -> tuple[int, int, int, int]:
    """Upsert one enrollment's sessions for one exam (the complete list) and mark those no longer listed removed
    (not those in `keep`, e.g. malformed records left out; nothing at all when not `remove_missing`)."""
    course_sid = (Exam.objects.filter(sid=exam_sid).values_list("course_sid", flat=True).first()
                  or Appointment.objects.filter(exam_sid=exam_sid).values_list("course_sid", flat=True).first()
                  or "")
    rows = [session_row(_raw_of(r), enrollment_sid=enrollment_sid, exam_sid=exam_sid, course_sid=course_sid, now=now)
            for r in records]
    rows = [row for row in rows if row["sid"]]
    with transaction.atomic():
        created, updated, _ = bulk_upsert(EnrollmentExamSession, rows, key="sid",
                                          compare=["content_hash", "removed_at", "course_sid"])
        seen = {row["sid"] for row in rows} | set(keep)
        removed = EnrollmentExamSession.objects.filter(
            enrollment_sid=enrollment_sid, exam_sid=exam_sid, removed_at__isnull=True, last_seen_at__lt=seen_before,
        ).exclude(sid__in=seen).update(removed_at=now) if remove_missing else 0
    return created, updated, removed, len(rows)


def session_pairs_in_window(window: tuple[datetime, datetime], *, limit: int) -> list[tuple[str, str]]:
    """(enrollment, exam) pairs of the live appointments dated in the window (`sync_upstream sessions`)."""
    pairs = (Appointment.objects.live().filter(appointment_date__gte=window[0], appointment_date__lt=window[1])
             .exclude(enrollment_sid="").exclude(exam_sid="")
             .order_by().values_list("enrollment_sid", "exam_sid").distinct())
    return list(pairs[:limit])


APPOINTMENTS = AppointmentsMapping(
    write_page=appointments_write,
    live_keys=appointment_live_sids,
    live_count=appointments_live_count,
    mark_removed=appointments_mark_removed,
    lookup_filters=appointment_lookup_filters,
)
SESSIONS = SessionsMapping(write_pair=sessions_write_pair, pairs_in_window=session_pairs_in_window)
