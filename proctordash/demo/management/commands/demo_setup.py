"""Prepare the demo on embedded defaults: generated credentials, database, one staff account per role."""

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from proctordash.accounts.services import staff_add
from proctordash.sandbox.data import demo_course_sids

DEMO_SANDBOX_SEED = 42  # Procfile.demo: runsandbox --seed 42

DEMO_COURSES_NOTE = "instructor course assignments follow the sandbox's seed (see `manage.py staff list`)"


def demo_environment() -> dict[str, str]:
    """Credentials for the demo's own sandbox, generated once per checkout (never committed)."""
    return {
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "SMARTERPROCTORING_BASE_URL": "http://127.0.0.1:8100",
        "SMARTERPROCTORING_TOKEN": secrets.token_urlsafe(24),
        "SMARTERPROCTORING_INSTALL_SID": "AI" + secrets.token_hex(16),
        "PROCTOREXAM_BASE_URL": "http://127.0.0.1:8100",
        "PROCTOREXAM_TOKEN": secrets.token_urlsafe(24),
        "PROCTOREXAM_SECRET_KEY": secrets.token_hex(32),
    }


class Command(BaseCommand):
    help = "Write var/demo.env (generated credentials), migrate, and create demo staff (passwords printed once)."

    def handle(self, *args, **options):
        env_file = Path(settings.VAR_DIR) / "demo.env"
        env_file.parent.mkdir(parents=True, exist_ok=True)
        if not env_file.exists():
            lines = [f"{k}={v}" for k, v in demo_environment().items()]
            env_file.write_text("\n".join(lines) + "\n")
            env_file.chmod(0o600)
            self.stdout.write(f"Wrote generated demo credentials to {env_file}")
        call_command("migrate", interactive=False, verbosity=0)
        User = get_user_model()
        created = []
        for username, role in (("coordinator", "coordinator"), ("instructor", "instructor"), ("support", "support")):
            if User.objects.filter(username=username).exists():
                continue
            password = secrets.token_urlsafe(9)
            # The demo instructor teaches two courses that exist in the sandbox's data (same seed as Procfile.demo).
            courses = demo_course_sids(DEMO_SANDBOX_SEED) if role == "instructor" else []
            staff_add(username=username, role=role, courses=courses, password=password)
            created.append((username, role, password))
        if created:
            self.stdout.write("\nDemo staff accounts (passwords are shown only this once):")
            for username, role, password in created:
                self.stdout.write(f"  {username:<12} {role:<12} {password}")
        else:
            self.stdout.write("Demo staff accounts already exist (reset one: manage.py staff add NAME --role ROLE --password-stdin).")
        self.stdout.write("\nOpen http://127.0.0.1:8000 and sign in. Ctrl-C stops everything.\n")
