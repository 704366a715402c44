"""The health page (figures from recorded calls, completeness, workers, refresh with progress) and /healthz."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from proctordash.core import embedded_redis
from proctordash.integrations import recording
from proctordash.monitoring import health
from proctordash.sync.models import SyncRun
from tests.monitoring.factories import SyncRunFactory, UpstreamStateFactory
from tests.monitoring.staff_language import technical_leaks

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def record(upstream, *, ms, status=200, error=None, retries=0, ago=60):
    recording.record_call(recording.CallRecord(upstream=upstream, endpoint="GET /api/v3/exams/{id}/student_sessions",
                                               status=status, error=error, duration_ms=ms, retries=retries,
                                               at=timezone.now() - timedelta(seconds=ago)))


@pytest.fixture
def calls():
    recording.clear("proctorexam")
    recording.clear("smarterproctoring")
    record("proctorexam", ms=10)
    record("proctorexam", ms=30)
    record("proctorexam", ms=20, retries=2)
    record("proctorexam", ms=500, status=429, error="UpstreamRateLimited")
    record("proctorexam", ms=40, status=503, error="UpstreamUnavailable", retries=3)
    record("proctorexam", ms=9999, ago=2 * 3600)  # older than an hour: not counted
    yield
    recording.clear("proctorexam")


def test_call_figures_come_from_the_recorded_calls(calls):
    figures = health.call_figures("proctorexam", since=timezone.now() - timedelta(hours=1))
    assert (figures.calls, figures.errors, figures.retries, figures.rate_limited) == (5, 2, 5, 1)
    assert figures.median_ms == 30.0
    assert health.call_figures("smarterproctoring", since=timezone.now() - timedelta(hours=1)).calls == 0


def test_health_page_shows_each_upstream(client_for, support, calls):
    now = timezone.now()
    UpstreamStateFactory(upstream="proctorexam", last_success_at=now - timedelta(minutes=2),
                         last_error_at=now - timedelta(minutes=1),
                         last_error="ProctorExam sessions: UpstreamUnavailable: proctorexam GET /api/v3/exams (HTTP 503): "
                                    "HTTP 503",
                         consecutive_failures=3, rate_limited_until=now + timedelta(minutes=5))
    UpstreamStateFactory(upstream="smarterproctoring", last_success_at=now - timedelta(minutes=3))
    SyncRunFactory(kind=SyncRun.Kind.PROCTOREXAM, records_seen=690, records_expected=700)
    SyncRunFactory(kind=SyncRun.Kind.APPOINTMENTS_FULL, upstream="smarterproctoring", records_seen=600,
                   records_expected=600, error_summary="")
    SyncRunFactory(kind=SyncRun.Kind.APPOINTMENTS_INCREMENTAL, upstream="smarterproctoring",
                   outcome=SyncRun.Outcome.FAILED,
                   error_summary="UpstreamAuthError: smarterproctoring GET /v1/installs/{installSid}/reports/appointments "
                                 "(HTTP 403): the API token lacks a permission")
    response = client_for(support).get(reverse("monitoring:health"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "5 calls, 2 errors, 5 retries, 1 rate-limited" in html
    assert "30.0 ms" in html
    assert "690 of 700 records (98.6 %)" in html
    assert "600 of 600 records (100.0 %)" in html
    assert "ProctorExam had a fault on its side (it answered with error 503)" in html
    assert "3 refreshes in a row failed" in html and "the last refresh failed" in html
    assert "the upstream is rate-limiting us" in html and "until" in html
    assert "SmarterProctoring refused the dashboard&#x27;s credentials" in html  # a run's error, in words
    assert technical_leaks(html) == []
    assert "Queue length" in html and "reachable" in html


@pytest.mark.slow
def test_health_page_says_when_a_worker_answers(client_for, coordinator):
    from tests.sync.conftest import Worker

    client = health.redis_probe_client()
    client.delete(health.PING_CACHE_KEY, health.WORKERS_KEY, health.BEAT_TICK_KEY)
    html = client_for(coordinator).get(reverse("monitoring:health")).content.decode()
    assert "none seen" in html and "not seen" in html  # no worker, no beat tick yet
    worker = Worker(concurrency=1).start()
    try:
        client.delete(health.PING_CACHE_KEY)
        health.beat_tick_record()
        html = client_for(coordinator).get(reverse("monitoring:health")).content.decode()
    finally:
        worker.stop()
    assert '<span class="badge ok">alive</span> <code>synctest-' in html
    assert "not seen" not in html  # beat's tick was recorded
    client.delete(health.PING_CACHE_KEY, health.WORKERS_KEY, health.BEAT_TICK_KEY)


def test_support_triggers_a_refresh_and_watches_its_progress(client_for, support):
    client = client_for(support)
    response = client.post(reverse("monitoring:health_refresh"), {"kind": "proctorexam"}, **HTMX)
    assert response.status_code == 200
    run = SyncRun.objects.get(kind=SyncRun.Kind.PROCTOREXAM)
    assert run.outcome == SyncRun.Outcome.QUEUED
    html = response.content.decode()
    progress_url = reverse("monitoring:health_run", args=[run.pk])
    assert f'hx-get="{progress_url}" hx-trigger="every 1s"' in html and "waiting for a worker" in html
    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.RUNNING, pages=2, pages_total=8)
    html = client.get(progress_url, **HTMX).content.decode()
    assert 'value="25"' in html and "Pages 2 of 8" in html and 'hx-trigger="every 1s"' in html
    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.SUCCESS, pages=8, finished_at=timezone.now())
    html = client.get(progress_url, **HTMX).content.decode()
    assert 'value="100"' in html and "hx-trigger" not in html  # finished: the bar stops polling
    # a second request while one is queued joins it instead of queueing another
    SyncRun.objects.filter(pk=run.pk).update(outcome=SyncRun.Outcome.QUEUED)
    client.post(reverse("monitoring:health_refresh"), {"kind": "proctorexam"}, **HTMX)
    assert SyncRun.objects.filter(kind=SyncRun.Kind.PROCTOREXAM).count() == 1


def test_refresh_with_an_unknown_kind_says_so(client_for, coordinator):
    response = client_for(coordinator).post(reverse("monitoring:health_refresh"), {"kind": "everything"}, **HTMX)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not SyncRun.objects.exists()


def test_plain_html_refresh_redirects_to_the_page_with_the_run(client_for, coordinator):
    response = client_for(coordinator).post(reverse("monitoring:health_refresh"), {"kind": "appointments_incremental"})
    run = SyncRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{reverse('monitoring:health')}?run={run.pk}"
    html = client_for(coordinator).get(response["Location"]).content.decode()
    assert "Appointments (incremental)" in html and "waiting for a worker" in html


def test_every_stored_error_reaches_the_page_in_words(client_for, support):
    """The summaries the engine stores for each way a refresh ends badly (engine.error_summary, the sweep, a run that
    found its kind already running, a time limit, an error of our own): the health page says each in words — in the
    runs' rows and in a run's progress box — never an API path or an exception class."""
    now = timezone.now()
    cases = [
        ("UpstreamUnavailable: proctorexam GET /api/v3/exams/{id}/student_sessions: connection refused",
         "ProctorExam could not be reached"),
        ("UpstreamNotFound: proctorexam GET /api/v3/exams/7 (HTTP 404): not found",
         "ProctorExam does not know a record the dashboard asked for"),
        ("UpstreamValidationError: proctorexam POST /api/v3/exams (HTTP 400): name: required",
         "ProctorExam refused the dashboard&#x27;s request"),
        ("SyncPaused: ProctorExam asked us to slow down (HTTP 429); paused for 300 s",
         "ProctorExam asked the dashboard to slow down"),
        ("SyncLockLost: the run's lock expired or was taken by another run; stopped before writing more",
         "The ProctorExam refresh stopped early because another refresh took over its turn"),
        ("Stopped: the refresh ran past its time limit of 30 min; the pages it wrote are kept, the next run goes on.",
         "The ProctorExam refresh ran past its time limit of 30 min and was stopped"),
        ("Not run: run #12 of this kind was already running.", "Another ProctorExam refresh was already running"),
        ("No worker picked this request up (is the Celery worker running?).",
         "No background worker picked up the ProctorExam refresh"),
        ("OperationalError: database is locked", "The ProctorExam refresh failed (the details are in the log)"),
        ("<b>KeyError</b>: 'sid'", "The ProctorExam refresh failed (the details are in the log)"),
    ]
    client = client_for(support)
    for i, (summary, sentence) in enumerate(cases):
        run = SyncRunFactory(outcome=SyncRun.Outcome.FAILED, error_summary=summary,
                             started_at=now - timedelta(minutes=i + 1))
        progress = client.get(reverse("monitoring:health_run", args=[run.pk]), **HTMX).content.decode()
        assert sentence in progress and technical_leaks(progress) == [], (summary, progress)
    html = client.get(reverse("monitoring:health")).content.decode()
    for _summary, sentence in cases:
        assert sentence in html
    assert technical_leaks(html) == [] and "<b>" not in html


def test_an_abandoned_run_says_its_last_sign_of_life_in_the_dashboards_zone(client_for, support, settings):
    """The sweep marks a run whose worker died as abandoned and writes when it was last seen (in UTC, for the log);
    the page says that time in the dashboard's zone, like every other time on it."""
    from proctordash.sync import engine

    assert settings.DASHBOARD_TIME_ZONE == "America/Chicago"
    seen = timezone.now().replace(microsecond=0) - timedelta(hours=3)
    run = SyncRunFactory(kind=SyncRun.Kind.APPOINTMENTS_FULL, upstream="smarterproctoring", started_at=seen,
                         heartbeat_at=seen, finished_at=None, outcome=SyncRun.Outcome.RUNNING)
    assert engine.abandoned_runs_sweep()["abandoned"] == 1
    run.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.ABANDONED and f"{seen:%H:%M:%S} UTC" in run.error_summary
    local = seen.astimezone(ZoneInfo("America/Chicago"))
    client = client_for(support)
    for html in (client.get(reverse("monitoring:health")).content.decode(),
                 client.get(reverse("monitoring:health_run", args=[run.pk]), **HTMX).content.decode()):
        assert (f"The SmarterProctoring refresh stopped before it finished (the background worker went away; last "
                f"sign of life {local:%d %b %H:%M:%S} {local.tzname()})") in html
        assert " UTC" not in html and technical_leaks(html) == []
    # in the runs' table, the abandoned run's outcome and time
    row = re.search(r"(?s)<tbody>.*?</tr>", client.get(reverse("monitoring:health")).content.decode()).group(0)
    assert "Abandoned" in row and f"{local:%d %b %H:%M:%S} {local.tzname()}" in row


