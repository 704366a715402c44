"""Request-wide middleware of the project: the request id, one log line per request (and its metrics), and the
answers htmx gets when a session ended or a role changed mid-page."""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse

from proctordash.core import logs
from proctordash.core.clientip import client_ip

log = logging.getLogger("proctordash.request")

# Probes and scrapes arrive every few seconds: their lines are DEBUG, everything else INFO (5xx: ERROR).
QUIET_PATHS = ("/healthz", "/metrics", "/static/", "/favicon.ico")


def view_label(request: HttpRequest) -> str:
    """The URL pattern's name ("appointments:list") — bounded, unlike paths with SIDs in them."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or getattr(match, "_func_path", "") or "<unnamed>"


class RequestMiddleware:
    """First in the chain: gives the request its id (the proxy's X-Request-ID or a new one), answers with it in
    `X-Request-ID`, times the request and writes one log line (method, path without the query string, status, view,
    duration, client address, user id) — query strings can hold learners' names, so they are never logged."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = logs.incoming_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        token = logs.request_id_var.set(request_id)
        request.request_id = request_id
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            response["X-Request-ID"] = request_id
            self._log(request, response.status_code, duration)
            return response
        finally:
            logs.request_id_var.reset(token)

    @staticmethod
    def _log(request: HttpRequest, status: int, duration: float) -> None:
        path = request.path
        level = logging.DEBUG if path.startswith(QUIET_PATHS) else logging.INFO
        if status >= 500:
            level = logging.ERROR
        if not log.isEnabledFor(level):
            return
        user = getattr(request, "_cached_user", None)  # only if the request loaded it: never a query just for a log
        log.log(
            level,
            "%s %s %s %.1fms",
            request.method, path, status, duration * 1000,
            extra={
                "method": request.method,
                "path": path,
                "status": status,
                "view": view_label(request),
                "duration_ms": round(duration * 1000, 1),
                "client_ip": client_ip(request),
                "user_id": getattr(user, "pk", None),
            },
        )

