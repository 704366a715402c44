from django.apps import AppConfig


class AppointmentsConfig(AppConfig):
    name = "proctordash.appointments"

    def ready(self) -> None:
        # Give the sync engine this app's mappings (upstream record → cache rows): appointments and enrollment sessions.
        from proctordash.appointments import mapping
        from proctordash.sync import mappings

        mappings.register(mappings.APPOINTMENTS, mapping.APPOINTMENTS)
        mappings.register(mappings.ENROLLMENT_SESSIONS, mapping.SESSIONS)
