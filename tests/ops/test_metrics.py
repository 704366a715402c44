"""/metrics: Prometheus' text format, only with the token or from an allowed address, with request latency per
view, upstream calls per endpoint (from the recording every process writes), sync state read from the database and
the Celery queue length."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-" + "0123456789abcdef" * 2


def scrape(client=None, **headers) -> dict:
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW_FROM = []
    return settings


def test_not_configured_means_no_endpoint(settings, client):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_FROM = []
    assert client.get("/metrics").status_code == 404


def test_token_is_required(metrics_on, client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
    assert client.get("/metrics").has_header("WWW-Authenticate")


def test_allow_list_uses_the_real_client_address(settings, client):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_FROM = ["10.1.0.0/16", "192.0.2.10"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.10").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    # without a proxy, a forged X-Forwarded-For changes nothing
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.2.3").status_code == 403
    settings.PROXY_COUNT = 1  # behind one proxy, the proxy's own address is not what is checked
    assert client.get("/metrics", REMOTE_ADDR="10.1.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9, 10.1.9.9").status_code == 200


def test_request_latency_per_view(metrics_on, client):
    before = value(scrape(), "proctordash_http_request_duration_seconds_count", view="login", method="GET") or 0
    client.get("/login/")
    client.get("/login/")
    samples = scrape()
    assert value(samples, "proctordash_http_request_duration_seconds_count", view="login", method="GET") == before + 2
    assert value(samples, "proctordash_http_responses_total", view="login", method="GET", status="2xx") >= 2
    assert value(samples, "proctordash_http_request_duration_seconds_bucket", view="login", method="GET", le="+Inf") >= 2


def test_upstream_calls_per_endpoint_with_errors_and_429s(metrics_on, sandbox):
    from proctordash.integrations.exceptions import UpstreamRateLimited, UpstreamUnavailable
    from proctordash.integrations.smarterproctoring import SmarterProctoringClient

    endpoint = "GET /v1/installs/{installSid}/reports/appointments"

    def calls(outcome):
        return value(scrape(), "proctordash_upstream_calls_total", upstream="smarterproctoring", endpoint=endpoint,
                     outcome=outcome) or 0

    ok, errors, limited = calls("ok"), calls("error"), calls("rate_limited")
    with SmarterProctoringClient.from_settings(retries=0) as client:
        list(client.list_appointments(page_size=1000))
        sandbox.set_faults(appointments={"error_rate": 1})
        try:
            with pytest.raises(UpstreamUnavailable):
                list(client.list_appointments(page_size=5))
            sandbox.set_faults(appointments={"rate_limit": 1, "retry_after": 120})
            with pytest.raises(UpstreamRateLimited):
                list(client.list_appointments(page_size=5))
        finally:
            sandbox.set_faults()
    assert calls("ok") == ok + 1 and calls("error") == errors + 1 and calls("rate_limited") == limited + 1
    samples = scrape()
    count = value(samples, "proctordash_upstream_call_duration_seconds_count", upstream="smarterproctoring",
                  endpoint=endpoint)
    assert count == ok + errors + limited + 3
    assert value(samples, "proctordash_upstream_call_duration_seconds_sum", upstream="smarterproctoring",
                 endpoint=endpoint) > 0


def test_sync_state_and_data_age(metrics_on):
    from proctordash.sync.models import SyncRun, UpstreamState

    now = timezone.now()
    UpstreamState.objects.update_or_create(upstream="smarterproctoring", defaults={
        "last_success_at": now - timedelta(minutes=20), "last_error_at": now - timedelta(minutes=5),
        "consecutive_failures": 3})
    UpstreamState.objects.update_or_create(upstream="proctorexam", defaults={
        "last_success_at": now - timedelta(seconds=40), "consecutive_failures": 0})
    SyncRun.objects.create(kind="appointments_full", upstream="smarterproctoring", started_at=now - timedelta(minutes=21),
                           finished_at=now - timedelta(minutes=20), outcome="success", records_seen=600,
                           records_created=12, records_updated=3, records_removed=1)
    SyncRun.objects.create(kind="appointments_full", upstream="smarterproctoring", started_at=now - timedelta(minutes=6),
                           finished_at=now - timedelta(minutes=5), outcome="failed")
    SyncRun.objects.create(kind="proctorexam", upstream="proctorexam", started_at=now, outcome="running")
    samples = scrape()
    age = value(samples, "proctordash_data_age_seconds", upstream="smarterproctoring")
    assert 1195 <= age <= 1260
    assert value(samples, "proctordash_sync_failing", upstream="smarterproctoring") == 1
    assert value(samples, "proctordash_sync_failing", upstream="proctorexam") == 0
    assert value(samples, "proctordash_sync_consecutive_failures", upstream="smarterproctoring") == 3
    assert value(samples, "proctordash_sync_last_run_duration_seconds", kind="appointments_full", outcome="failed") == 60
    assert value(samples, "proctordash_sync_runs_recent", kind="appointments_full", outcome="success") == 1
    assert value(samples, "proctordash_sync_running", kind="proctorexam") == 1
    assert value(samples, "proctordash_metrics_scrape_errors", source="database") == 0


def test_celery_queue_length(metrics_on):
    from proctordash.core.redisprobe import redis_probe_client

    client = redis_probe_client()
    client.delete("celery")
    client.rpush("celery", "a", "b", "c")
    try:
        assert value(scrape(), "proctordash_celery_queue_length", queue="celery") == 3
    finally:
        client.delete("celery")


def test_redis_down_still_answers_and_says_what_is_missing(metrics_on, settings):
    caches = {**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": "redis://127.0.0.1:9/0"}}
    settings.CACHES = caches
    samples = scrape()
    assert value(samples, "proctordash_metrics_scrape_errors", source="celery_queue") == 1
    assert value(samples, "proctordash_metrics_scrape_errors", source="upstream_calls") == 1
    assert value(samples, "proctordash_metrics_scrape_errors", source="database") == 0


def test_the_documented_alert_rules_use_metrics_that_exist(metrics_on, sandbox):
    """docs/prometheus/alerts.yml may only name metrics /metrics really exposes (after some traffic)."""
    import re
    from pathlib import Path

    from proctordash.integrations.smarterproctoring import SmarterProctoringClient
    from proctordash.sync.models import UpstreamState

    UpstreamState.objects.update_or_create(upstream="smarterproctoring",
                                           defaults={"last_success_at": timezone.now(), "consecutive_failures": 0})
    with SmarterProctoringClient.from_settings() as client:
        next(iter(client.list_appointments(page_size=5)))
    Client().get("/login/")
    exposed = {name for name, _labels in scrape()}
    rules = (Path(__file__).resolve().parents[2] / "docs" / "prometheus" / "alerts.yml").read_text()
    named = set(re.findall(r"\b(proctordash_[a-z_]+)\b", rules))
    assert named and named <= exposed, named - exposed
