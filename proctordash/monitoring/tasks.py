"""Celery task for the ProctorExam cache (the live monitor): thin, acks_late, retried with backoff."""

from __future__ import annotations

from celery import shared_task

from proctordash.core.sync import AlreadyRunning, SyncPaused, retry_countdown
from proctordash.integrations.exceptions import UpstreamRateLimited, UpstreamUnavailable
from proctordash.monitoring import services

RETRYABLE = (UpstreamUnavailable, UpstreamRateLimited, SyncPaused)


@shared_task(bind=True, acks_late=True, max_retries=2, soft_time_limit=240, time_limit=270)
def refresh_proctorexam_task(self, *, run_id: int | None = None) -> int | None:
    """Refresh open ProctorExam exams, their student sessions and incidents; returns the SyncRun id."""
    try:
        return services.proctorexam_refresh(run_id=run_id, task_id=self.request.id or "").pk
    except AlreadyRunning as e:
        return e.run.pk if e.run else None
    except RETRYABLE as e:
        raise self.retry(exc=e, countdown=retry_countdown(e, self.request.retries), kwargs={}) from e
