"""The sync passes: every refresh of the cache, from the upstream's pages to the domain apps' rows.

Each pass runs under `engine.sync_run` (lock, SyncRun bookkeeping, UpstreamState). Pages are written as they arrive,
one transaction per page, through the mapping the domain app registered (mappings.py). Removal marking happens only
at the end of a complete pass, and only when the upstream's total did not move during it (offset paging over a
changing list can skip a record; such a pass upserts what it saw and leaves removals to the next one). A failed pass
never marks anything removed and never moves last_success_at.

Entry points: `appointments_refresh`, `sessions_refresh`, `proctorexam_refresh` (run by the tasks in tasks.py and by
`manage.py sync_upstream`), and for pages `refresh_request` / `sessions_refresh_request` (queue one, or join the one
queued or running) and `run_get` (poll it).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from proctordash.core.vocabulary import is_sid
from proctordash.sync import engine, mappings
from proctordash.sync.models import SyncRun, Upstream

log = logging.getLogger(__name__)

run_get = engine.run_get


def page_size() -> int:
    return int(getattr(settings, "SYNC_PAGE_SIZE", 500))


def _raw_of(record: Any) -> dict:
    raw = getattr(record, "raw", record)
    return raw if isinstance(raw, dict) else {}


# --- requests from pages ---------------------------------------------------------------------------------------------
def refresh_request(*, kind: str) -> SyncRun:
    """Queue a refresh of `kind` ("appointments_full" (or "appointments"), "appointments_incremental",
    "proctorexam") unless one of that kind is queued or running, in which case that run is returned.
    Sessions of one enrollment: `sessions_refresh_request`."""
    kind = engine.normalise_kind(kind)
    if kind == SyncRun.Kind.SESSIONS:
        raise ValueError("a sessions refresh needs an enrollment and an exam: use sessions_refresh_request()")
    return engine.refresh_request(kind=kind)


def sessions_scope(enrollment_sid: str, exam_sid: str) -> str:
    return f"{enrollment_sid}/{exam_sid}"


def _check_session_sids(enrollment_sid: str, exam_sid: str) -> None:
    if not is_sid("enrollment", enrollment_sid):
        raise ValueError("enrollment_sid must be 'EN' followed by 32 lowercase hex digits")
    if not is_sid("exam", exam_sid):
        raise ValueError("exam_sid must be 'EX' followed by 32 lowercase hex digits")


def sessions_refresh_request(*, enrollment_sid: str, exam_sid: str) -> SyncRun:
    """For the appointment screen: queue a refresh of this enrollment's exam sessions for this exam (or get the
    one already queued or running). Poll the returned SyncRun; read the rows with
    EnrollmentExamSession.objects.live().filter(enrollment_sid=..., exam_sid=...)."""
    _check_session_sids(enrollment_sid, exam_sid)
    return engine.refresh_request(kind=SyncRun.Kind.SESSIONS, scope=sessions_scope(enrollment_sid, exam_sid),
                                  task_kwargs={"enrollment_sid": enrollment_sid, "exam_sid": exam_sid})


# --- SmarterProctoring: appointments -----------------------------------------------------------------------------------
SMARTERPROCTORING = Upstream.SMARTERPROCTORING


def _smarterproctoring_client():
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
            engine.wait_if_paused(SMARTERPROCTORING)
            try:
                page = next(pages)
            except StopIteration:
                return
            yield page

    try:
        yield from (engine.prefetched(fetch()) if prefetch else fetch())
    except UpstreamRateLimited as e:
        engine.upstream_pause(SMARTERPROCTORING, e.retry_after)
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
    with engine.sync_run(kind=kind, run_id=run_id, task_id=task_id, wait_for_lock=wait_for_lock) as ctx:
        if scope:
            SyncRun.objects.filter(pk=ctx.run.pk).update(notes=f"window {scope}")
        _appointments_pass(ctx, client or _smarterproctoring_client(), window if incremental else None)
    return ctx.run


def _appointments_pass(ctx: engine.RunContext, client, window: tuple[datetime, datetime] | None) -> None:
    mapping: mappings.AppointmentsMapping = mappings.get(mappings.APPOINTMENTS)
    size = page_size()
    filters: dict[str, Any] = {}
    if window:
        filters = {"appointment_after": window[0], "appointment_before": window[1]}
    started = ctx.run.started_at
    seen: set[str] = set()
    totals: list[int | None] = []
    for page in appointment_pages(client, filters=filters, size=size):
        ctx.check()  # never write after losing the lock
        result = mapping.write_page(page.results)
        seen.update(result.keys)
        totals.append(page.total)
        ctx.progress(pages=1, requests=1, seen=len(page.results), created=result.created, updated=result.updated,
                     expected=page.total, pages_total=math.ceil(page.total / size) if page.total else None)
    if len(set(totals)) > 1 or (totals and totals[0] is not None and totals[0] != len(seen)):
        ctx.note(f"removal marking skipped: the upstream's total moved during the pass ({totals[0]} → {totals[-1]}, "
                 f"{len(seen)} distinct records seen); the next pass will settle it")
        return
    ctx.check()
    removed = _mark_removed(ctx, mapping, seen, window=window, started=started, client=client)
    if removed:
        ctx.progress(removed=removed)


def _mark_removed(ctx: engine.RunContext, mapping: mappings.AppointmentsMapping, seen: set[str], *, window,
                  started: datetime, client) -> int:
    """After a complete pass: live rows the pass should have seen but did not are marked removed.

    Full pass: every live row. Incremental pass: only rows dated inside the window, and each is first looked up
    again by exam and learner (it may just have been rescheduled out of the window); a row that cannot be
    checked is left to the next full pass."""
    missing = [sid for sid in mapping.live_keys(seen_before=started, window=window) if sid not in seen]
    if not missing:
        return 0
    if window is None:
        limit = float(getattr(settings, "SYNC_MAX_REMOVAL_FRACTION", 0.5))
        total_live = mapping.live_count()
        if total_live > 100 and len(missing) > limit * total_live:
            ctx.note(f"removal marking refused: {len(missing)} of {total_live} appointments missing upstream is more "
                     f"than SYNC_MAX_REMOVAL_FRACTION={limit}; check the upstream, then run a full sync again")
            return 0
    else:
        missing = _verify_missing(ctx, mapping, missing, client=client)
    return mapping.mark_removed(missing, seen_before=started, now=timezone.now())


def _verify_missing(ctx: engine.RunContext, mapping: mappings.AppointmentsMapping, missing: list[str], *,
                    client) -> list[str]:
    cap = int(getattr(settings, "SYNC_INCREMENTAL_VERIFY_MAX", 25))
    gone: list[str] = []
    if len(missing) > cap:
        ctx.note(f"{len(missing) - cap} appointments missing from the window left for the next full pass")
    for sid, filters in mapping.lookup_filters(missing[:cap]).items():
        ctx.check()
        found = []
        for page in appointment_pages(client, filters=filters, size=page_size(), prefetch=False):
            ctx.progress(requests=1)
            found.extend(page.results)
        result = mapping.write_page(found)  # e.g. the appointment moved out of the window: keep it, with its new date
        if result.created or result.updated:
            ctx.progress(created=result.created, updated=result.updated)
        if sid not in {_raw_of(r).get("sid") for r in found}:
            gone.append(sid)
    return gone


# --- SmarterProctoring: one enrollment's exam sessions -----------------------------------------------------------------
def sessions_refresh(*, enrollment_sid: str, exam_sid: str, run_id: int | None = None, task_id: str = "",
                     client=None, wait_for_lock: float = 0) -> SyncRun:
    """Refresh one enrollment's exam sessions for one exam (List enrollment exam sessions, every page); sessions
    of that pair no longer listed are marked removed after the complete pass. Returns the finished SyncRun."""
    _check_session_sids(enrollment_sid, exam_sid)
    mapping: mappings.SessionsMapping = mappings.get(mappings.ENROLLMENT_SESSIONS)
    client = client or _smarterproctoring_client()
    scope = sessions_scope(enrollment_sid, exam_sid)
    with engine.sync_run(kind=SyncRun.Kind.SESSIONS, scope=scope, run_id=run_id, task_id=task_id,
                         counts_as_refresh=False, wait_for_lock=wait_for_lock) as ctx:
        started = ctx.run.started_at

        def fetch():
            iterator = client.list_enrollment_exam_sessions(enrollment_sid=enrollment_sid, exam_sid=exam_sid,
                                                            page_size=1000)
            return list(iterator), iterator.total, iterator.pages_fetched

        records, total, pages = engine.upstream_call(SMARTERPROCTORING, fetch)
        ctx.check()
        created, updated, removed, written = mapping.write_pair(
            records, enrollment_sid=enrollment_sid, exam_sid=exam_sid, seen_before=started, now=timezone.now())
        ctx.progress(pages=pages, requests=pages, seen=written, created=created, updated=updated,
                     removed=removed, expected=total if total is not None else written)
    return ctx.run


# --- ProctorExam: open exams, their student sessions and incidents -----------------------------------------------------
PROCTOREXAM = Upstream.PROCTOREXAM


def _proctorexam_client():
    from proctordash.integrations.proctorexam.client import ProctorExamClient

    return ProctorExamClient.from_settings()


def proctorexam_refresh(*, run_id: int | None = None, task_id: str = "", client=None,
                        wait_for_lock: float = 0) -> SyncRun:
    """Refresh ProctorExam: the open exams, every student session of each (with incidents). Exams that were open
    and are no longer listed as open get their status from the full exam list; sessions of an open exam no longer
    listed are marked removed after that exam's complete pass. Returns the finished SyncRun."""
    client = client or _proctorexam_client()
    with engine.sync_run(kind=SyncRun.Kind.PROCTOREXAM, run_id=run_id, task_id=task_id,
                         wait_for_lock=wait_for_lock) as ctx:
        _proctorexam_pass(ctx, client)
    return ctx.run


