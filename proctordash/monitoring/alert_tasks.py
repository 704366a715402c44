"""The beat-scheduled health check (CELERY_BEAT_SCHEDULE["monitoring-check-alerts"] in settings).

A module of its own so it does not collide with the sync part's monitoring/tasks.py; apps.py imports it so the
worker registers the task.
"""

from __future__ import annotations

from celery import shared_task

from proctordash.monitoring import alerts, health


@shared_task(name="proctordash.monitoring.alert_tasks.check_alerts_task", ignore_result=True, soft_time_limit=60,
             time_limit=90)
def check_alerts_task() -> list[str]:
    """Record beat's tick for the health page, then send the outage/recovery e-mails that are due."""
    health.beat_tick_record()
    return alerts.alerts_check()
