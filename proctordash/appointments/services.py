"""Sync services for SmarterProctoring: appointments (full and incremental passes) and enrollment exam sessions.

Every pass runs under `proctordash.core.sync.sync_run` (lock, SyncRun bookkeeping, UpstreamState). Pages are written
as they arrive, one transaction per page, as idempotent upserts that leave unchanged rows alone (content_hash of the
canonical raw JSON). Removal marking happens only at the end of a complete pass, and only when the upstream's total
did not move during it (offset paging over a changing list can skip a record; such a pass upserts what it saw and
leaves removals to the next one). A failed pass never marks anything removed and never moves last_success_at.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from proctordash.appointments.models import Appointment, Course, CourseOffering, EnrollmentExamSession, Exam
from proctordash.core import sync
from proctordash.core.upsert import (
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
from proctordash.core.vocabulary import is_sid
from proctordash.monitoring.models import SyncRun, Upstream

log = logging.getLogger(__name__)

UPSTREAM = Upstream.SMARTERPROCTORING


def page_size() -> int:
    return int(getattr(settings, "SYNC_PAGE_SIZE", 500))


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
    raw, raw_text, digest = hashed or hashed_raw(raw)
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


@dataclass
class PageResult:
    created: int
    updated: int
    sids: list[str]


def appointments_write(records: list[Any], *, now: datetime | None = None) -> PageResult:
    """Upsert one page of appointment records (pydantic records or raw dicts) with their courses and exams,
    in one transaction. Unchanged rows are not written. Idempotent: safe to repeat after a crash."""
    now = now or timezone.now()
    raws = [_raw_of(r) for r in records]
    # Hash first; only new or changed records are mapped and written (a pass with no change maps nothing).
    hashed = {}
    for record, raw in zip(records, raws):
        sid = raw.get("sid")
        if isinstance(sid, str) and sid:
            hashed[text(sid, _f(Appointment, "sid"))] = (record, raw, hashed_raw(raw))
    # (content_hash, removed_at) of the stored rows: a row is written when it is new, changed or was removed
    stored = stored_values(Appointment, "sid", ["content_hash", "removed_at"], list(hashed))
    changed = [(record, raw, h) for sid, (record, raw, h) in hashed.items() if stored.get(sid) != (h[2], None)]
    # Truly malformed records are refused HERE, before anything of the page is written. The client has checked
    # each record's identity and top-level fields while reading the page; the nested objects (exam, enrollment,
    # course and offering, exam configuration) are validated now, for the records about to be written only (an
    # unchanged record was validated when it was written). UpstreamBadResponse fails the run; the transaction
    # below never starts. Raw dicts (tests, tools) carry no check and are mapped tolerantly.
    for record, _raw, _h in changed:
        check = getattr(record, "check_nested", None)
        if check is not None:
            check()
    rows = [appointment_row(raw, now=now, hashed=h) for _record, raw, h in changed]
    if not rows:
        return PageResult(0, 0, list(hashed))  # nothing changed on this page: nothing to write
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
        created, updated, _ = bulk_upsert(Appointment, rows, key="sid", compare=["content_hash", "removed_at"],
                                          existing=stored)
        bulk_upsert(CourseOffering, offerings.values(), key="sid",
                    compare=["course_sid", "title", "start_date", "end_date"], keep=())
        for course_sid, (offering_sid, offering_title) in _latest_offerings(list(courses)).items():
            courses[course_sid].update(offering_sid=offering_sid, offering_title=offering_title)
        bulk_upsert(Course, courses.values(), key="sid",
                    compare=["title", "code", "offering_sid", "offering_title"], keep=())
        bulk_upsert(Exam, exams.values(), key="sid", compare=["course_sid", "title", "type", "status", "raw"], keep=())
    return PageResult(created, updated, list(hashed))


# --- fetching ------------------------------------------------------------------------------------------------------
def _client():
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    return SmarterProctoringClient.from_settings()


def appointment_pages(client, *, filters: dict[str, Any], size: int, prefetch: bool = True) -> Iterator[Any]:
    """The client's pages of List Appointments, each fetched only when the shared rate-limit pause allows.

    With `prefetch`, the next page is fetched in a thread while the caller writes the current one (at most three
    pages in memory), so the database write hides behind the network wait instead of adding to it.
    A 429 that the HTTP layer did not wait out pauses the upstream for every worker and ends the pass (the
    task retries after the pause): the client's page iterator cannot resume mid-way, and a pass that silently
    lost its place must never look complete."""
    from proctordash.integrations.exceptions import UpstreamRateLimited

    def fetch():
        pages = client.iter_appointment_pages(**filters, page_size=size)
        while True:
            sync.wait_if_paused(UPSTREAM)
            try:
                page = next(pages)
            except StopIteration:
                return
            yield page

    try:
        yield from (sync.prefetched(fetch()) if prefetch else fetch())
    except UpstreamRateLimited as e:
        sync.upstream_pause(UPSTREAM, e.retry_after)
        raise


def incremental_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The incremental pass's window: SYNC_INCREMENTAL_PAST seconds back to SYNC_INCREMENTAL_FUTURE ahead."""
    now = now or timezone.now()
    past = int(getattr(settings, "SYNC_INCREMENTAL_PAST", 2 * 86400))
    future = int(getattr(settings, "SYNC_INCREMENTAL_FUTURE", 14 * 86400))
    return now - timedelta(seconds=past), now + timedelta(seconds=future)