def test_counts_on_the_health_page_have_thousands_separators(client_for, support):
    SyncRunFactory(kind=SyncRun.Kind.APPOINTMENTS_FULL, upstream="smarterproctoring", pages=1200, pages_total=1200,
                   records_seen=20000, records_expected=21500, records_created=12345, records_updated=1001,
                   records_removed=0, records_skipped=1500,
                   skipped_first_error="AP" + "1" * 32 + ": malformed Appointment: enrollment.createdDate, startDate")
    html = client_for(support).get(reverse("monitoring:health")).content.decode()
    assert "20,000 of 21,500 records (93.0 %)" in html  # completeness
    assert "1,200 / 1,200" in html and "20,000 / 21,500" in html and "12,345 / 1,001 / 0" in html
    assert "1,500 skipped" in html and "Skipped 1,500 malformed records" in html
    assert f"appointment AP{'1' * 32} (unreadable fields: enrollment.createdDate, startDate)" in html


# --- /healthz ------------------------------------------------------------------------------------------------------
def test_healthz_up(client):
    UpstreamStateFactory(upstream="proctorexam", last_success_at=timezone.now() - timedelta(seconds=90))
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": {"ok": True}, "redis": {"ok": True}}
    assert 89 <= body["data"]["proctorexam"]["age_seconds"] <= 120
    assert body["data"]["smarterproctoring"] == {"state": "never", "age_seconds": None}
    assert response["Cache-Control"].startswith("max-age=0")


