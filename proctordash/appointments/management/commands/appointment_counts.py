"""`manage.py appointment_counts [--check] [--rebuild]`: the per-day counts the appointment list reads.

The sync keeps them exact as it writes (appointments/counts.py); `migrate` rebuilds them when they are missing or in
another zone than DASHBOARD_TIME_ZONE. Use --check to compare them with a recount of the rows (exit status 1 when
they differ), --rebuild after changing appointment rows by hand (QuerySet.update(), SQL) or restoring a backup.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from proctordash.appointments import counts


class Command(BaseCommand):
    help = "Check or rebuild the appointment list's per-day counts."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare the counts with a recount of the rows")
        parser.add_argument("--rebuild", action="store_true", help="recount them from the rows")

    def handle(self, *args, check=False, rebuild=False, **options):
        if not (check or rebuild):
            raise CommandError("Say what to do: --check, --rebuild (or both: rebuild, then check).")
        if rebuild:
            started = time.monotonic()
            n = counts.counts_rebuild()
            self.stdout.write(f"Rebuilt the appointment counts in {counts.zone_name()}: {n} rows "
                              f"in {time.monotonic() - started:.1f} s.")
        if check:
            problems = counts.counts_check()
            if problems:
                for line in problems[:50]:
                    self.stdout.write(line)
                more = " (first 50 shown)" if len(problems) > 50 else ""
                raise CommandError(f"{len(problems)} counts differ from the rows{more}; run --rebuild.")
            self.stdout.write("The appointment counts match the rows.")
