"""Celery beat's schedule: every periodic task of the project, in one place.

settings.py builds CELERY_BEAT_SCHEDULE with `beat_schedule(globals())` after it has read the intervals from the
environment, so this module reads settings by name and imports nothing of Django or the apps. Tasks are named by
their dotted paths (a domain app's periodic task lives in that app's tasks module).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def beat_schedule(settings: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The schedule for the given settings (a mapping of setting name → value)."""
    return {
        "appointments-full": {
            "task": "proctordash.sync.tasks.refresh_appointments_task",
            "schedule": float(settings["SYNC_APPOINTMENTS_FULL_INTERVAL"]),
            "kwargs": {"incremental": False},
        },
        "appointments-incremental": {
            "task": "proctordash.sync.tasks.refresh_appointments_task",
            "schedule": float(settings["SYNC_APPOINTMENTS_INCREMENTAL_INTERVAL"]),
            "kwargs": {"incremental": True},
        },
        "proctorexam": {
            "task": "proctordash.sync.tasks.refresh_proctorexam_task",
            "schedule": float(settings["SYNC_PROCTOREXAM_INTERVAL"]),
        },
        "sync-sweep": {
            "task": "proctordash.sync.tasks.sweep_abandoned_runs_task",
            "schedule": float(settings.get("SYNC_SWEEP_INTERVAL", 60)),
        },
        "exams-resume-bulk-changes": {
            "task": "proctordash.exams.tasks.resume_bulk_changes_task",
            "schedule": float(settings.get("BULK_JOB_STALE_AFTER", 60)),
        },
        "exams-check-drift": {
            "task": "proctordash.exams.tasks.check_drift_task",
            "schedule": float(settings.get("DRIFT_CHECK_INTERVAL", 600)),
        },
        "monitoring-check-alerts": {
            "task": "proctordash.monitoring.alert_tasks.check_alerts_task",
            "schedule": float(settings["MONITORING_ALERT_CHECK_INTERVAL"]),
        },
    }
