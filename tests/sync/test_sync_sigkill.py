"""A worker SIGKILLed in the middle of a run loses nothing: the next run completes and the cache is consistent.
(Its own module: no other worker may take the task.)"""

from __future__ import annotations

import pytest

from proctordash.appointments.models import Appointment
from proctordash.sync import engine as sync
from proctordash.sync.models import SyncRun
from proctordash.sync.passes import refresh_request

from .conftest import LOCK_TTL, Worker, cached_appointments, upstream_appointments, wait_for
from .test_sync_worker import sync_until_stable

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_sigkill_mid_run_then_a_new_run_ends_consistent(sandbox):
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
        new_run, truth = sync_until_stable(lambda: refresh_request(kind="appointments_full"), upstream_appointments)
    finally:
        fresh.stop()
    assert new_run.pk != run.pk and new_run.outcome == SyncRun.Outcome.SUCCESS, new_run.error_summary
    assert cached_appointments() == truth
    assert Appointment.objects.count() == len(truth)
    dead = SyncRun.objects.get(pk=run.pk)
    assert dead.outcome == SyncRun.Outcome.FAILED and "Worker lost" in dead.error_summary
    assert not SyncRun.objects.filter(outcome=SyncRun.Outcome.RUNNING).exists()
