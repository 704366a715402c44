"""The one exception hierarchy every upstream client raises, so callers can act on the kind of failure.

    UpstreamError                 .upstream ("smarterproctoring"|"proctorexam"), .endpoint ("GET /v1/..."), .status
    ├── UpstreamUnavailable       network error, timeout, 5xx: try again later, serve the last good data
    ├── UpstreamRateLimited       429: .retry_after seconds (float)
    ├── UpstreamAuthError         401/403: the credentials (or the ProctorExam signature/nonce/clock) are wrong
    ├── UpstreamValidationError   400 (or our own check before sending): .field_errors {upstream key: message}
    ├── UpstreamNotFound          404
    └── UpstreamBadResponse       the upstream answered, but with malformed JSON, a cut body or the wrong shape

Messages never contain a token, a secret or a query string (which may hold personal data); the clients pass their
secrets to `redact()` before building a message from anything the upstream sent.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_MESSAGE_LENGTH = 300


class UpstreamError(Exception):
    """Base class: something went wrong talking to an upstream."""

    kind = "error"

    def __init__(self, message: str, *, upstream: str, endpoint: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.upstream = upstream
        self.endpoint = endpoint
        self.status = status

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.upstream} {self.endpoint}{status}: {self.message}"

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, upstream={self.upstream!r}, endpoint={self.endpoint!r}, "
                f"status={self.status!r})")

    # Exceptions cross process boundaries (Celery results): keep the keyword arguments when pickled.
    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls, message, state):
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class UpstreamUnavailable(UpstreamError):
    """The upstream could not be reached, timed out, or answered 5xx (after the retries)."""

    kind = "unavailable"


class UpstreamRateLimited(UpstreamError):
    """The upstream answered 429; `retry_after` is how many seconds it asked us to wait."""

    kind = "rate_limited"

    def __init__(self, message: str, *, upstream: str, endpoint: str, status: int | None = 429,
                 retry_after: float = 60.0):
        super().__init__(message, upstream=upstream, endpoint=endpoint, status=status)
        self.retry_after = float(retry_after)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", retry_after={self.retry_after!r})"


class UpstreamAuthError(UpstreamError):
    """401/403: wrong or missing credentials (ProctorExam also: bad signature, reused nonce, stale timestamp)."""

    kind = "auth"


class UpstreamValidationError(UpstreamError):
    """The request was refused as invalid (by us before sending, status None, or by the upstream with 400).

    `field_errors` maps the upstream's parameter or body key ("courseSid", "duration",
    "instructorAsProctor.0.capacity") to a message; it may be empty when the upstream named no field.
    """

    kind = "validation"

    def __init__(self, message: str, *, upstream: str, endpoint: str, status: int | None = None,
                 field_errors: dict[str, str] | None = None):
        super().__init__(message, upstream=upstream, endpoint=endpoint, status=status)
        self.field_errors: dict[str, str] = dict(field_errors or {})

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", field_errors={self.field_errors!r})"


class UpstreamNotFound(UpstreamError):
    """404: the resource (course, exam, configuration …) does not exist upstream."""

    kind = "not_found"


class UpstreamBadResponse(UpstreamError):
    """The upstream answered but the body is not what the reference page promises (malformed, cut, wrong shape)."""

    kind = "bad_response"


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` shortened, with every secret replaced, so a message built from upstream output is safe to show."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    if len(text) > MAX_MESSAGE_LENGTH:
        text = text[: MAX_MESSAGE_LENGTH - 1] + "…"
    return text
