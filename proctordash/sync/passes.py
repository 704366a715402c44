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

import collections
import contextvars
import logging
import math
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from proctordash.core.vocabulary import is_sid
from proctordash.sync import engine, mappings
from proctordash.sync.models import SyncRun, Upstream, UpstreamState

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


def fetch_concurrency() -> int:
    """How many appointment pages are fetched at once (SYNC_FETCH_CONCURRENCY, default 4)."""
    return max(1, int(getattr(settings, "SYNC_FETCH_CONCURRENCY", 4)))


class _RateLimits:
    """429s met by the fetcher threads: they set the shared pause in Redis themselves (no database connection in a
    thread); the pass's own thread records the pause on UpstreamState afterwards (the freshness line shows it)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.longest = 0.0

    def met(self, retry_after: float) -> None:
        with self.lock:
            self.longest = max(self.longest, retry_after)

    def record(self) -> None:
        with self.lock:
            longest, self.longest = self.longest, 0.0
        if longest:
            UpstreamState.objects.get_or_create(upstream=SMARTERPROCTORING)
            UpstreamState.objects.filter(upstream=SMARTERPROCTORING).update(
                rate_limited_until=timezone.now() + timedelta(seconds=longest))


def appointment_pages(client, *, filters: dict[str, Any], size: int, concurrency: int | None = None,
                      limits: _RateLimits | None = None) -> Iterator[Any]:
    """The pages of List Appointments in offset order, fetched ahead by a bounded pool of `concurrency` threads
    (default SYNC_FETCH_CONCURRENCY) while the caller writes them.

    The first page says how many records there are (`total`); the other pages are at offset k × size and are
    fetched at once by the pool, at most 2 × concurrency pages ahead of the writer, so memory stays flat however
    large the upstream is. A page whose `total` is larger than known (records added meanwhile) extends the plan;
    the pass compares every page's total to decide whether removals are safe. Every fetch honours the shared
    rate-limit pause: it waits a short pause out, a 429 pauses the upstream for every fetcher and every worker,
    and the page is asked again after it (up to three times); a pause longer than SYNC_MAX_INLINE_PAUSE ends the
    pass with SyncPaused (the task retries after it). Records are parsed leniently: malformed ones are listed in
    `Page.skipped`. An upstream that announces no total is read one page after another."""
    from proctordash.integrations.exceptions import UpstreamRateLimited

    concurrency = fetch_concurrency() if concurrency is None else max(1, concurrency)
    limits = limits or _RateLimits()

    def fetch(offset: int):
        def call():
            try:
                return client.appointments_page(offset=offset, page_size=size, skip_bad_records=True, **filters)
            except UpstreamRateLimited as e:
                limits.met(float(e.retry_after or 30))
                raise
        return engine.upstream_call(SMARTERPROCTORING, call, record=False)

    try:
        first = fetch(0)
        limits.record()
        yield first
        if first.total is None:  # no total to plan with: one page after another, as the client pages
            if first.count == size:
                yield from _sequential_pages(client, filters=filters, size=size, start=first.offset + first.count)
            return
        known_total = first.total
        next_offset = first.offset + size
        window = 2 * concurrency
        pending: collections.deque[Future] = collections.deque()
        executor = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="sync-fetch")
        try:
            while True:
                while len(pending) < window and next_offset < known_total:
                    # each fetch runs in a copy of this context: the request id travels to the upstream call
                    pending.append(executor.submit(contextvars.copy_context().run, fetch, next_offset))
                    next_offset += size
                if not pending:
                    return
                page = pending.popleft().result()
                limits.record()
                if page.total is not None and page.total > known_total:
                    known_total = page.total
                yield page
                del page  # the writer's page is not held while the next one is awaited
        finally:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=False, cancel_futures=True)
    except UpstreamRateLimited as e:
        engine.upstream_pause(SMARTERPROCTORING, e.retry_after)
        raise
    finally:
        limits.record()


def _sequential_pages(client, *, filters: dict[str, Any], size: int, start: int = 0) -> Iterator[Any]:
    """One page after another from `start`, each only when the shared rate-limit pause allows. A 429 that the HTTP
    layer did not wait out pauses the upstream for every worker and ends the pass (the task retries after it)."""
    from proctordash.integrations.exceptions import UpstreamRateLimited

    pages = client.iter_appointment_pages(**filters, page_size=size, skip_bad_records=True, _start=start)
    try:
        while True:
            engine.wait_if_paused(SMARTERPROCTORING)
            try:
                page = next(pages)
            except StopIteration:
                return
            yield page
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
    unidentified = 0  # malformed records without a usable sid: their rows cannot be told from removed ones
    for page in appointment_pages(client, filters=filters, size=size):
        ctx.check()  # never write after losing the lock
        result = mapping.write_page(page.results)
        seen.update(result.keys)
        skipped = page.skipped + result.skipped
        seen.update(key for key, _error in page.skipped if key is not None)
        unidentified += sum(1 for key, _error in page.skipped if key is None)
        ctx.skipped(skipped)
        totals.append(page.total)
        ctx.progress(pages=1, requests=1, seen=page.count, created=result.created, updated=result.updated,
                     expected=page.total, pages_total=math.ceil(page.total / size) if page.total else None)
    if unidentified:
        ctx.note(f"removal marking skipped: {unidentified} malformed record(s) had no usable sid, so the rows they "
                 f"stand for cannot be told from removed ones; the next pass will settle it")
        return
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
        found, skipped_keys = [], set()
        for page in _sequential_pages(client, filters=filters, size=page_size()):
            ctx.progress(requests=1)
            found.extend(page.results)
            skipped_keys.update(key for key, _error in page.skipped)
            ctx.skipped(page.skipped)
        result = mapping.write_page(found)  # e.g. the appointment moved out of the window: keep it, with its new date
        ctx.skipped(result.skipped)
        if result.created or result.updated:
            ctx.progress(created=result.created, updated=result.updated)
        if None in skipped_keys:
            continue  # a malformed record without a sid may be this one: not proof that it is gone
        if sid not in {_raw_of(r).get("sid") for r in found} | skipped_keys:
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
                                                            page_size=1000, skip_bad_records=True)
            return list(iterator), iterator.total, iterator.pages_fetched, iterator.skipped

        records, total, pages, skipped = engine.upstream_call(SMARTERPROCTORING, fetch)
        ctx.check()
        ctx.skipped(skipped)
        keys = {key for key, _error in skipped}
        created, updated, removed, written = mapping.write_pair(
            records, enrollment_sid=enrollment_sid, exam_sid=exam_sid, seen_before=started, now=timezone.now(),
            remove_missing=None not in keys, keep=keys - {None})
        if None in keys:
            ctx.note("removal marking skipped: a malformed session had no sid")
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


def _list(ctx: engine.RunContext, fetch) -> tuple[list[Any], int | None, set[Any]]:
    """Drain one lazy list (every page) through the shared rate-limit pause; a 429 is retried from the start.
    Returns the records, the announced total and the keys of malformed records left out (None for one without a
    usable id; they are reported on the run), and counts the pages as requests of the run."""
    def go():
        iterator = fetch()
        try:
            records = list(iterator)
        finally:
            ctx.progress(requests=getattr(iterator, "pages_fetched", 1))
        return (records, getattr(iterator, "total", None), getattr(iterator, "pages_fetched", 1),
                getattr(iterator, "skipped", []))

    records, total, pages, skipped = engine.upstream_call(PROCTOREXAM, go)
    ctx.progress(pages=pages)
    ctx.skipped(skipped)
    return records, total, {key for key, _error in skipped}


def _int_key(key: Any) -> int | None:
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _proctorexam_pass(ctx: engine.RunContext, client) -> None:
    mapping: mappings.ProctorExamMapping = mappings.get(mappings.PROCTOREXAM)
    started = ctx.run.started_at
    open_exams, exams_total, bad_open = _list(ctx, lambda: client.list_exams(status="open", skip_bad_records=True))
    ctx.check()
    created, updated, open_ids = mapping.write_exams(open_exams, now=timezone.now())
    # records_seen and records_expected count the same things: the open exams, then each one's student sessions
    # (expected used to count only the sessions, so the health page showed e.g. "117 of 113 (103.5 %)")
    expected = exams_total if exams_total is not None else len(open_exams)
    ctx.progress(seen=len(open_ids), created=created, updated=updated, expected=expected)

    # Exams we still think are open but the upstream no longer lists as open: learn their new status.
    # (an open exam whose record was malformed is still open: it is not "stale")
    stale = mapping.open_exam_ids_except(open_ids | {_int_key(k) for k in bad_open} - {None})
    if stale:
        unidentified = None in bad_open
        for status in ("closed", "draft"):
            others, _total, bad = _list(ctx, lambda: client.list_exams(status=status, skip_bad_records=True))
            ctx.check()
            c, u, written = mapping.write_exams(others, now=timezone.now(), only=stale)
            ctx.progress(updated=c + u)
            stale -= written | {_int_key(k) for k in bad}
            unidentified = unidentified or None in bad
        if stale and not unidentified:  # in no list at all: gone upstream
            removed = mapping.mark_exams_removed(stale, seen_before=started, now=timezone.now())
            ctx.progress(removed=removed)

    for exam in sorted(open_ids):
        sessions, count, bad = _list(ctx, lambda: client.list_student_sessions(exam_id=exam, skip_bad_records=True))
        expected += count if count is not None else len(sessions)
        ctx.check()
        c, u, removed, written = mapping.write_student_sessions(
            exam, sessions, seen_before=started, now=timezone.now(), remove_missing=None not in bad,
            keep={_int_key(k) for k in bad} - {None})
        written += len(bad)  # seen, though not written: records_seen counts what the upstream listed
        ctx.progress(seen=written, created=c, updated=u, removed=removed, expected=expected)
