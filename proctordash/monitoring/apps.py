from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "proctordash.monitoring"

    def ready(self) -> None:
        # Celery autodiscovers only `tasks` modules; the alert check lives beside them in alert_tasks.py.
        from proctordash.monitoring import alert_tasks  # noqa: F401
