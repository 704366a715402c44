"""Sync service for ProctorExam (exams, student sessions of open exams, their incidents) and the refresh entry point
of the health page.

`refresh_request(kind=...)` is what the health page's "Refresh now" calls: it returns the SyncRun already queued or
running for that kind, or queues a new one, and the page polls it (pages, pages_total, records_expected,
records_seen, outcome).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from proctordash.core import sync
from proctordash.core.upsert import bulk_upsert, clean_raw, content_hash, parse_datetime, parse_int, text
from proctordash.monitoring.models import Incident, ProctorExamExam, StudentSession, SyncRun, Upstream

log = logging.getLogger(__name__)

UPSTREAM = Upstream.PROCTOREXAM
CHECKS = ["webcam_check", "microphone_check", "speakers_check", "screenshare_check", "mobile_check", "bandwidth_check"]


def refresh_request(*, kind: str) -> SyncRun:
    """Queue a refresh of `kind` ("appointments_full" (or "appointments"), "appointments_incremental",
    "proctorexam") unless one of that kind is queued or running, in which case that run is returned.
    Sessions of one enrollment: proctordash.appointments.services.sessions_refresh_request."""
    kind = sync.normalise_kind(kind)
    if kind == SyncRun.Kind.SESSIONS:
        raise ValueError("a sessions refresh needs an enrollment and an exam: use sessions_refresh_request()")
    return sync.refresh_request(kind=kind)


run_get = sync.run_get


def _raw_of(record: Any) -> dict:
    raw = getattr(record, "raw", record)
    return raw if isinstance(raw, dict) else {}


def _f(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def _id(value: Any) -> int | None:
    parsed = parse_int(value) if not isinstance(value, int) else value
    return parsed if isinstance(parsed, int) and not isinstance(parsed, bool) and 0 < parsed < 2**63 else None


def exam_row(raw: dict, *, now: datetime) -> dict[str, Any] | None:
    raw = clean_raw(raw)
    exam_id = _id(raw.get("id"))
    if exam_id is None:
        return None
    M = ProctorExamExam
    return dict(id=exam_id, name=text(raw.get("name"), _f(M, "name")), status=text(raw.get("status"), _f(M, "status")),
                start_time=parse_datetime(raw.get("start_time")), end_time=parse_datetime(raw.get("end_time")),
                raw=raw, content_hash=content_hash(raw), last_seen_at=now, removed_at=None)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def student_session_row(raw: dict, *, exam_id: int, now: datetime) -> dict[str, Any] | None:
    raw = clean_raw(raw)
    session_id = _id(raw.get("id"))
    if session_id is None:
        return None
    S = StudentSession
    incidents = raw.get("incidents") if isinstance(raw.get("incidents"), list) else []
    row = dict(
        id=session_id, exam_id=exam_id, name=text(raw.get("name"), _f(S, "name")),
        email=text(raw.get("email"), _f(S, "email")), status=text(raw.get("status"), _f(S, "status")),
        start_time=parse_datetime(raw.get("start_time")), end_time=parse_datetime(raw.get("end_time")),
        entered_room=_bool(raw.get("entered_room")), reviewed=text(raw.get("reviewed"), _f(S, "reviewed")),
        incident_count=len(incidents), upstream_updated_at=parse_datetime(raw.get("updated_at")),
        raw=raw, content_hash=content_hash(raw), last_seen_at=now, removed_at=None,
    )
    for check in CHECKS:
        row[check] = text(raw.get(check), _f(S, check))
    return row


def incident_rows(raw: dict, *, session_id: int) -> list[dict[str, Any]]:
    rows = []
    for incident in raw.get("incidents") or []:
        if not isinstance(incident, dict) or _id(incident.get("id")) is None:
            continue
        rows.append(dict(id=_id(incident["id"]), student_session_id=session_id,
                         comment=text(incident.get("comment"), 100_000),
                         offset_time=parse_int(incident.get("offset_time")),
                         created_at=parse_datetime(incident.get("created_at")), raw=clean_raw(incident)))
    return rows


def _client():
    from proctordash.integrations.proctorexam.client import ProctorExamClient

    return ProctorExamClient.from_settings()


def proctorexam_refresh(*, run_id: int | None = None, task_id: str = "", client=None,
                        wait_for_lock: float = 0) -> SyncRun:
    """Refresh ProctorExam: the open exams, every student session of each (with incidents). Exams that were open
    and are no longer listed as open get their status from the full exam list; sessions of an open exam no longer
    listed are marked removed after that exam's complete pass. Returns the finished SyncRun."""
    client = client or _client()
    with sync.sync_run(kind=SyncRun.Kind.PROCTOREXAM, run_id=run_id, task_id=task_id,
                       wait_for_lock=wait_for_lock) as ctx:
        _proctorexam_pass(ctx, client)
    return ctx.run


