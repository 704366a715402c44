"""Outage e-mails: one when an upstream has failed (or its data been stale) for UPSTREAM_ALERT_AFTER, one on
recovery, none in between however often the check runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from proctordash.monitoring.alert_tasks import check_alerts_task
from proctordash.monitoring.alerts import alerts_check
from proctordash.sync.models import SyncRun, UpstreamState
from tests.monitoring.factories import SyncRunFactory, UpstreamStateFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert_settings(settings):
    settings.UPSTREAM_ALERT_AFTER = 1800
    settings.DATA_STALE_AFTER = 900
    settings.SUPPORT_EMAIL = "help@example.edu"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


def fail(state: UpstreamState, at):
    SyncRunFactory(upstream=state.upstream, started_at=at, finished_at=at, outcome=SyncRun.Outcome.FAILED,
                   error_summary="UpstreamUnavailable: 503")
    UpstreamState.objects.filter(pk=state.pk).update(last_error_at=at, last_error="UpstreamUnavailable: 503",
                                                     consecutive_failures=state.consecutive_failures + 1)
    state.refresh_from_db()


def test_failing_upstream_alerts_once_and_recovers_once(alert_settings):
    t0 = timezone.now()
    state = UpstreamStateFactory(upstream="proctorexam", last_success_at=t0)
    fail(state, t0 + timedelta(minutes=1))
    assert alerts_check(now=t0 + timedelta(minutes=10)) == []  # failing, but not for long enough yet
    fail(state, t0 + timedelta(minutes=20))
    assert alerts_check(now=t0 + timedelta(minutes=32)) == ["outage:proctorexam"]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["help@example.edu"] and "ProctorExam" in message.subject
    assert "failing (2 in a row)" in message.body
    first_paragraph, _, rest = message.body.partition("\n\n")
    # staff words first; the stored technical text only as the administrator's detail at the end
    assert "ProctorExam could not be reached" in first_paragraph and "Upstream" not in first_paragraph
    assert "Technical detail for the administrator: UpstreamUnavailable: 503" in rest
    for minutes in (33, 40, 90):  # the check keeps running; the outage goes on
        fail(state, t0 + timedelta(minutes=minutes))
        assert alerts_check(now=t0 + timedelta(minutes=minutes, seconds=30)) == []
    assert len(mail.outbox) == 1
    # recovery
    UpstreamState.objects.filter(pk=state.pk).update(last_success_at=t0 + timedelta(minutes=95), consecutive_failures=0)
    assert alerts_check(now=t0 + timedelta(minutes=96)) == ["recovery:proctorexam"]
    assert alerts_check(now=t0 + timedelta(minutes=97)) == []
    assert len(mail.outbox) == 2 and "recovered" in mail.outbox[1].subject
    assert UpstreamState.objects.get(pk=state.pk).alert_open_since is None


def test_stale_data_alerts_after_the_threshold(alert_settings):
    t0 = timezone.now()
    UpstreamStateFactory(upstream="smarterproctoring", last_success_at=t0)
    # stale from t0+15 min; alert due 30 min after that
    assert alerts_check(now=t0 + timedelta(minutes=40)) == []
    assert alerts_check(now=t0 + timedelta(minutes=46)) == ["outage:smarterproctoring"]
    assert "no successful refresh since" in mail.outbox[0].body
    assert alerts_check(now=t0 + timedelta(minutes=60)) == []
    assert len(mail.outbox) == 1


def test_the_beat_task_runs_the_check(alert_settings):
    t0 = timezone.now()
    UpstreamStateFactory(upstream="proctorexam", last_success_at=t0 - timedelta(hours=2))
    assert check_alerts_task.apply().get() == ["outage:proctorexam"]
    assert check_alerts_task.apply().get() == []
    assert len(mail.outbox) == 1


def test_a_failed_send_is_retried_next_time(alert_settings):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on: a real SMTP connection that is refused
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    t0 = timezone.now()
    UpstreamStateFactory(upstream="proctorexam", last_success_at=t0 - timedelta(hours=2))
    alert_settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    alert_settings.EMAIL_HOST, alert_settings.EMAIL_PORT, alert_settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    assert alerts_check() == []
    assert UpstreamState.objects.get(upstream="proctorexam").alert_open_since is None  # not believed sent
    alert_settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert alerts_check() == ["outage:proctorexam"]
    assert len(mail.outbox) == 1