def to_z(dt: datetime) -> str:
    from datetime import timezone as tz

    dt = dt.astimezone(tz.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# --- the passes ----------------------------------------------------------------------------------------------------
def appointments_refresh(*, incremental: bool = False, window: tuple[datetime, datetime] | None = None,
                         run_id: int | None = None, task_id: str = "", client=None,
                         wait_for_lock: float = 0) -> SyncRun:
    """Refresh the appointment cache: every appointment (full), or those dated within a window (incremental;
    default `incremental_window()`). Returns the finished SyncRun; raises AlreadyRunning when a pass is running,
    or the upstream's error after recording it (the cache keeps its previous good data)."""
    kind = SyncRun.Kind.APPOINTMENTS_INCREMENTAL if incremental else SyncRun.Kind.APPOINTMENTS_FULL
    if incremental and window is None:
        window = incremental_window()
    scope = f"{to_z(window[0])}..{to_z(window[1])}" if incremental else ""
    with sync.sync_run(kind=kind, run_id=run_id, task_id=task_id, wait_for_lock=wait_for_lock) as ctx:
        if scope:
            SyncRun.objects.filter(pk=ctx.run.pk).update(notes=f"window {scope}")
        _appointments_pass(ctx, client or _client(), window if incremental else None)
    return ctx.run


def _appointments_pass(ctx: sync.RunContext, client, window: tuple[datetime, datetime] | None) -> None:
    size = page_size()
    filters: dict[str, Any] = {}
    if window:
        filters = {"appointment_after": window[0], "appointment_before": window[1]}
    started = ctx.run.started_at
    seen: set[str] = set()
    totals: list[int | None] = []
    for page in appointment_pages(client, filters=filters, size=size):
        ctx.check()  # never write after losing the lock
        result = appointments_write(page.results)
        seen.update(result.sids)
        totals.append(page.total)
        ctx.progress(pages=1, requests=1, seen=len(page.results), created=result.created, updated=result.updated,
                     expected=page.total, pages_total=math.ceil(page.total / size) if page.total else None)
    if len(set(totals)) > 1 or (totals and totals[0] is not None and totals[0] != len(seen)):
        ctx.note(f"removal marking skipped: the upstream's total moved during the pass ({totals[0]} → {totals[-1]}, "
                 f"{len(seen)} distinct records seen); the next pass will settle it")
        return
    ctx.check()
    removed = _mark_removed(ctx, seen, window=window, started=started, client=client)
    if removed:
        ctx.progress(removed=removed)


def _mark_removed(ctx: sync.RunContext, seen: set[str], *, window, started: datetime, client) -> int:
    """After a complete pass: live rows the pass should have seen but did not are marked removed.

    Full pass: every live row. Incremental pass: only rows dated inside the window, and each is first looked up
    again by exam and learner (it may just have been rescheduled out of the window); a row that cannot be
    checked is left to the next full pass."""
    live = Appointment.objects.live().filter(last_seen_at__lt=started)
    if window:
        live = live.filter(appointment_date__gte=window[0], appointment_date__lt=window[1])
    missing = [sid for sid in live.values_list("sid", flat=True).iterator(chunk_size=5000) if sid not in seen]
    if not missing:
        return 0
    if window is None:
        limit = float(getattr(settings, "SYNC_MAX_REMOVAL_FRACTION", 0.5))
        total_live = Appointment.objects.live().count()
        if total_live > 100 and len(missing) > limit * total_live:
            ctx.note(f"removal marking refused: {len(missing)} of {total_live} appointments missing upstream is more "
                     f"than SYNC_MAX_REMOVAL_FRACTION={limit}; check the upstream, then run a full sync again")
            return 0
    else:
        missing = _verify_missing(ctx, missing, client=client)
    now = timezone.now()
    removed = 0
    for start in range(0, len(missing), 500):
        removed += Appointment.objects.filter(sid__in=missing[start:start + 500], removed_at__isnull=True,
                                              last_seen_at__lt=started).update(removed_at=now)
    return removed


def _verify_missing(ctx: sync.RunContext, missing: list[str], *, client) -> list[str]:
    cap = int(getattr(settings, "SYNC_INCREMENTAL_VERIFY_MAX", 25))
    gone: list[str] = []
    rows = {a.sid: a for a in Appointment.objects.filter(sid__in=missing[:cap]).only("sid", "exam_sid", "learner_sid")}
    if len(missing) > cap:
        ctx.note(f"{len(missing) - cap} appointments missing from the window left for the next full pass")
    for sid, row in rows.items():
        if not (is_sid("exam", row.exam_sid) and row.learner_sid):
            continue
        ctx.check()
        found = []
        for page in appointment_pages(client, filters={"exam_sid": row.exam_sid, "learner_sid": row.learner_sid},
                                      size=page_size(), prefetch=False):
            ctx.progress(requests=1)
            found.extend(page.results)
        result = appointments_write(found)  # e.g. the appointment moved out of the window: keep it, with its new date
        if result.created or result.updated:
            ctx.progress(created=result.created, updated=result.updated)
        if sid not in {_raw_of(r).get("sid") for r in found}:
            gone.append(sid)
    return gone


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


def sessions_scope(enrollment_sid: str, exam_sid: str) -> str:
    return f"{enrollment_sid}/{exam_sid}"


def _check_session_sids(enrollment_sid: str, exam_sid: str) -> None:
    if not is_sid("enrollment", enrollment_sid):
        raise ValueError("enrollment_sid must be 'EN' followed by 32 lowercase hex digits")
    if not is_sid("exam", exam_sid):
        raise ValueError("exam_sid must be 'EX' followed by 32 lowercase hex digits")


def sessions_refresh(*, enrollment_sid: str, exam_sid: str, run_id: int | None = None, task_id: str = "",
                     client=None, wait_for_lock: float = 0) -> SyncRun:
    """Refresh one enrollment's exam sessions for one exam (List enrollment exam sessions, every page); sessions
    of that pair no longer listed are marked removed after the complete pass. Returns the finished SyncRun."""
    _check_session_sids(enrollment_sid, exam_sid)
    client = client or _client()
    scope = sessions_scope(enrollment_sid, exam_sid)
    with sync.sync_run(kind=SyncRun.Kind.SESSIONS, scope=scope, run_id=run_id, task_id=task_id,
                       counts_as_refresh=False, wait_for_lock=wait_for_lock) as ctx:
        started = ctx.run.started_at
        course_sid = (Exam.objects.filter(sid=exam_sid).values_list("course_sid", flat=True).first()
                      or Appointment.objects.filter(exam_sid=exam_sid).values_list("course_sid", flat=True).first()
                      or "")
        def fetch():
            iterator = client.list_enrollment_exam_sessions(enrollment_sid=enrollment_sid, exam_sid=exam_sid,
                                                            page_size=1000)
            return list(iterator), iterator.total, iterator.pages_fetched

        records, total, pages = sync.upstream_call(UPSTREAM, fetch)
        now = timezone.now()
        rows = [session_row(_raw_of(r), enrollment_sid=enrollment_sid, exam_sid=exam_sid, course_sid=course_sid,
                            now=now) for r in records]
        rows = [row for row in rows if row["sid"]]
        ctx.check()
        with transaction.atomic():
            created, updated, _ = bulk_upsert(EnrollmentExamSession, rows, key="sid",
                                              compare=["content_hash", "removed_at", "course_sid"])
            seen = {row["sid"] for row in rows}
            removed = EnrollmentExamSession.objects.filter(
                enrollment_sid=enrollment_sid, exam_sid=exam_sid, removed_at__isnull=True, last_seen_at__lt=started,
            ).exclude(sid__in=seen).update(removed_at=now)
        ctx.progress(pages=pages, requests=pages, seen=len(rows), created=created, updated=updated,
                     removed=removed, expected=total if total is not None else len(rows))
    return ctx.run


def sessions_refresh_request(*, enrollment_sid: str, exam_sid: str) -> SyncRun:
    """For the appointment screen: queue a refresh of this enrollment's exam sessions for this exam (or get the
    one already queued or running). Poll the returned SyncRun; read the rows with
    EnrollmentExamSession.objects.live().filter(enrollment_sid=..., exam_sid=...)."""
    _check_session_sids(enrollment_sid, exam_sid)
    return sync.refresh_request(kind=SyncRun.Kind.SESSIONS, scope=sessions_scope(enrollment_sid, exam_sid),
                                task_kwargs={"enrollment_sid": enrollment_sid, "exam_sid": exam_sid})
