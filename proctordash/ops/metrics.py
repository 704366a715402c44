"""`GET /metrics` in Prometheus' text format, for a token (METRICS_TOKEN, `Authorization: Bearer …`) or an
allow-listed address (METRICS_ALLOW_FROM, addresses or networks; the client address honours DJANGO_PROXY_COUNT).
Neither configured: 404, the endpoint does not exist.

What it exposes (docs/deploy.md has the scrape config and alert rules):
- requests: `proctordash_http_request_duration_seconds{view,method}` (histogram) and
  `proctordash_http_responses_total{view,method,status}` — this process's, or every gunicorn worker's with
  PROMETHEUS_MULTIPROC_DIR (proctordash/core/metrics.py);
- upstream calls, from every process that made them (Redis counters written by integrations/recording.py):
  `proctordash_upstream_calls_total{upstream,endpoint,outcome=ok|error|rate_limited}`,
  `proctordash_upstream_call_duration_seconds{upstream,endpoint}` (histogram), `proctordash_upstream_retries_total`;
- sync (read from the database at scrape time): `proctordash_data_age_seconds{upstream}` (since the last
  successful pass; absent before the first), `proctordash_sync_last_success_timestamp_seconds{upstream}`,
  `proctordash_sync_consecutive_failures{upstream}`, `proctordash_sync_failing{upstream}` (1 when the last error is
  newer than the last success), `proctordash_sync_last_run_duration_seconds{kind,outcome}`,
  `proctordash_sync_last_run_records{kind,change=seen|created|updated|removed}`,
  `proctordash_sync_runs_recent{kind,outcome}` (runs started in the last hour), `proctordash_sync_running{kind}`;
- Celery: `proctordash_celery_queue_length{queue}` (messages waiting in the broker's list);
- `proctordash_metrics_scrape_errors{source}`: 1 when a source could not be read for this scrape (the others still
  answer: a Redis or database outage must not hide the rest).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder

from proctordash.core.clientip import client_ip
from proctordash.core.redisprobe import redis_probe_client
from proctordash.integrations import recording

log = logging.getLogger(__name__)

QUEUES = ("celery",)  # the queues the workers consume (Celery's default)


# --- access ---------------------------------------------------------------------------------------------------------
def allowed_networks() -> list:
    networks = []
    for item in settings.METRICS_ALLOW_FROM:
        networks.append(ipaddress.ip_network(item, strict=False))
    return networks


def check_access(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the answer to give."""
    token = settings.METRICS_TOKEN
    networks = allowed_networks()
    if not token and not networks:
        raise Http404("metrics are not enabled")
    if token:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return None
    if networks:
        try:
            address = ipaddress.ip_address(client_ip(request))
        except ValueError:
            address = None
        if address is not None and any(address in network for network in networks):
            return None
    response = HttpResponse("metrics need a token or an allowed address\n", status=401 if token else 403,
                            content_type="text/plain; charset=utf-8")
    if token:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


# --- collectors read at scrape time ---------------------------------------------------------------------------------
class _Source:
    def __init__(self, errors: dict):
        self.errors = errors


class UpstreamCallCollector(_Source):
    def collect(self):
        calls = CounterMetricFamily("proctordash_upstream_calls", "Upstream calls per endpoint and outcome.",
                                    labels=["upstream", "endpoint", "outcome"])
        retries = CounterMetricFamily("proctordash_upstream_retries", "Quick retries made inside upstream calls.",
                                      labels=["upstream", "endpoint"])
        durations = HistogramMetricFamily("proctordash_upstream_call_duration_seconds",
                                          "Duration of upstream calls, retries included.",
                                          labels=["upstream", "endpoint"])
        try:
            raw = redis_probe_client().hgetall(recording.metrics_key())
        except Exception as e:  # noqa: BLE001 - Redis down: say so, serve the rest
            log.warning("metrics: upstream call counters unavailable (%s)", type(e).__name__)
            self.errors["upstream_calls"] = 1
            return
        self.errors["upstream_calls"] = 0
        series: dict[tuple[str, str], dict[str, float]] = {}
        for field, value in raw.items():
            try:
                upstream, endpoint, name = field.decode().split("|", 2)
                series.setdefault((upstream, endpoint), {})[name] = float(value)
            except ValueError:
                continue
        for (upstream, endpoint), values in sorted(series.items()):
            total = 0.0
            for outcome in ("ok", "error", "rate_limited"):
                count = values.get(f"calls:{outcome}", 0.0)
                total += count
                calls.add_metric([upstream, endpoint, outcome], count)
            retries.add_metric([upstream, endpoint], values.get("retries", 0.0))
            buckets = [(f"{bound:g}", values.get(f"le:{bound:g}", 0.0)) for bound in recording.DURATION_BUCKETS]
            buckets.append(("+Inf", total))
            durations.add_metric([upstream, endpoint], buckets, sum_value=values.get("seconds", 0.0))
        yield from (calls, retries, durations)


