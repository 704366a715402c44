"""`python manage.py staff add USERNAME --role coordinator|instructor|support [--course CU… …] [--password-stdin]`
and `python manage.py staff list`."""

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from proctordash.accounts.models import Role
from proctordash.accounts.services import staff_add, staff_list


class Command(BaseCommand):
    help = "Provision dashboard staff: add (or update) an account with a role, or list accounts."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Create a staff account or update its role and courses.")
        add.add_argument("username")
        add.add_argument("--role", required=True, choices=Role.values)
        add.add_argument("--course", action="append", default=[], metavar="CU…", help="Course SID (instructors; repeatable).")
        add.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
        sub.add_parser("list", help="List staff accounts with their roles and courses.")

    def handle(self, *args, **options):
        if options["action"] == "list":
            return self._list()
        password = None
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin: no password on standard input")
        try:
            result = staff_add(username=options["username"], role=options["role"], courses=options["course"], password=password)
        except ValidationError as e:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in e.message_dict.items())
            raise CommandError(details) from None
        verb = "Created" if result.created else "Updated"
        self.stdout.write(f"{verb} {options['username']} ({options['role']})")
        if result.generated_password:
            self.stdout.write(f"Password (shown once): {result.generated_password}")

    def _list(self):
        rows = staff_list()
        if not rows:
            self.stdout.write("No staff accounts.")
            return
        width = max(len(r["username"]) for r in rows)
        for r in rows:
            status = "" if r["active"] else " (inactive)"
            courses = " ".join(r["courses"])
            self.stdout.write(f"{r['username']:<{width}}  {r['role'] or '-':<11}  {courses}{status}".rstrip())
