"""Middleware of the monitoring app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse


class HealthzMiddleware:
    """Answers /healthz ahead of the session, authentication and login-required middleware.

    Those read the session and the user from the database, so while the database is down a probe that carries a
    session cookie (an operator's browser, a load balancer replaying cookies) got the 500 page instead of the 503
    JSON that names what is down. /healthz needs neither: it is public and reads no personal data. Placed right
    after SecurityMiddleware (which keeps its HTTPS redirect exemption); the URL stays routed for reverse() and for
    the URL-protection walk."""

    PATH = "/healthz"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == self.PATH:
            from proctordash.monitoring.views import healthz

            return healthz(request)
        return self.get_response(request)
