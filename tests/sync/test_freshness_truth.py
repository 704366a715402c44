"""Freshness that does not lie (issue 16 item 7): a refresh that hangs shows on the health page as a run in flight
"running for …" and, past its time limit, as failed or overdue — never "Healthy" with data "as of just now"; the
health page shows per upstream the last completed run and any run in flight. With the sandbox's hang fault and a
real Celery worker."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from proctordash.sync import engine
from proctordash.sync.models import SyncRun, UpstreamState
from proctordash.sync.passes import appointments_refresh, proctorexam_refresh, refresh_request
from tests.monitoring.staff_language import technical_leaks

from .conftest import Worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

LIMIT = 8  # seconds a ProctorExam refresh may take in these tests (worker and page agree)


def card(html: str, upstream: str) -> str:
    """The health page's card of one upstream (the fragment under test)."""
    match = re.search(rf'(?s)<section class="card upstream[^"]*" aria-labelledby="up-{upstream}">.*?</section>', html)
    assert match, f"no card for {upstream}"
    return match.group(0)


def badge(section: str) -> str:
    return re.search(r'<h2[^>]*>.*?<span class="badge[^"]*">([^<]+)</span>', section, re.S).group(1)


def freshness_line(html: str, label: str) -> str:
    for match in re.finditer(r'(?s)<div class="freshness[^"]*"[^>]*>.*?</div>', html):
        if label in match.group(0):
            return re.sub(r"\s+", " ", match.group(0))
    raise AssertionError(f"no freshness line for {label}")


def test_a_hanging_refresh_shows_in_flight_then_fails_at_its_time_limit(sandbox, sync_settings, client_for,
                                                                        coordinator, settings):
    settings.SYNC_PROCTOREXAM_TIME_LIMIT = LIMIT
    client = client_for(coordinator)
    assert proctorexam_refresh().outcome == SyncRun.Outcome.SUCCESS
    pe = card(client.get("/health/").content.decode(), "proctorexam")
    assert badge(pe) == "Healthy" and "nothing" in re.search(r"(?s)data-in-flight>(.*?)</dd>", pe).group(1)
    assert "Succeeded" in pe or "succeeded" in pe

    worker = Worker(env={"SYNC_PROCTOREXAM_TIME_LIMIT": str(LIMIT)}).start()
    try:
        sandbox.set_faults(pe_exams={"hang": 1, "hang_seconds": 120})
        run = refresh_request(kind="proctorexam")
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.RUNNING, what="the run to start")
        html = client.get("/health/").content.decode()
        in_flight = re.search(r"(?s)data-in-flight>(.*?)</dd>", card(html, "proctorexam")).group(1)
        assert "ProctorExam sessions" in in_flight and "running for" in in_flight
        assert UpstreamState.objects.get(upstream="proctorexam").running_run_id == run.pk

        # past its time limit the page never says Healthy: the worker has stopped the run (failed, "time limit"),
        # or, if it has not managed to yet, the run shows as past its time limit
        started = SyncRun.objects.get(pk=run.pk).started_at
        time.sleep(max(0.0, (started + timedelta(seconds=LIMIT + 1) - timezone.now()).total_seconds()))
        pe = card(client.get("/health/").content.decode(), "proctorexam")
        assert badge(pe) != "Healthy"
        assert "past its time limit of 8 s" in pe or ("the last refresh failed" in pe and "time limit" in pe), pe

        def ended():
            return SyncRun.objects.get(pk=run.pk).outcome not in (SyncRun.Outcome.RUNNING, SyncRun.Outcome.QUEUED)

        wait_for(ended, timeout=60, interval=0.5, what="the hung run to stop")
        stopped = SyncRun.objects.get(pk=run.pk)
        assert stopped.outcome == SyncRun.Outcome.FAILED
        # normally the soft time limit stops it; the client's own timeouts (3 s × 4 tries here) are the backstop
        assert stopped.error_summary.startswith(("Stopped: the refresh ran past its time limit of 8 s",
                                                 "UpstreamUnavailable")), stopped.error_summary
        html = client.get("/health/").content.decode()
        assert technical_leaks(html) == []  # the run's row and the last error in words, no class names or paths
        pe = card(html, "proctorexam")
        assert badge(pe) != "Healthy" and "the last refresh failed" in pe
        assert "nothing" in re.search(r"(?s)data-in-flight>(.*?)</dd>", pe).group(1)
        assert "failed" in re.search(r"(?s)data-last-completed>(.*?)</dd>", pe).group(1)
        line = freshness_line(html, "ProctorExam")
        # the banner says which of the two stopped it, in words (the stored summary carries the run kind first)
        said = ("The ProctorExam refresh ran past its time limit of 8 s and was stopped"
                if stopped.error_summary.startswith("Stopped") else "ProctorExam did not answer in")
        assert said in line and 'role="alert"' in line, line
        assert UpstreamState.objects.get(upstream="proctorexam").running_since is None
    finally:
        worker.stop()
        sandbox.set_faults()
        sandbox.reset()  # wakes the hanging requests


def test_a_refresh_stuck_past_its_time_limit_is_shown_as_overdue(sandbox, sync_settings, client_for, coordinator,
                                                                 settings):
    """A run whose worker still holds its lock but has been running past its time limit (a hard hang the soft
    limit cannot break): the data may be "fresh" by age, but the page never says Healthy."""
    settings.SYNC_APPOINTMENTS_TIME_LIMIT = 600
    assert appointments_refresh().outcome == SyncRun.Outcome.SUCCESS
    started = timezone.now() - timedelta(minutes=12)
    run = SyncRun.objects.create(kind="appointments_full", upstream="smarterproctoring", started_at=started,
                                 heartbeat_at=started, outcome=SyncRun.Outcome.RUNNING, pages=3, pages_total=12)
    UpstreamState.objects.filter(upstream="smarterproctoring").update(running_since=started, running_run_id=run.pk)
    keeper = engine.LockKeeper("appointments", f"{run.pk}:token", 30)
    assert keeper.acquire()
    try:
        assert engine.abandoned_runs_sweep()["abandoned"] == 0  # its lock is held: alive, only overdue
        html = client_for(coordinator).get("/health/").content.decode()
    finally:
        keeper.release()
    sp = card(html, "smarterproctoring")
    assert badge(sp) == "Attention"
    assert "running for 12 min, past its time limit of 10 min" in sp
    in_flight = re.sub(r"\s+", " ", re.search(r"(?s)data-in-flight>(.*?)</dd>", sp).group(1))
    assert "running for 12 min" in in_flight and "past its time limit of 10 min" in in_flight and "page 3 of 12" in in_flight
    line = freshness_line(html, "SmarterProctoring")
    assert "data-refresh-overdue" in line and "past its time limit of 10 min" in line and 'role="alert"' in line
    # once the sweep finds the run without its lock, it is abandoned and the page forgets it
    assert engine.abandoned_runs_sweep()["abandoned"] == 1
    assert SyncRun.objects.get(pk=run.pk).outcome == SyncRun.Outcome.ABANDONED
    html = client_for(coordinator).get("/health/").content.decode()
    sp = card(html, "smarterproctoring")
    assert "past its time limit" not in sp
    assert "abandoned" in re.search(r"(?s)data-last-completed>(.*?)</dd>", sp).group(1)
