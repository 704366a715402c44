"""`manage.py sync_upstream [appointments|sessions|proctorexam|all]`: run a refresh in this process (operators,
tests, filling a development database), with the same code, lock and bookkeeping as the Celery tasks."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from proctordash.integrations.exceptions import UpstreamError
from proctordash.sync import mappings, passes
from proctordash.sync.engine import AlreadyRunning, SyncError, error_summary


class Command(BaseCommand):
    help = ("Refresh the local cache from the upstreams, in this process. "
            "appointments: a full pass (or --incremental); sessions: one enrollment's exam sessions "
            "(--enrollment/--exam) or those of the appointments in the incremental window (at most --limit); "
            "proctorexam: open exams' student sessions and incidents; all: appointments then proctorexam.")

    def add_arguments(self, parser):
        parser.add_argument("what", nargs="?", default="all", choices=["appointments", "sessions", "proctorexam", "all"])
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--incremental", action="store_true", help="appointments: only the recent/coming window")
        mode.add_argument("--full", action="store_true", help="appointments: every appointment (the default)")
        parser.add_argument("--enrollment", help="sessions: the enrollment SID (EN…)")
        parser.add_argument("--exam", help="sessions: the exam SID (EX…)")
        parser.add_argument("--limit", type=int, default=50, help="sessions without --enrollment: at most this many")
        parser.add_argument("--wait", type=float, default=0,
                            help="seconds to wait for a run of the same kind to finish (default: fail at once)")

    def handle(self, *args, what, incremental, full, enrollment, exam, limit, wait, **options):
        failed = []
        steps = {"appointments": ["appointments"], "sessions": ["sessions"], "proctorexam": ["proctorexam"],
                 "all": ["appointments", "proctorexam"]}[what]
        for step in steps:
            try:
                if step == "appointments":
                    runs = [passes.appointments_refresh(incremental=incremental, wait_for_lock=wait)]
                elif step == "proctorexam":
                    runs = [passes.proctorexam_refresh(wait_for_lock=wait)]
                else:
                    runs = [passes.sessions_refresh(enrollment_sid=e, exam_sid=x, wait_for_lock=wait)
                            for e, x in self._session_pairs(enrollment, exam, limit)]
            except AlreadyRunning as e:
                failed.append(step)
                self.stderr.write(f"{step}: {e}")
                continue
            except (UpstreamError, SyncError) as e:
                failed.append(step)
                self.stderr.write(f"{step}: failed: {error_summary(e)}")
                continue
            except ValueError as e:
                raise CommandError(str(e)) from None
            for run in runs:
                self.stdout.write(
                    f"{run.get_kind_display()}{' ' + run.scope if run.scope else ''}: run #{run.pk} {run.outcome}, "
                    f"{run.pages} pages, {run.records_seen} seen, {run.records_created} created, "
                    f"{run.records_updated} updated, {run.records_removed} removed"
                    f"{' — ' + run.notes if run.notes else ''}")
        if failed:
            raise CommandError(f"failed: {', '.join(failed)}")

    def _session_pairs(self, enrollment, exam, limit):
        if enrollment or exam:
            if not (enrollment and exam):
                raise CommandError("sessions: give both --enrollment and --exam (or neither)")
            return [(enrollment, exam)]
        mapping: mappings.SessionsMapping = mappings.get(mappings.ENROLLMENT_SESSIONS)
        return mapping.pairs_in_window(passes.incremental_window(), limit=limit)
