"""Per-request metrics of this process (prometheus-client): latency per view and answers per status class.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn with several workers, docs/deploy.md) prometheus-client writes each
worker's values to files there and /metrics adds them up; without it (runserver, one process) they live in memory.
The view label is the URL pattern's name ("appointments:list"): bounded, whatever SIDs are in the path.
"""

from __future__ import annotations

from django.http import HttpRequest
from prometheus_client import Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUEST_DURATION = Histogram(
    "proctordash_http_request_duration_seconds",
    "Time from the first middleware to the response, per view (URL pattern name) and method.",
    ["view", "method"],
    buckets=LATENCY_BUCKETS,
)
RESPONSES = Counter(
    "proctordash_http_responses_total",
    "Responses per view, method and status class (2xx, 3xx, 4xx, 5xx).",
    ["view", "method", "status"],
)
def view_label(request: HttpRequest) -> str:
    """The URL pattern's name ("appointments:list") — bounded, unlike paths with SIDs in them."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or getattr(match, "_func_path", "") or "<unnamed>"


METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


def observe_request(request, status: int, duration: float) -> None:
    view = view_label(request)
    method = request.method if request.method in METHODS else "OTHER"
    REQUEST_DURATION.labels(view, method).observe(duration)
    RESPONSES.labels(view, method, f"{status // 100}xx").inc()
