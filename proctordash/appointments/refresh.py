"""The appointment page's one write to the outside world: asking the worker to refresh a learner's exam sessions.

The sync part owns the entry point; this module calls it lazily and degrades to "showing cached sessions" when the
broker or Redis is down, so opening an appointment never fails because the queue is unavailable.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def sessions_refresh(*, appointment):
    """Queue (or join) a refresh of the appointment's enrollment exam sessions. Returns the SyncRun to poll, or None
    when no refresh could be requested."""
    if not (appointment.enrollment_sid and appointment.exam_sid):
        return None
    from proctordash.sync.passes import sessions_refresh_request

    try:
        return sessions_refresh_request(enrollment_sid=appointment.enrollment_sid, exam_sid=appointment.exam_sid)
    except Exception as exc:  # broker down, Redis down: the cached list is still worth showing
        log.warning("could not request a sessions refresh for %s: %s", appointment.sid, type(exc).__name__)
        return None


def run_get(run_id: int):
    from proctordash.sync.engine import run_get as get

    return get(run_id)
