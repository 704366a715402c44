"""Request-wide middleware of the project: the request id, one log line per request (and its metrics), and the
answers htmx gets when a session ended or a role changed mid-page."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import HttpRequest, HttpResponse

from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from proctordash.core import logs
from proctordash.core.clientip import client_ip
from proctordash.core.metrics import observe_request, view_label

log = logging.getLogger("proctordash.request")

# Probes and scrapes arrive every few seconds: their lines are DEBUG, everything else INFO (5xx: ERROR).
QUIET_PATHS = ("/healthz", "/metrics", "/static/", "/favicon.ico")


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
            observe_request(request, response.status_code, duration)
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



# --- htmx across a sign-out or a role change -----------------------------------------------------------------------
# An htmx request answers into a panel of a page. When the session has ended, a login page must not land inside that
# panel, and when the user's role changed, a 403 must not vanish silently (htmx 2 does not swap 4xx answers). Both
# answer with HX-Redirect (htmx follows it before looking at the status) and an HX-Trigger event that page scripts
# may listen to (`proctordash:signed-out`, `proctordash:forbidden`; the monitor's polling stops on them):
# - signed out: 401, HX-Redirect to the login page whose `next` is the *page's* URL (HX-Current-URL), so signing in
#   again returns to the page the user was on, filters and all;
# - forbidden (403, e.g. a role was changed, or a CSRF token went stale after signing in in another tab): a message
#   for the page ("Your access has changed …") and HX-Redirect to the same page, which then shows what the user may
#   still do there — or the 403 page in the layout, if the page itself is now closed to them.
# Plain (non-htmx) requests keep the ordinary behaviour: a 302 to the login page, the 403 page.


def current_page(request: HttpRequest) -> str:
    """The path and query of the page an htmx request was made from (HX-Current-URL, same host only), else the
    request's own path for a GET, else the start page."""
    page = request.headers.get("HX-Current-URL", "")
    if page and url_has_allowed_host_and_scheme(page, allowed_hosts={request.get_host()},
                                                require_https=request.is_secure()):
        parts = urlsplit(page)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    if request.method == "GET":
        return request.get_full_path()
    return reverse("home")


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Django's LoginRequiredMiddleware, except that an htmx request gets HX-Redirect to the login page."""

    def handle_no_permission(self, request, view_func):
        if not getattr(request, "htmx", False):
            return super().handle_no_permission(request, view_func)
        from django.contrib.auth.views import redirect_to_login

        response = HttpResponse("Signed out: sign in again.", status=401, content_type="text/plain; charset=utf-8")
        response["HX-Redirect"] = redirect_to_login(current_page(request), self.get_login_url(view_func),
                                                    self.get_redirect_field_name(view_func)).url
        response["HX-Trigger"] = "proctordash:signed-out"
        return response


FORBIDDEN_MESSAGE = ("Your access has changed: what you just asked for is no longer open to you. The page was "
                     "reloaded to show what you can use now.")
STALE_FORM_MESSAGE = ("This page's security token had expired (for example after signing in again in another tab). "
                      "The page was reloaded; please repeat what you were doing.")


class HtmxForbiddenMiddleware:
    """A 403 answer to an htmx request becomes a message and HX-Redirect to the page (see above). Placed after
    MessageMiddleware, so the message is stored with this response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 403 or not getattr(request, "htmx", False) or response.has_header("HX-Redirect"):
            return response
        from django.contrib import messages

        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            text = STALE_FORM_MESSAGE if getattr(response, "csrf_failure", False) else FORBIDDEN_MESSAGE
            messages.warning(request, text, fail_silently=True)
        answer = HttpResponse("Not allowed.", status=403, content_type="text/plain; charset=utf-8")
        answer["HX-Redirect"] = current_page(request)
        answer["HX-Trigger"] = "proctordash:forbidden"
        return answer
