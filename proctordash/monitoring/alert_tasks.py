"""The beat-scheduled health check (entry "monitoring-check-alerts" in proctordash/sync/schedule.py).

apps.py imports this module so the worker registers the task (Celery autodiscovers only `tasks` modules).
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
