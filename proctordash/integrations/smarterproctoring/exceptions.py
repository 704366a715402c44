"""SmarterProctoring's error answers mapped onto the shared hierarchy, in one place.

The API answers errors hapi/Joi style:
    400 {"statusCode": 400, "error": "Bad Request", "message": "\\"courseSid\\" must match pattern ...",
         "validation": {"source": "query"|"payload"|"params", "keys": ["courseSid"]}}
    401 missing token, 403 wrong token, 404 unknown resource, 429 rate limited (Retry-After), 5xx.
"""

from __future__ import annotations

from collections.abc import Iterable

import requests

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
from ...core.http import retry_after_seconds

UPSTREAM = "smarterproctoring"
DEFAULT_RETRY_AFTER = 60.0

# What each status means for the person reading the health page.
STATUS_MESSAGES = {
    400: "the request was refused as invalid",
    401: "no API token was accepted (check SMARTERPROCTORING_TOKEN)",
    403: "the API token was refused (check SMARTERPROCTORING_TOKEN and the install SID)",
    404: "not found",
    409: "the request conflicts with the current state",
    422: "the request was refused as invalid",
    429: "rate limited",
}


def _body(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def error_from_response(response: requests.Response, *, endpoint: str, secrets: Iterable[str]) -> UpstreamError:
    """The exception for a non-2xx answer (the caller raises it `from` whatever it caught, if anything)."""
    status = response.status_code
    body = _body(response)
    upstream_message = body.get("message") if isinstance(body.get("message"), str) else ""
    message = redact(upstream_message or STATUS_MESSAGES.get(status, f"HTTP {status}"), secrets)
    common = {"upstream": UPSTREAM, "endpoint": endpoint, "status": status}
    if status == 429:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        return UpstreamRateLimited(message, retry_after=DEFAULT_RETRY_AFTER if wait is None else wait, **common)
    if status in (401, 403):
        return UpstreamAuthError(redact(STATUS_MESSAGES[status], secrets), **common)
    if status == 404:
        return UpstreamNotFound(message, **common)
    if status >= 500:
        return UpstreamUnavailable(message or f"HTTP {status}", **common)
    if 400 <= status < 500:
        return UpstreamValidationError(message, field_errors=field_errors(body, message), **common)
    return UpstreamBadResponse(f"unexpected HTTP {status}", **common)


def field_errors(body: dict, message: str) -> dict[str, str]:
    """{key: message} from a Joi 400: `validation.keys` names the query parameter or (dotted) body key."""
    validation = body.get("validation")
    keys = validation.get("keys") if isinstance(validation, dict) else None
    if not isinstance(keys, list):
        return {}
    return {str(key): message for key in keys if isinstance(key, (str, int))}
