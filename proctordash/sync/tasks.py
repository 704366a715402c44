"""Celery tasks of the sync: thin wrappers (ids and options in, one pass out of passes.py).

Tasks are acks_late (settings: CELERY_TASK_ACKS_LATE, reject on worker lost) and safe to run twice: the passes are
idempotent upserts under a lock. An unavailable or rate-limited upstream is retried with exponential backoff; every
attempt is a SyncRun of its own, so the health page shows each failure and its cause.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from proctordash.integrations.exceptions import UpstreamBadResponse, UpstreamRateLimited, UpstreamUnavailable
from proctordash.sync import engine, passes
from proctordash.sync.engine import AlreadyRunning, SyncPaused, retry_countdown

# An unparsable answer (invalid JSON, a body cut short) that the client's own retries did not get past is retried
# like an unavailable upstream; a malformed record no longer fails a pass (it is skipped and reported).
RETRYABLE = (UpstreamUnavailable, UpstreamRateLimited, SyncPaused, UpstreamBadResponse)

# Soft limits (the run stops and is failed, "Stopped: ... time limit"); the hard limit kills the process 30 s later
# (the sweep then marks the run abandoned). The same numbers tell the health page when a run is overdue.
APPOINTMENTS_LIMIT = int(getattr(settings, "SYNC_APPOINTMENTS_TIME_LIMIT", 3000))
SESSIONS_LIMIT = int(getattr(settings, "SYNC_SESSIONS_TIME_LIMIT", 120))
PROCTOREXAM_LIMIT = int(getattr(settings, "SYNC_PROCTOREXAM_TIME_LIMIT", 120))


@shared_task(bind=True, acks_late=True, max_retries=5, soft_time_limit=APPOINTMENTS_LIMIT,
             time_limit=APPOINTMENTS_LIMIT + 30)
def refresh_appointments_task(self, *, run_id: int | None = None, incremental: bool = False) -> int | None:
    """Full (or incremental) refresh of the appointment cache; returns the SyncRun id (or the running one's)."""
    try:
        return passes.appointments_refresh(incremental=incremental, run_id=run_id, task_id=self.request.id or "").pk
    except AlreadyRunning as e:
        return e.run.pk if e.run else None
    except RETRYABLE as e:
        raise self.retry(exc=e, countdown=retry_countdown(e, self.request.retries),
                         kwargs={"incremental": incremental}) from e


@shared_task(bind=True, acks_late=True, max_retries=3, soft_time_limit=SESSIONS_LIMIT, time_limit=SESSIONS_LIMIT + 30)
def refresh_enrollment_sessions_task(self, *, enrollment_sid: str, exam_sid: str, run_id: int | None = None) -> int | None:
    """Refresh one enrollment's exam sessions for one exam (on demand, when someone opens an appointment)."""
    try:
        return passes.sessions_refresh(enrollment_sid=enrollment_sid, exam_sid=exam_sid, run_id=run_id,
                                       task_id=self.request.id or "").pk
    except AlreadyRunning as e:
        return e.run.pk if e.run else None
    except RETRYABLE as e:
        raise self.retry(exc=e, countdown=retry_countdown(e, self.request.retries),
                         kwargs={"enrollment_sid": enrollment_sid, "exam_sid": exam_sid}) from e


@shared_task(bind=True, acks_late=True, max_retries=2, soft_time_limit=PROCTOREXAM_LIMIT,
             time_limit=PROCTOREXAM_LIMIT + 30)
def refresh_proctorexam_task(self, *, run_id: int | None = None) -> int | None:
    """Refresh open ProctorExam exams, their student sessions and incidents; returns the SyncRun id."""
    try:
        return passes.proctorexam_refresh(run_id=run_id, task_id=self.request.id or "").pk
    except AlreadyRunning as e:
        return e.run.pk if e.run else None
    except RETRYABLE as e:
        raise self.retry(exc=e, countdown=retry_countdown(e, self.request.retries), kwargs={}) from e


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def sweep_abandoned_runs_task() -> dict[str, int]:
    """Beat entry `sync-sweep` (every SYNC_SWEEP_INTERVAL s): runs whose worker died are marked abandoned, requests
    no worker picked up are closed (engine.abandoned_runs_sweep)."""
    return engine.abandoned_runs_sweep()
