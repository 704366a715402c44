"""Pieces both clients share: the session lifecycle, a secret holder that never prints, lazy paging,
network-error mapping, JSON decoding and the argument checker that names the parameter."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, Self, TypeVar

import orjson
import requests

from ..core.timezones import to_utc_z
from .exceptions import UpstreamBadResponse, UpstreamError, UpstreamUnavailable, UpstreamValidationError

T = TypeVar("T")


class SessionClient:
    """What both clients share: their one pooled `requests.Session` (`self._session`, set by the client's
    __init__), closed by close() or by leaving a `with` block."""

    _session: requests.Session

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Secret:
    """A token or key: `reveal()` gives the value; repr/str never do (tracebacks, debug pages, log lines)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value or ""

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')" if self._value else "Secret('')"

    __str__ = __repr__

    def __reduce__(self):  # never pickled into a Celery message or a cache entry by accident
        raise TypeError("a Secret cannot be pickled")


@dataclass
class Page(Generic[T]):
    """One page of a list: the envelope's counts and the parsed records."""

    total: int | None
    offset: int
    count: int
    results: list[T]
    page: int | None = None  # ProctorExam pages are numbered
    page_count: int | None = None
    # Records left out because they were malformed (only with skip_bad_records=True): (their key, or None when
    # they have none, and the UpstreamBadResponse message naming the bad fields). The sync reports them.
    skipped: list[tuple[Any, str]] = field(default_factory=list)


class RecordIterator(Iterator[T]):
    """A lazy iterator over the records of consecutive pages: one page in memory at a time.

    `.total` is the total of the first page's envelope (None before the first page arrives, or when the upstream
    did not say); `.pages_fetched` counts pages so far.
    """

    def __init__(self, pages: Iterator[Page[T]]):
        self._pages = pages
        self._current: Iterator[T] = iter(())
        self.total: int | None = None
        self.pages_fetched = 0
        self.skipped: list[tuple[Any, str]] = []  # every page's Page.skipped (skip_bad_records=True)

    def __iter__(self) -> RecordIterator[T]:
        return self

    def __next__(self) -> T:
        while True:
            try:
                return next(self._current)
            except StopIteration:
                pass
            page = next(self._pages)  # StopIteration here ends the iteration
            self.pages_fetched += 1
            if self.pages_fetched == 1:
                self.total = page.total
            self.skipped.extend(page.skipped)
            self._current = iter(page.results)

    def __repr__(self) -> str:
        return f"<RecordIterator total={self.total} pages_fetched={self.pages_fetched}>"


def parse_records(record: Any, items: list[Any], *, upstream: str, endpoint: str, key: str,
                  skip_bad: bool) -> tuple[list[Any], list[tuple[Any, str]]]:
    """Parse a page's records. Strict (skip_bad=False): the first malformed record raises UpstreamBadResponse for the
    page. Lenient: malformed records are left out and returned as (their `key` value when they have a usable one,
    else None; the message), so one bad record does not sink the page."""
    if not skip_bad:
        return [record.parse(item, upstream=upstream, endpoint=endpoint) for item in items], []
    results, skipped = [], []
    for item in items:
        try:
            results.append(record.parse(item, upstream=upstream, endpoint=endpoint))
        except UpstreamBadResponse as e:
            ident = item.get(key) if isinstance(item, dict) else None
            ident = ident if isinstance(ident, (str, int)) and not isinstance(ident, bool) and ident != "" else None
            skipped.append((ident, e.message))  # the fields named, without the upstream's path
    return results, skipped


def unparsable_body_retry(retry: Any, method: str, url: str, error: UpstreamBadResponse) -> Any:
    """The next state of `retry` (a urllib3 Retry) after an answer whose body could not be read (invalid JSON, a
    body cut short): such an answer is retried like a 5xx, for idempotent methods only, with the same backoff.
    Returns None when out of tries (the caller raises `error`)."""
    from urllib3.exceptions import MaxRetryError, ProtocolError

    try:
        return retry.increment(method, url, error=ProtocolError(str(error)))
    except MaxRetryError:
        return None


def network_error(error: requests.RequestException, *, upstream: str, endpoint: str) -> UpstreamError:
    """The exception for a failure below HTTP (no usable answer). Never includes the URL: it may hold a query
    string with personal data (learner names) or a signature."""
    common = {"upstream": upstream, "endpoint": endpoint}
    if isinstance(error, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return UpstreamBadResponse("the response body was cut short or could not be decoded", **common)
    if isinstance(error, requests.Timeout) or _caused_by_timeout(error):
        return UpstreamUnavailable("timed out", **common)
    if isinstance(error, requests.ConnectionError):
        return UpstreamUnavailable("could not connect", **common)
    return UpstreamUnavailable(f"request failed ({type(error).__name__})", **common)


def _caused_by_timeout(error: BaseException) -> bool:
    from urllib3.exceptions import NewConnectionError, TimeoutError as Urllib3Timeout

    reason = getattr(error.args[0], "reason", None) if error.args else None
    # urllib3 files "connection refused" (NewConnectionError) under ConnectTimeoutError; it is not a timeout.
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


def decode_json(response: requests.Response, *, upstream: str, endpoint: str) -> Any:
    """The body's JSON. orjson first (UTF-8, as RFC 8259 and both upstreams have it; ≈ 3× faster than the standard
    library on a 2 MB page of appointments, see docs/benchmarks.md); requests' own decoding (which also reads UTF-16
    and UTF-32) for anything orjson refuses. NaN and Infinity, which JSON does not have but the standard library
    would read, become null, and NUL characters are dropped: PostgreSQL's jsonb refuses both."""
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        try:
            data = response.json(parse_constant=_not_a_number)
        except ValueError as e:
            raise UpstreamBadResponse("the response is not valid JSON", upstream=upstream, endpoint=endpoint,
                                      status=response.status_code) from e
    if b"\\u0000" in response.content:  # rare; a bytes search costs ~1 ms on a 2 MB page
        data = _without_nul(data)
    return data


def _without_nul(value: Any) -> Any:
    """A NUL inside an upstream string is never meaningful, and PostgreSQL's text and jsonb refuse it: dropped at
    the door, so no cache row, history entry or job record can fail on one."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def _not_a_number(constant: str) -> None:
    return None


def json_default(value: Any) -> Any:
    """Request bodies may carry aware datetimes: they go out as the upstreams write dates (UTC, Z)."""
    if isinstance(value, datetime):
        return to_utc_z(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dump_json(body: Any) -> bytes:
    return json.dumps(body, default=json_default, separators=(",", ":")).encode()


@dataclass
class ArgumentChecker:
    """Collects argument errors keyed by the upstream's parameter name, then raises them all at once."""

    upstream: str
    endpoint: str
    errors: dict[str, str] = field(default_factory=dict)

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, message)

    def choice(self, key: str, value: Any, choices: Iterable[str]) -> Any:
        choices = list(choices)
        if value is not None and value not in choices:
            self.fail(key, f"must be one of: {', '.join(choices)}")
        return value

    def pattern(self, key: str, value: Any, check: Callable[[str], bool], description: str) -> Any:
        if value is not None and (not isinstance(value, str) or not check(value)):
            self.fail(key, f"must be {description}")
        return value

    def raise_if_any(self) -> None:
        if self.errors:
            summary = "; ".join(f"{key} {message}" for key, message in self.errors.items())
            raise UpstreamValidationError(f"invalid arguments: {summary}", upstream=self.upstream,
                                          endpoint=self.endpoint, field_errors=self.errors)
