from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_migrate, post_save, pre_save


class AppointmentsConfig(AppConfig):
    name = "proctordash.appointments"

    def ready(self) -> None:
        # Give the sync engine this app's mappings (upstream record → cache rows): appointments and enrollment sessions.
        from proctordash.appointments import mapping
        from proctordash.appointments.models import Appointment
        from proctordash.sync import mappings

        mappings.register(mappings.APPOINTMENTS, mapping.APPOINTMENTS)
        mappings.register(mappings.ENROLLMENT_SESSIONS, mapping.SESSIONS)
        # The per-day counts the list reads (appointments/counts.py): built after `migrate` (and after a test
        # database is flushed) when missing or in another zone; kept by single-row saves and deletes (the sync's
        # bulk writes keep them in mapping.py).
        post_migrate.connect(_ensure_counts, sender=self)
        pre_save.connect(_counts_before_save, sender=Appointment, dispatch_uid="appointments_counts_pre_save")
        post_save.connect(_counts_after_save, sender=Appointment, dispatch_uid="appointments_counts_post_save")
        post_delete.connect(_counts_after_delete, sender=Appointment, dispatch_uid="appointments_counts_post_delete")


def _ensure_counts(sender, apps=None, using="default", **kwargs) -> None:
    from proctordash.appointments import counts

    from django.db import connections

    if apps is not None:
        try:
            apps.get_model("appointments", "AppointmentCountsState")
        except LookupError:  # migrated back to before the counts existed
            return
    tables = connections[using].introspection.table_names()
    if "appointments_appointmentcountsstate" not in tables:  # e.g. a flush before migrate
        return
    counts.counts_ensure()


def _counts_before_save(sender, instance, raw=False, **kwargs) -> None:
    from proctordash.appointments import counts

    if raw:  # loaddata: run `appointment_counts --rebuild` afterwards
        return
    instance._counts_before = (list(sender.objects.filter(pk=instance.pk).values_list(*counts.KEY_COLUMNS))
                               if instance.pk else [])


def _counts_after_save(sender, instance, raw=False, **kwargs) -> None:
    from proctordash.appointments import counts

    if raw:
        return
    with transaction.atomic():
        exact = counts.counts_lock()
        after = list(sender.objects.filter(pk=instance.pk).values_list(*counts.KEY_COLUMNS))
        counts.counts_write(getattr(instance, "_counts_before", []), after, exact=exact)
    instance._counts_before = after


def _counts_after_delete(sender, instance, **kwargs) -> None:
    from proctordash.appointments import counts

    with transaction.atomic():
        exact = counts.counts_lock()
        counts.counts_write([tuple(getattr(instance, column) for column in counts.KEY_COLUMNS)], [], exact=exact)
