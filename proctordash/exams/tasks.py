"""Celery tasks of the exams app: thin — ids in, one service call, retries and time limits declared here.

- `run_bulk_change_task(bulk_id)`: the bulk change job (exams/bulk.py `bulk_run`). acks_late (settings), so a task
  whose worker is killed is delivered again; the job's lease and per-item claims make a second delivery harmless.
- `resume_bulk_changes_task()`: the sweep (beat) that resends jobs left without a live worker.
- `check_drift_task()`: the periodic drift check (exams/drift.py).
- `finish_configuration_save_task(save_id)`: a configuration save the web request could not finish within its
  upstream budget (exams/services.py `configuration_save_finish`); retried with backoff while the upstream is slow
  or down, then `configuration_save_give_up` says what is known.
- `fetch_configuration_task(course_sid, exam_sid, configuration_sid)`: the live read the configuration page could
  not make within its budget (`configuration_fetch`); the page polls for the copy it stores.
- `refresh_course_configurations_task(course_sid)`: the accommodation register's "fetch this course's
  configurations" (`configurations_refresh_course`).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready

from proctordash.core import taskqueue

log = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=30, soft_time_limit=3 * 3600,
             time_limit=3 * 3600 + 60)
def run_bulk_change_task(self, bulk_id: int) -> dict:
    """Preview and apply what bulk change `bulk_id` has waiting. When another worker holds the job (for example a
    worker that was killed, until its lease expires), try again a little later while work is left."""
    from proctordash.exams import bulk

    result = bulk.bulk_run(bulk_id=bulk_id)
    if (not result.held or result.lease_lost) and bulk.bulk_has_work(bulk_id):
        raise self.retry(countdown=max(2, bulk.stale_after().total_seconds() / 2))
    if result.held and not result.cancelled and not result.lease_lost and bulk.bulk_has_work(bulk_id):
        # stopped for a long rate-limit pause: come back after it
        raise self.retry(countdown=max(5, bulk._upstream_paused_for()))
    return {"bulk": bulk_id, "held": result.held, "previewed": result.previewed, "applied": result.applied,
            "cancelled": result.cancelled}


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def resume_bulk_changes_task() -> list[int]:
    """Resend the job of every recent bulk change that has work left and no live worker."""
    from proctordash.exams.bulk import bulk_resume_stale

    return bulk_resume_stale()


@shared_task(acks_late=True, soft_time_limit=600, time_limit=660)
def check_drift_task() -> dict:
    """One run of the drift check: read the configurations of the exams coming up (bounded), record and notify
    changes made outside ProctorDash."""
    from proctordash.exams.drift import drift_check

    return drift_check().as_dict()


@worker_ready.connect
def _resume_bulk_changes_when_a_worker_starts(sender=None, **kwargs):
    """A worker that starts (e.g. after the previous one was killed) picks up jobs left behind, without waiting for
    the sweep. Never stops the worker from starting."""
    try:
        taskqueue.send_task(resume_bulk_changes_task.name)
    except Exception:  # noqa: BLE001
        log.warning("could not queue the bulk change sweep at worker start", exc_info=True)


# --- the configuration pages (exams-config) -----------------------------------------------------------------
SAVE_MAX_RETRIES = 8


def _backoff(retries: int) -> int:
    return min(120, 5 * 2 ** retries)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=SAVE_MAX_RETRIES,
             soft_time_limit=300, time_limit=330)
def finish_configuration_save_task(self, save_id: str) -> str:
    """Complete or verify one slow configuration save; at most one worker at a time (the job is claimed)."""
    from proctordash.exams import services

    result = services.configuration_save_finish(save_id=save_id)
    if result == "retry":
        if self.request.retries >= self.max_retries:
            services.configuration_save_give_up(save_id=save_id)
            return "gave up"
        raise self.retry(countdown=_backoff(self.request.retries))
    return result


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=4, soft_time_limit=200,
             time_limit=230)
def fetch_configuration_task(self, course_sid: str, exam_sid: str, configuration_sid: str) -> str:
    """Read one configuration with the normal timeouts and keep it in the cache for the page that asked."""
    from proctordash.exams import services

    result = services.configuration_fetch(course_sid=course_sid, exam_sid=exam_sid,
                                          configuration_sid=configuration_sid,
                                          last_try=self.request.retries >= self.max_retries)
    if result == "retry":
        raise self.retry(countdown=_backoff(self.request.retries))
    return result


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=900, time_limit=960)
def refresh_course_configurations_task(course_sid: str) -> dict:
    """Fetch (and cache) the configurations the appointment cache names for one course."""
    from proctordash.exams import services

    fetched, failed = services.configurations_refresh_course(course_sid=course_sid)
    return {"fetched": fetched, "failed": failed}
