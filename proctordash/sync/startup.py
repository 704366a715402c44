"""Beat's start-up refresh: queue a refresh for every upstream whose cached data are missing or not fresh.

Beat's interval schedules first fire one interval after beat starts, so without this a fresh deployment (or the demo)
would show no appointments for up to SYNC_APPOINTMENTS_FULL_INTERVAL. refresh_request() answers with the run already
queued or running, so a second beat or a restart cannot double the work. proctordash/celery.py calls
`refresh_stale_data` from beat's `beat_init` signal.
"""

from __future__ import annotations

from proctordash.sync.freshness import freshness_get
from proctordash.sync.passes import refresh_request

# Kinds refreshed at once when beat starts and the upstream's data are missing or not fresh.
STARTUP_REFRESHES = {"smarterproctoring": "appointments_full", "proctorexam": "proctorexam"}


def refresh_stale_data() -> list[str]:
    """Queue a refresh for every upstream whose data are missing or not fresh; returns the kinds queued."""
    queued = []
    for upstream, kind in STARTUP_REFRESHES.items():
        if freshness_get(upstream).state != "fresh":
            refresh_request(kind=kind)
            queued.append(kind)
    return queued
