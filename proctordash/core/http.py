"""The one factory for outbound HTTP sessions.

Nothing else in the project builds a `requests.Session`: every session made here has a default (connect, read)
timeout on every request (a timeout must be structural, not remembered) and urllib3's `Retry` for quick transient
faults (connection errors, timeouts, 429, 5xx) on idempotent methods only, with exponential backoff plus jitter and
honouring `Retry-After`. Longer outages are Celery's job (task retries with backoff), not this layer's.

A web request must not wait on an upstream past a short budget, retries included: `with upstream_budget():` (or
`@upstream_budget()` on a view) gives every call inside it one shared total deadline (UPSTREAM_REQUEST_BUDGET
seconds). Each attempt's connect and read timeouts are cut to what is left, a retry whose backoff would not leave
time for another attempt is not made (the last answer or error goes back), and a call started with nothing left
fails at once with `BudgetExhausted` (a `requests.ConnectTimeout`: it never left, so a POST is known not to have
been sent). Clients map all of these to `UpstreamUnavailable` like any timeout.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import logging
import re
import time
from collections.abc import Iterator

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry
from urllib3.util.timeout import Timeout

from proctordash.core.logs import current_request_id

# Methods that may be sent twice without changing the outcome (PUT is a full replacement here). POST never is.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Sleeps between tries: 0 s, then factor·2^(n-1) (0.5 s, 1 s, 2 s …) plus up to `jitter` s, never more than `max`.
BACKOFF_FACTOR = 0.25
BACKOFF_JITTER = 0.25
BACKOFF_MAX = 8.0
# A Retry-After longer than this is not waited out inside a call (a web request or a task would sit idle): the 429
# goes back to the caller as UpstreamRateLimited(retry_after=...) and Celery (or the user) comes back later.
MAX_IN_CALL_RETRY_AFTER = 5.0
POOL_MAXSIZE = 10


class _NoQueryStrings(logging.Filter):
    """urllib3 logs request URLs (debug lines, "Retrying ..." warnings); their query strings can hold personal data
    (learner names and e-mails used as filters), so they are cut from those records."""

    _query = re.compile(r"\?[^\s'\")]*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "?" in message:
            record.msg, record.args = self._query.sub("?…", message), ()
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_NoQueryStrings())

# The total deadline (time.monotonic()) of the upstream calls in this thread/context; see upstream_budget().
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("upstream_deadline", default=None)
MIN_ATTEMPT_SECONDS = 0.1  # an attempt with less time than this left is not started


class BudgetExhausted(requests.exceptions.ConnectTimeout):
    """The request budget ran out before this call was sent (so it certainly did not reach the upstream)."""


def budget_remaining() -> float | None:
    """Seconds left of the active upstream_budget(), or None outside one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


class upstream_budget(contextlib.ContextDecorator):  # noqa: N801 - used like contextlib.contextmanager functions
    """One total deadline for every upstream call inside the block (or the decorated view): `seconds` (default
    settings.UPSTREAM_REQUEST_BUDGET), retries and backoff included. Nested budgets keep the tighter deadline."""

    def __init__(self, seconds: float | None = None):
        self.seconds = seconds

    def _recreate_cm(self):
        return type(self)(self.seconds)  # a decorated view may run in several threads at once: one instance each

    def __enter__(self):
        seconds = float(settings.UPSTREAM_REQUEST_BUDGET if self.seconds is None else self.seconds)
        deadline = time.monotonic() + seconds
        current = _deadline.get()
        if current is not None:
            deadline = min(deadline, current)
        self._token = _deadline.set(deadline)
        return self

    def __exit__(self, *exc_info):
        _deadline.reset(self._token)
        return False


class _DeadlineTimeout(Timeout):
    """A urllib3 Timeout whose every copy (urllib3 takes one per attempt, retries included) is cut to the time left
    of the budget, so no single attempt can outlive it."""

    def __init__(self, *, connect, read, deadline: float):
        super().__init__(connect=connect, read=read)
        self.deadline = deadline

    def clone(self) -> Timeout:
        left = max(self.deadline - time.monotonic(), 0.01)
        connect = left if self._connect in (None, Timeout.DEFAULT_TIMEOUT) else min(float(self._connect), left)
        read = left if self._read in (None, Timeout.DEFAULT_TIMEOUT) else min(float(self._read), left)
        return Timeout(connect=connect, read=read)


# Retries made by the call currently running in this thread/context; see count_retries().
_retry_counter: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("upstream_retry_counter",
                                                                                   default=None)


