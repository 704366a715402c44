"""ProctorExam's error answers mapped onto the shared hierarchy, in one place.

The only documented error is 403 {"error": "You are not authorized to access this page."} (wrong token, bad
signature, reused nonce, stale timestamp); 400 {"error": "...", "param": "status"} names an invalid parameter.
"""

from __future__ import annotations

from collections.abc import Iterable

import requests

from ...core.http import retry_after_seconds
from ..exceptions import (
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamUnavailable,
    UpstreamValidationError,
    redact,
)

UPSTREAM = "proctorexam"
DEFAULT_RETRY_AFTER = 60.0

STATUS_MESSAGES = {
    400: "the request was refused as invalid",
    401: "the API token was refused (check PROCTOREXAM_TOKEN)",
    403: "not authorized: wrong token or secret key, or a refused signature, nonce or timestamp (check the clock)",
    404: "not found",
    429: "rate limited",
}


def error_from_response(response: requests.Response, *, endpoint: str, secrets: Iterable[str]) -> UpstreamError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    upstream_message = body.get("error") if isinstance(body.get("error"), str) else ""
    message = redact(upstream_message or STATUS_MESSAGES.get(status, f"HTTP {status}"), secrets)
    common = {"upstream": UPSTREAM, "endpoint": endpoint, "status": status}
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return UpstreamRateLimited(message, retry_after=DEFAULT_RETRY_AFTER if wait is None else wait, **common)
    if status in (401, 403):
        return UpstreamAuthError(STATUS_MESSAGES[status], **common)
    if status == 404:
        return UpstreamNotFound(message, **common)
    if status >= 500:
        return UpstreamUnavailable(message, **common)
    if 400 <= status < 500:
        param = body.get("param")
        errors = {str(param): message} if isinstance(param, str) and param else {}
        return UpstreamValidationError(message, field_errors=errors, **common)
    return UpstreamBadResponse(f"unexpected HTTP {status}", **common)
