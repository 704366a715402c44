"""A worker SIGKILLed in the middle of a run loses nothing: the next run completes and the cache is consistent.
(Its own module: no other worker may take the task.)"""

from __future__ import annotations

import pytest

from proctordash.appointments.models import Appointment
from proctordash.core.timezones import dashboard_zone
from proctordash.sync import engine as sync
from proctordash.sync.models import SyncRun
from proctordash.sync.passes import refresh_request
from proctordash.sync.tasks import sweep_abandoned_runs_task
from tests.monitoring.staff_language import technical_leaks

from .conftest import LOCK_TTL, Worker, cached_appointments, upstream_appointments, wait_for
from .test_sync_worker import sync_until_stable

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_sigkill_mid_run_then_a_new_run_ends_consistent(sandbox, client_for, coordinator):
    killed = Worker(concurrency=1).start()
    try:
        sandbox.set_faults(appointments={"latency": 0.4})
        run = refresh_request(kind="appointments_full")
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).pages >= 3, what="the run to be mid-way")
        killed.kill()
    finally:
        killed.stop()
    sandbox.set_faults()
    partial = Appointment.objects.count()
    assert 0 < partial < 600
    # the dead run keeps its lock until it expires; meanwhile a request is answered with the dead run
    if sync.lock_holder("appointments") is not None:
        assert refresh_request(kind="appointments_full").pk == run.pk
    wait_for(lambda: sync.lock_holder("appointments") is None, timeout=LOCK_TTL + 5, what="the lock to expire")

    fresh = Worker().start()
    try:
        # beat's periodic sweep (run by the worker) marks the dead run abandoned without waiting for a new run
        # (once its last sign of life is older than 2 × SYNC_LOCK_TTL)
        def swept():
            sweep_abandoned_runs_task.delay().get(timeout=30)
            return SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.ABANDONED

        wait_for(swept, timeout=30, interval=1, what="the sweep to mark the dead run abandoned")
        dead = SyncRun.objects.get(pk=run.pk)
        assert "Worker lost" in dead.error_summary and dead.finished_at is not None
        # the health page says so in words, with the last sign of life in the dashboard's zone (the summary has UTC)
        seen = (dead.heartbeat_at or dead.started_at).astimezone(dashboard_zone())
        progress = client_for(coordinator).get(f"/health/runs/{dead.pk}/", HTTP_HX_REQUEST="true").content.decode()
        assert (f"The SmarterProctoring refresh stopped before it finished (the background worker went away; last "
                f"sign of life {seen:%d %b %H:%M:%S} {seen.tzname()})") in progress, progress
        assert technical_leaks(progress) == []
        new_run, truth = sync_until_stable(lambda: refresh_request(kind="appointments_full"), upstream_appointments)
    finally:
        fresh.stop()
    assert new_run.pk != run.pk and new_run.outcome == SyncRun.Outcome.SUCCESS, new_run.error_summary
    assert cached_appointments() == truth
    assert Appointment.objects.count() == len(truth)
    assert SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.ABANDONED
    assert not SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING).exists()


def test_the_sweep_leaves_a_live_run_alone_and_abandons_one_without_its_lock(sandbox, sync_settings):
    """Unit of the sweep's rule, on real Redis: a running run whose lock is held by it is alive however quiet."""
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(minutes=5)
    alive = SyncRun.objects.create(kind="proctorexam", upstream="proctorexam", started_at=old, heartbeat_at=old,
                                   outcome=SyncRun.Outcome.RUNNING)
    dead = SyncRun.objects.create(kind="appointments_full", upstream="smarterproctoring", started_at=old,
                                  heartbeat_at=old, outcome=SyncRun.Outcome.RUNNING)
    young = SyncRun.objects.create(kind="sessions", upstream="smarterproctoring", scope="EN/EX",
                                   started_at=timezone.now(), outcome=SyncRun.Outcome.RUNNING)
    keeper = sync.LockKeeper("proctorexam", f"{alive.pk}:token", 30)
    assert keeper.acquire()
    try:
        assert sync.abandoned_runs_sweep() == {"abandoned": 1, "unclaimed": 0}
    finally:
        keeper.release()
    assert SyncRun.objects.get(pk=alive.pk).outcome == SyncRun.Outcome.RUNNING
    assert SyncRun.objects.get(pk=young.pk).outcome == SyncRun.Outcome.RUNNING
    assert SyncRun.objects.get(pk=dead.pk).outcome == SyncRun.Outcome.ABANDONED
