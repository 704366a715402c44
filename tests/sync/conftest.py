"""Fixtures of the sync tests: a real Celery worker subprocess on the run's Redis and test database, the truth as the
sandbox serves it (read with the client), and a clean slate of sync keys in Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import harness

ROOT = Path(__file__).resolve().parents[2]
PAGE_SIZE = 50  # small pages: the test sandbox's 600 appointments make 12 of them, so faults can land mid-pass
LOCK_TTL = 3


def test_database_url() -> str:
    """The URL of the test database this pytest run created, for a worker subprocess to share."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{name}"
    return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()


test_database_url.__test__ = False  # not a test, despite its name


class Worker:
    """`celery -A proctordash worker` in its own process group (so SIGKILL takes its pool children too)."""

    def __init__(self, concurrency: int = 2, env: dict[str, str] | None = None):
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self.log_path = harness.RUN_DIR / f"worker-{uuid.uuid4().hex[:8]}.log"

    def start(self) -> Worker:
        from proctordash.celery import app

        env = {**os.environ, "DATABASE_URL": test_database_url(), "SYNC_PAGE_SIZE": str(PAGE_SIZE),
               "SYNC_LOCK_TTL": str(LOCK_TTL), "SYNC_RETRY_BASE": "1", "SYNC_MAX_INLINE_PAUSE": "2",
               **self.extra_env}
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "proctordash", "worker", "--pool", "prefork", "--concurrency",
             str(self.concurrency), "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "-n", f"synctest-{uuid.uuid4().hex[:6]}@%h"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while b"ready." not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"worker did not start; see {self.log_path}")
            time.sleep(0.1)
        app.control  # noqa: B018 (the app is configured; nothing else to do)
        return self

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children) at once."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture
def sync_settings(settings):
    settings.SYNC_PAGE_SIZE = PAGE_SIZE
    settings.SYNC_LOCK_TTL = LOCK_TTL
    settings.SYNC_MAX_INLINE_PAUSE = 2
    return settings


@pytest.fixture(autouse=True)
def clean_sync_state(request):
    """No lock, pause or queued request left by an earlier test; no fault left in the sandbox."""
    from proctordash.celery import app
    from proctordash.sync.engine import KEY_PREFIX, redis_client

    def clean():
        client = redis_client()
        for key in client.scan_iter(f"{KEY_PREFIX}*"):
            client.delete(key)
        app.control.purge()

    clean()
    yield
    clean()
    if "sandbox" in request.fixturenames:
        request.getfixturevalue("sandbox").set_faults()


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker):
    """One real worker for the module's tests (they use django_db(transaction=True) so it sees their data)."""
    w = Worker().start()
    yield w
    w.stop()


def upstream_appointments(**filters) -> dict[str, str]:
    """sid → content hash of every appointment the sandbox serves now (read with the real client), as the cache
    stores it (the exam password scrubbed)."""
    from proctordash.appointments.mapping import scrub_secrets
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient
    from proctordash.sync.upsert import content_hash

    with SmarterProctoringClient.from_settings() as client:
        return {record.sid: content_hash(scrub_secrets(record.raw))
                for record in client.list_appointments(page_size=1000, **filters)}


def cached_appointments(**filters) -> dict[str, str]:
    from proctordash.appointments.models import Appointment

    return dict(Appointment.objects.live().filter(**filters).values_list("sid", "content_hash"))


def cache_snapshot() -> dict:
    """Everything a sync may write, to compare before and after."""
    from proctordash.appointments.models import Appointment, Course, CourseOffering, Exam

    return {
        "offerings": sorted(CourseOffering.objects.values_list("sid", "course_sid", "title", "start_date")),
        "appointments": sorted(Appointment.objects.values_list("sid", "content_hash", "removed_at", "last_seen_at")),
        "courses": sorted(Course.objects.values_list("sid", "title", "code", "offering_sid", "offering_title")),
        "exams": sorted(Exam.objects.values_list("sid", "title", "status", "course_sid")),
    }


def wait_for(predicate, *, timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)