class SyncCollector(_Source):
    def collect(self):
        from proctordash.sync.models import SyncRun, UpstreamState

        try:
            families = list(self._families(SyncRun, UpstreamState))
        except Exception as e:  # noqa: BLE001 - database down: say so, serve the rest
            log.warning("metrics: sync state unavailable (%s)", type(e).__name__)
            self.errors["database"] = 1
            return
        self.errors["database"] = 0
        yield from families

    @staticmethod
    def _families(SyncRun, UpstreamState):
        now = timezone.now()
        age = GaugeMetricFamily("proctordash_data_age_seconds",
                                "Seconds since the start of the last successful pass of the upstream's data.",
                                labels=["upstream"])
        last_success = GaugeMetricFamily("proctordash_sync_last_success_timestamp_seconds",
                                         "Start of the last successful pass (Unix time).", labels=["upstream"])
        failures = GaugeMetricFamily("proctordash_sync_consecutive_failures", "Failed passes since the last success.",
                                     labels=["upstream"])
        failing = GaugeMetricFamily("proctordash_sync_failing",
                                    "1 when the upstream's last pass failed (error newer than the last success).",
                                    labels=["upstream"])
        rate_limited = GaugeMetricFamily("proctordash_sync_rate_limited_seconds",
                                         "Seconds until the upstream's rate-limit pause ends (0: none).",
                                         labels=["upstream"])
        for state in UpstreamState.objects.all():
            if state.last_success_at:
                age.add_metric([state.upstream], (now - state.last_success_at).total_seconds())
                last_success.add_metric([state.upstream], state.last_success_at.timestamp())
            failures.add_metric([state.upstream], state.consecutive_failures)
            is_failing = bool(state.last_error_at and (not state.last_success_at
                                                       or state.last_error_at > state.last_success_at))
            failing.add_metric([state.upstream], 1 if is_failing else 0)
            pause = (state.rate_limited_until - now).total_seconds() if state.rate_limited_until else 0
            rate_limited.add_metric([state.upstream], max(0.0, pause))
        yield from (age, last_success, failures, failing, rate_limited)

        duration = GaugeMetricFamily("proctordash_sync_last_run_duration_seconds",
                                     "Duration of the last finished run of each kind.", labels=["kind", "outcome"])
        records = GaugeMetricFamily("proctordash_sync_last_run_records",
                                    "Rows of the last finished run of each kind.", labels=["kind", "change"])
        finished = (SyncRun.objects.exclude(finished_at=None).values("kind")
                    .annotate(last=Max("finished_at")).values_list("kind", "last"))
        for kind, last in finished:
            run = SyncRun.objects.filter(kind=kind, finished_at=last).order_by("-pk").first()
            if run is None:
                continue
            duration.add_metric([kind, run.outcome], (run.finished_at - run.started_at).total_seconds())
            for change in ("seen", "created", "updated", "removed"):
                records.add_metric([kind, change], getattr(run, f"records_{change}"))
        yield from (duration, records)

        recent = GaugeMetricFamily("proctordash_sync_runs_recent", "Runs started in the last hour, by outcome.",
                                   labels=["kind", "outcome"])
        running = GaugeMetricFamily("proctordash_sync_running", "Runs queued or running now.", labels=["kind"])
        rows = (SyncRun.objects.filter(started_at__gte=now - timedelta(hours=1))
                .values_list("kind", "outcome").annotate(n=Count("pk")))
        active: dict[str, int] = {}
        for kind, outcome, n in rows:
            recent.add_metric([kind, outcome], n)
            if outcome in ("queued", "running"):
                active[kind] = active.get(kind, 0) + n
        for kind in SyncRun.Kind.values:
            running.add_metric([kind], active.get(kind, 0))
        yield from (recent, running)


class CeleryQueueCollector(_Source):
    def collect(self):
        queue = GaugeMetricFamily("proctordash_celery_queue_length", "Messages waiting in the broker's queue.",
                                  labels=["queue"])
        try:
            client = redis_probe_client()
            for name in QUEUES:
                queue.add_metric([name], client.llen(name))
        except Exception as e:  # noqa: BLE001
            log.warning("metrics: Celery queue length unavailable (%s)", type(e).__name__)
            self.errors["celery_queue"] = 1
            return
        self.errors["celery_queue"] = 0
        yield queue


class ScrapeErrorsCollector:
    """Registered last: by then the collectors above have said which sources they could not read."""

    def __init__(self, errors: dict):
        self.errors = errors

    def collect(self):
        family = GaugeMetricFamily("proctordash_metrics_scrape_errors", "1 when a source could not be read.",
                                   labels=["source"])
        for source, value in sorted(self.errors.items()):
            family.add_metric([source], value)
        yield family


def registry() -> CollectorRegistry:
    """This scrape's registry: the request metrics (of every worker, in multiprocess mode) plus the collectors
    that read the shared state."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = REGISTRY
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Wrapped(base))
    errors: dict[str, int] = {}
    for collector in (UpstreamCallCollector(errors), SyncCollector(errors), CeleryQueueCollector(errors),
                      ScrapeErrorsCollector(errors)):
        scrape.register(collector)
    return scrape


class _Wrapped:
    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


@login_not_required
@require_GET
def metrics(request: HttpRequest):
    denied = check_access(request)
    if denied is not None:
        return denied
    # the format the scraper asks for (Prometheus 2 and 3, OpenMetrics), as prometheus-client negotiates it
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(registry()), content_type=content_type)
