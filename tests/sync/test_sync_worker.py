"""Sync through a real Celery worker subprocess, real Redis and the real sandbox over HTTP."""

from __future__ import annotations

import threading

import pytest
from django.utils import timezone

from proctordash.appointments.models import Appointment, Course, Exam
from proctordash.sync.passes import incremental_window
from proctordash.sync.tasks import refresh_appointments_task
from proctordash.sync import engine as sync
from proctordash.sync.models import SyncRun, UpstreamState
from proctordash.sync.passes import refresh_request

from .conftest import (
    LOCK_TTL,
    Worker,
    cache_snapshot,
    cached_appointments,
    upstream_appointments,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def finished(run_id: int, timeout: float = 90) -> SyncRun:
    def done():
        run = SyncRun.objects.get(pk=run_id)
        return run if run.outcome not in (SyncRun.Outcome.QUEUED, SyncRun.Outcome.RUNNING) else None

    return wait_for(done, timeout=timeout, what=f"sync run {run_id} to finish")


def sync_until_stable(request_run, truth):
    """Request a run and compare the cache with the upstream; the sandbox's clock moves appointments along in real
    time, so when the upstream itself changed during the run, run again (at most three times)."""
    for _ in range(3):
        before = truth()
        run = finished(request_run().pk)
        after = truth()
        if before == after:
            return run, after
    raise AssertionError("the upstream kept changing")


def test_full_sync_gives_exactly_the_sandbox_records_and_a_second_run_writes_nothing(sandbox, worker):
    run, truth = sync_until_stable(lambda: refresh_request(kind="appointments_full"), upstream_appointments)
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error_summary
    assert cached_appointments() == truth
    assert run.records_seen == len(truth) and run.records_expected == len(truth)
    assert run.pages == run.pages_total == -(-len(truth) // 50)
    assert Course.objects.count() == len(set(Appointment.objects.values_list("course_sid", flat=True)) - {""})
    assert Exam.objects.count() == len(set(Appointment.objects.values_list("exam_sid", flat=True)) - {""})
    state = UpstreamState.objects.get(upstream="smarterproctoring")
    assert state.last_success_at == run.started_at and state.consecutive_failures == 0

    for _ in range(3):
        before = cache_snapshot()
        upstream_before = upstream_appointments()
        second = finished(refresh_request(kind="appointments_full").pk)
        if upstream_appointments() == upstream_before:
            break
    assert second.outcome == SyncRun.Outcome.SUCCESS
    assert (second.records_created, second.records_updated, second.records_removed) == (0, 0, 0)
    assert second.records_seen == len(truth)
    assert cache_snapshot() == before  # not one row rewritten (last_seen_at included)


def test_incremental_sync_gives_exactly_the_window_and_marks_nothing_outside_it(sandbox, worker):
    after, before = incremental_window()
    window = {"appointment_date__gte": after, "appointment_date__lt": before}
    # a cached appointment far outside the window that the upstream does not have: incremental must leave it alone
    outside = Appointment.objects.create(sid="AP" + "0" * 32, appointment_date=after.replace(year=after.year - 5),
                                         content_hash="x", last_seen_at=timezone.now())
    run, truth = sync_until_stable(lambda: refresh_request(kind="appointments_incremental"),
                                   lambda: upstream_appointments(appointment_after=after, appointment_before=before))
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error_summary
    assert 0 < len(truth) < len(upstream_appointments())
    assert cached_appointments(**window) == truth
    outside.refresh_from_db()
    assert outside.removed_at is None
    assert run.records_removed == 0


def test_two_refreshes_requested_at_once_run_once(sandbox, worker):
    runs: list[SyncRun] = []

    def ask():
        runs.append(refresh_request(kind="appointments_full"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.pk for r in runs}) == 1
    finished(runs[0].pk)
    # and two tasks sent straight to the queue at once (as beat and a person might): one run, the other answers it
    sandbox.set_faults(appointments={"latency": 0.2})
    results = [refresh_appointments_task.delay(), refresh_appointments_task.delay()]
    ids = [r.get(timeout=90) for r in results]
    assert ids[0] == ids[1]
    assert SyncRun.objects.filter(kind=SyncRun.Kind.APPOINTMENTS_FULL).count() == 2
    assert set(SyncRun.objects.values_list("outcome", flat=True)) == {SyncRun.Outcome.SUCCESS}


def test_a_refresh_requested_while_one_runs_gets_the_running_one(sandbox, worker):
    sandbox.set_faults(appointments={"latency": 0.3})
    first = refresh_request(kind="appointments_full")
    wait_for(lambda: SyncRun.objects.get(pk=first.pk).outcome == SyncRun.Outcome.RUNNING, what="the run to start")
    again = refresh_request(kind="appointments_incremental")  # shares the appointments lock
    assert again.pk == first.pk
    progress = wait_for(lambda: SyncRun.objects.get(pk=first.pk).pages >= 2, what="progress")
    assert progress
    run = SyncRun.objects.get(pk=first.pk)
    assert run.pages_total == 12 and run.records_expected == 600 and run.heartbeat_at is not None
    sandbox.set_faults()
    assert finished(first.pk).outcome == SyncRun.Outcome.SUCCESS


def test_rate_limit_pause_is_shared_by_every_worker(sandbox, worker, sync_settings):
    """A 429 met in this process pauses the upstream for the worker too: its run fails fast, without a request."""
    from proctordash.sync.passes import appointments_refresh
    from proctordash.integrations.exceptions import UpstreamRateLimited

    sandbox.set_faults(appointments={"rate_limit": 1.0, "retry_after": 120})
    with pytest.raises(UpstreamRateLimited):
        appointments_refresh()
    assert sync.upstream_paused_for("smarterproctoring") > 100
    assert UpstreamState.objects.get(upstream="smarterproctoring").rate_limited_until > timezone.now()
    sandbox.set_faults()
    run = finished(refresh_request(kind="appointments_full").pk)
    assert run.outcome == SyncRun.Outcome.FAILED
    assert "SyncPaused" in run.error_summary and run.requests_made == 0
    from proctordash.celery import app

    app.control.revoke(run.task_id)  # its retry waits out the pause; not in this test's lifetime
    assert Appointment.objects.count() == 0