def _list(ctx: sync.RunContext, fetch) -> tuple[list[Any], int | None]:
    """Drain one lazy list (every page) through the shared rate-limit pause; a 429 is retried from the start.
    Returns the records and the announced total, and counts the pages as requests of the run."""
    def go():
        iterator = fetch()
        try:
            records = list(iterator)
        finally:
            ctx.progress(requests=getattr(iterator, "pages_fetched", 1))
        return records, getattr(iterator, "total", None), getattr(iterator, "pages_fetched", 1)

    records, total, pages = sync.upstream_call(UPSTREAM, go)
    ctx.progress(pages=pages)
    return records, total


def _proctorexam_pass(ctx: sync.RunContext, client) -> None:
    started = ctx.run.started_at
    open_exams, exams_total = _list(ctx, lambda: client.list_exams(status="open"))
    now = timezone.now()
    exam_rows = [row for row in (exam_row(_raw_of(e), now=now) for e in open_exams) if row]
    open_ids = {row["id"] for row in exam_rows}
    ctx.check()
    created, updated, _ = bulk_upsert(ProctorExamExam, exam_rows, key="id", compare=["content_hash", "removed_at"])
    # records_seen and records_expected count the same things: the open exams, then each one's student sessions
    # (expected used to count only the sessions, so the health page showed e.g. "117 of 113 (103.5 %)")
    expected = exams_total if exams_total is not None else len(open_exams)
    ctx.progress(seen=len(exam_rows), created=created, updated=updated, expected=expected)

    # Exams we still think are open but the upstream no longer lists as open: learn their new status.
    stale = set(ProctorExamExam.objects.filter(status="open", removed_at__isnull=True).exclude(id__in=open_ids)
                .values_list("id", flat=True))
    if stale:
        for status in ("closed", "draft"):
            others, _total = _list(ctx, lambda: client.list_exams(status=status))
            rows = [row for row in (exam_row(_raw_of(e), now=timezone.now()) for e in others) if row and row["id"] in stale]
            ctx.check()
            c, u, written = bulk_upsert(ProctorExamExam, rows, key="id", compare=["content_hash", "removed_at"])
            ctx.progress(updated=c + u)
            stale -= {row["id"] for row in rows}
        if stale:  # in no list at all: gone upstream
            removed = ProctorExamExam.objects.filter(id__in=stale, last_seen_at__lt=started).update(
                removed_at=timezone.now())
            ctx.progress(removed=removed)

    for exam in sorted(open_ids):
        sessions, count = _list(ctx, lambda: client.list_student_sessions(exam_id=exam))
        expected += count if count is not None else len(sessions)
        now = timezone.now()
        rows = [r for r in (student_session_row(_raw_of(s), exam_id=exam, now=now) for s in sessions) if r]
        incidents = [i for row in rows for i in incident_rows(row["raw"], session_id=row["id"])]
        ctx.check()
        with transaction.atomic():
            c, u, _ = bulk_upsert(StudentSession, rows, key="id", compare=["content_hash", "removed_at", "exam_id"])
            # first_seen_at (kept on update) is when the dashboard first saw an incident: the alerts read it
            bulk_upsert(Incident, incidents, key="id",
                        compare=["student_session_id", "comment", "offset_time", "created_at", "raw"])
            removed = StudentSession.objects.filter(exam_id=exam, removed_at__isnull=True,
                                                    last_seen_at__lt=started).exclude(
                id__in=[row["id"] for row in rows]).update(removed_at=now)
        ctx.progress(seen=len(rows), created=c, updated=u, removed=removed, expected=expected)
