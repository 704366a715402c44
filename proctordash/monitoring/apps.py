from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "proctordash.monitoring"

    def ready(self) -> None:
        # Celery autodiscovers only `tasks` modules; the alert check lives in alert_tasks.py.
        from proctordash.monitoring import alert_tasks  # noqa: F401
        # Give the sync engine this app's mapping (ProctorExam records → the monitor's cache rows).
        from proctordash.monitoring import mapping
        from proctordash.sync import mappings

        mappings.register(mappings.PROCTOREXAM, mapping.PROCTOREXAM)