def test_healthz_down_when_redis_stops(client, tmp_path, settings):
    server, socket_path = embedded_redis.start(tmp_path / "redis")
    caches = {"default": {**settings.CACHES["default"], "LOCATION": f"unix://{socket_path}"}}
    with override_settings(CACHES=caches):
        assert client.get("/healthz").status_code == 200  # the separate instance answers
        embedded_redis.stop(server, tmp_path / "redis")
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == {"ok": False, "error": "Redis unreachable: connection refused"}
    assert body["checks"]["database"] == {"ok": True}
    assert body["reasons"] == ["Redis unreachable: connection refused"]
    assert str(socket_path) not in response.content.decode()


def test_healthz_carries_no_secrets_or_personal_data(client, settings):
    UpstreamStateFactory(upstream="proctorexam", last_error="token=abc learner@example.edu", consecutive_failures=1,
                         last_error_at=timezone.now())
    text = client.get("/healthz").content.decode()
    for secret in (settings.SECRET_KEY, settings.PROCTOREXAM_TOKEN, settings.PROCTOREXAM_SECRET_KEY,
                   settings.SMARTERPROCTORING_TOKEN, "learner@example.edu", "token=abc"):
        assert secret not in text


def test_a_run_number_in_other_digits_is_ignored_not_a_500(client_for, support):
    """'²' and '٣' pass str.isdigit(); only the first also fails int(). Either way: no run shown, no error."""
    for run in ("²", "٣", "99999999999999999999999"):
        assert client_for(support).get(reverse("monitoring:health"), {"run": run}).status_code == 200


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The sync engine's Redis (locks, the request queue) is unreachable: nothing listens on port 1 of loopback."""
    from proctordash.sync import engine as sync

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    monkeypatch.setattr(sync, "_redis", None)  # the engine's per-process client is re-created on the dead URL


def test_plain_html_refresh_while_redis_is_down_redirects_to_the_page_with_a_message(client_for, support, redis_down):
    """Without JavaScript, the refresh form posts as a plain page: a refresh that cannot be queued lands on the whole
    health page with the reason (never the bare panel fragment, never a 500), the chosen kind kept."""
    client = client_for(support)
    response = client.post(reverse("monitoring:health_refresh"), {"kind": "appointments_full"})
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('monitoring:health')}?kind=appointments_full"
    assert not SyncRun.objects.exists()  # nothing half-queued
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200 and "<html" in html
    assert "The refresh could not be queued (Redis unreachable: connection refused)" in html
    assert '<option value="appointments_full" selected>' in html  # the user's choice is kept
    assert "ConnectionError" not in html and "127.0.0.1:1" not in html


def test_htmx_refresh_while_redis_is_down_answers_in_the_panel(client_for, support, redis_down):
    response = client_for(support).post(reverse("monitoring:health_refresh"), {"kind": "proctorexam"}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="refresh"') and "<html" not in html
    assert 'role="alert"' in html and "Redis unreachable: connection refused" in html
    assert '<option value="proctorexam" selected>' in html
