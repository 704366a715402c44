"""Celery tasks of the sync: thin wrappers (ids and options in, one pass out of passes.py).

Tasks are acks_late (settings: CELERY_TASK_ACKS_LATE, reject on worker lost) and safe to run twice: the passes are
idempotent upserts under a lock. An unavailable or rate-limited upstream is retried with exponential backoff; every
attempt is a SyncRun of its own, so the health page shows each failure and its cause.
"""

from __future__ import annotations

from celery import shared_task

from proctordash.integrations.exceptions import UpstreamRateLimited, UpstreamUnavailable
from proctordash.sync import passes
from proctordash.sync.engine import AlreadyRunning, SyncPaused, retry_countdown

RETRYABLE = (UpstreamUnavailable, UpstreamRateLimited, SyncPaused)


@shared_task(bind=True, acks_late=True, max_retries=5, soft_time_limit=3000, time_limit=3300)
def refresh_appointments_task(self, *, run_id: int | None = None, incremental: bool = False) -> int | None:
    """Full (or incremental) refresh of the appointment cache; returns the SyncRun id (or the running one's)."""
    try:
        return passes.appointments_refresh(incremental=incremental, run_id=run_id, task_id=self.request.id or "").pk
    except AlreadyRunning as e:
        return e.run.pk if e.run else None
    except RETRYABLE as e:
        raise self.retry(exc=e, countdown=retry_countdown(e, self.request.retries),
                         kwargs={"incremental": incremental}) from e


@shared_task(bind=True, acks_late=True, max_retries=3, soft_time_limit=120, time_limit=150)
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


@shared_task(bind=True, acks_late=True, max_retries=2, soft_time_limit=240, time_limit=270)
def refresh_proctorexam_task(self, *, run_id: int | None = None) -> int | None:
    """Refresh open ProctorExam exams, their student sessions and incidents; returns the SyncRun id."""
    try:
        return passes.proctorexam_refresh(run_id=run_id, task_id=self.request.id or "").pk
    except AlreadyRunning as e:
        return e.run.pk if e.run else None
    except RETRYABLE as e:
        raise self.retry(exc=e, countdown=retry_countdown(e, self.request.retries), kwargs={}) from e