class UpstreamRetry(Retry):
    """urllib3's Retry with three project rules.

    - A method outside `allowed_methods` (POST) is never retried, not even after a connection error: creating an
      exam twice is worse than failing once, and the caller decides.
    - A `Retry-After` above `max_in_call_retry_after` ends the retries and hands the 429/503 back to the caller.
    - Every retry actually made is counted into the active `count_retries()` context, for the call recording.
    - Inside an `upstream_budget()`, a retry whose wait (backoff or Retry-After) would leave less than
      MIN_ATTEMPT_SECONDS for the next attempt is not made: the last answer or error goes back to the caller.
    """

    def __init__(self, *args, max_in_call_retry_after: float = MAX_IN_CALL_RETRY_AFTER, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_in_call_retry_after = max_in_call_retry_after

    def new(self, **kw):
        kw.setdefault("max_in_call_retry_after", self.max_in_call_retry_after)
        return super().new(**kw)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        if method is not None and not self._is_method_retryable(method):
            reason = error or ResponseError(f"{method} is not retried")
            raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
        if response is not None and self.respect_retry_after_header:
            header = response.headers.get("Retry-After")
            if header is not None:
                wait = retry_after_seconds(header) or 0.0
                if wait > self.max_in_call_retry_after:
                    raise MaxRetryError(_pool, url, ResponseError(f"Retry-After {wait:.0f}s is too long to wait"))
        new_retry = super().increment(method, url, response, error, _pool, _stacktrace)
        left = budget_remaining()
        if left is not None:
            wait = new_retry.get_backoff_time()
            if response is not None and self.respect_retry_after_header:
                wait = max(wait, retry_after_seconds(response.headers.get("Retry-After")) or 0.0)
            if left - wait < MIN_ATTEMPT_SECONDS:
                raise MaxRetryError(_pool, url, error or ResponseError("the request budget is spent"))
        counter = _retry_counter.get()
        if counter is not None:
            counter[0] += 1
        return new_retry


def retry_after_seconds(header: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if header is None:
        return None
    header = header.strip()
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", header):
        return float(header)
    try:
        when = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def build_retry(retries: int | None = None, *, methods=IDEMPOTENT_METHODS) -> UpstreamRetry:
    """The retry policy for one session: `retries` extra tries (default settings.UPSTREAM_RETRIES)."""
    retries = settings.UPSTREAM_RETRIES if retries is None else retries
    return UpstreamRetry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,  # we never follow redirects: a custom `token` header would follow them to any host
        allowed_methods=frozenset(methods),
        status_forcelist=RETRY_STATUSES,
        backoff_factor=BACKOFF_FACTOR,
        backoff_jitter=BACKOFF_JITTER,
        backoff_max=BACKOFF_MAX,
        respect_retry_after_header=True,
        raise_on_status=False,  # hand the last 429/5xx response back so the client can map it (Retry-After etc.)
        raise_on_redirect=False,
    )


class TimeoutHTTPAdapter(HTTPAdapter):
    """An adapter that fills in the default (connect, read) timeout when a request does not give one."""

    def __init__(self, *args, timeout: tuple[float, float], **kwargs):
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request, **kwargs):
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        # The id of the web request or task making this call (proctordash/core/logs.py), so a vendor's support can
        # find the call in their logs from ours. Headers are not part of ProctorExam's signature.
        request_id = current_request_id()
        if request_id and "X-Request-ID" not in request.headers:
            request.headers["X-Request-ID"] = request_id
        deadline = _deadline.get()
        if deadline is not None:
            if deadline - time.monotonic() < MIN_ATTEMPT_SECONDS:
                raise BudgetExhausted("the request budget was spent before this call could be sent", request=request)
            timeout = kwargs["timeout"]
            connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
            kwargs["timeout"] = _DeadlineTimeout(connect=connect, read=read, deadline=deadline)
        return super().send(request, **kwargs)


def default_timeout() -> tuple[float, float]:
    return (float(settings.UPSTREAM_CONNECT_TIMEOUT), float(settings.UPSTREAM_READ_TIMEOUT))


def upstream_session(
    *,
    retry: Retry | None = None,
    retries: int | None = None,
    timeout: tuple[float, float] | None = None,
    pool_maxsize: int = POOL_MAXSIZE,
    headers: dict[str, str] | None = None,
) -> requests.Session:
    """A pooled `requests.Session` with default timeouts and the retry policy mounted for http and https.

    `retry` replaces the policy entirely (the ProctorExam client passes one that retries connection errors only,
    because every other retry must be re-signed with a fresh nonce); `retries` only changes the number of tries.
    """
    session = requests.Session()
    # Environment proxies/netrc would silently send credentials elsewhere; upstream URLs come from settings only.
    session.trust_env = False
    adapter = TimeoutHTTPAdapter(
        timeout=timeout or default_timeout(),
        max_retries=retry if retry is not None else build_retry(retries),
        pool_connections=2,
        pool_maxsize=pool_maxsize,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers.update({"User-Agent": "ProctorDash/0.1", "Accept": "application/json"})
    if headers:
        session.headers.update(headers)
    return session


@contextlib.contextmanager
def count_retries() -> Iterator[list[int]]:
    """Count the retries urllib3 makes inside the block: `with count_retries() as n: ...; n[0]`."""
    counter = [0]
    token = _retry_counter.set(counter)
    try:
        yield counter
    finally:
        _retry_counter.reset(token)


def note_retry() -> None:
    """Count a retry made outside urllib3 (the ProctorExam client re-signs and retries itself)."""
    counter = _retry_counter.get()
    if counter is not None:
        counter[0] += 1