def _list(ctx: engine.RunContext, fetch) -> tuple[list[Any], int | None]:
    """Drain one lazy list (every page) through the shared rate-limit pause; a 429 is retried from the start.
    Returns the records and the announced total, and counts the pages as requests of the run."""
    def go():
        iterator = fetch()
        try:
            records = list(iterator)
        finally:
            ctx.progress(requests=getattr(iterator, "pages_fetched", 1))
        return records, getattr(iterator, "total", None), getattr(iterator, "pages_fetched", 1)

    records, total, pages = engine.upstream_call(PROCTOREXAM, go)
    ctx.progress(pages=pages)
    return records, total


def _proctorexam_pass(ctx: engine.RunContext, client) -> None:
    mapping: mappings.ProctorExamMapping = mappings.get(mappings.PROCTOREXAM)
    started = ctx.run.started_at
    open_exams, exams_total = _list(ctx, lambda: client.list_exams(status="open"))
    ctx.check()
    created, updated, open_ids = mapping.write_exams(open_exams, now=timezone.now())
    # records_seen and records_expected count the same things: the open exams, then each one's student sessions
    # (expected used to count only the sessions, so the health page showed e.g. "117 of 113 (103.5 %)")
    expected = exams_total if exams_total is not None else len(open_exams)
    ctx.progress(seen=len(open_ids), created=created, updated=updated, expected=expected)

    # Exams we still think are open but the upstream no longer lists as open: learn their new status.
    stale = mapping.open_exam_ids_except(open_ids)
    if stale:
        for status in ("closed", "draft"):
            others, _total = _list(ctx, lambda: client.list_exams(status=status))
            ctx.check()
            c, u, written = mapping.write_exams(others, now=timezone.now(), only=stale)
            ctx.progress(updated=c + u)
            stale -= written
        if stale:  # in no list at all: gone upstream
            removed = mapping.mark_exams_removed(stale, seen_before=started, now=timezone.now())
            ctx.progress(removed=removed)

    for exam in sorted(open_ids):
        sessions, count = _list(ctx, lambda: client.list_student_sessions(exam_id=exam))
        expected += count if count is not None else len(sessions)
        ctx.check()
        c, u, removed, written = mapping.write_student_sessions(exam, sessions, seen_before=started,
                                                                now=timezone.now())
        ctx.progress(seen=written, created=c, updated=u, removed=removed, expected=expected)
