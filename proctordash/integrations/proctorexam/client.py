"""The ProctorExam v3 client: the only code that knows its URLs, headers, signing and JSON.

Reference: shared/upstream-api/proctorexam-list-student-sessions.txt and the README beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import requests
from django.conf import settings
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

from ...core import vocabulary as v
from ...core.http import build_retry, count_retries, upstream_session
from ..base import (
    ArgumentChecker,
    Page,
    RecordIterator,
    Secret,
    SessionClient,
    decode_json,
    network_error,
    parse_records,
    unparsable_body_retry,
)
from ..exceptions import UpstreamBadResponse, UpstreamError, UpstreamUnavailable
from ..recording import CallTimer
from .exceptions import UPSTREAM, error_from_response
from .schemas import ProctorExamExam, Record, StudentSession
from .signing import NonceSource, NonceUnavailable, signed_params

EXAMS = "/api/v3/exams"
STUDENT_SESSIONS = "/api/v3/exams/{id}/student_sessions"
ACCEPT = "application/vnd.procwise.v3"


class ProctorExamClient(SessionClient):
    """One client per process (or task run) with one pooled `requests.Session`.

    Every request is signed afresh, including every retry: a retry of the same URL would reuse its nonce, which the
    upstream refuses. So urllib3 inside the session does not retry at all here; this client's loop drives the same
    urllib3 `Retry` policy (backoff with jitter, Retry-After, idempotent GETs only) and re-signs each try.
    """

    upstream = UPSTREAM

    def __init__(self, *, base_url: str, token: str, secret_key: str, timeout: tuple[float, float] | None = None,
                 retries: int | None = None, nonce_source: Callable[[], int] | None = None):
        if not base_url:
            raise ValueError("ProctorExam base URL is not configured")
        # Accept the base URL with or without the /api/v3 base path.
        self.base_url = base_url.rstrip("/").removesuffix("/api/v3")
        self._token = Secret(token)
        self._secret_key = Secret(secret_key)
        self._nonce = nonce_source or NonceSource()
        self._retry = build_retry(retries)
        self._session = upstream_session(
            timeout=timeout,
            retry=Retry(total=0, redirect=0, raise_on_status=False, raise_on_redirect=False),
            headers={"Accept": ACCEPT, "Authorization": f"Token token={self._token.reveal()}"},
        )

    @classmethod
    def from_settings(cls, **overrides: Any) -> ProctorExamClient:
        """A client configured from PROCTOREXAM_BASE_URL / _TOKEN / _SECRET_KEY (overrides win)."""
        options = {
            "base_url": settings.PROCTOREXAM_BASE_URL,
            "token": settings.PROCTOREXAM_TOKEN,
            "secret_key": settings.PROCTOREXAM_SECRET_KEY,
        }
        options.update(overrides)
        return cls(**options)

    def __repr__(self) -> str:
        return f"ProctorExamClient(base_url={self.base_url!r})"

    __str__ = __repr__

    # --- calls -----------------------------------------------------------------------------------------------------
    def list_exams(self, *, status: str | None = None, page_size: int = v.PROCTOREXAM_MAX_LIMIT,
                   skip_bad_records: bool = False) -> RecordIterator[ProctorExamExam]:
        """List the account's exams (README: `GET /api/v3/exams`, filter `status`: draft, open, closed), lazily.
        `.total` comes from X-Pagination-Item-Count. `skip_bad_records`: malformed records are left out and listed
        in the iterator's `.skipped` instead of failing the page."""
        check = ArgumentChecker(UPSTREAM, f"GET {EXAMS}")
        check.choice("status", status, v.PROCTOREXAM_EXAM_STATUSES)
        _limit(check, page_size)
        check.raise_if_any()
        params = {"status": status} if status else {}
        return RecordIterator(self._pages(EXAMS, {}, params, "exams", ProctorExamExam, page_size, skip_bad_records))

    def list_student_sessions(self, *, exam_id: int, status: str | None = None,
                              page_size: int = v.PROCTOREXAM_MAX_LIMIT,
                              skip_bad_records: bool = False) -> RecordIterator[StudentSession]:
        """List an exam's student sessions with their incidents (proctorexam-list-student-sessions.txt), lazily.
        `.total` comes from X-Pagination-Item-Count."""
        check = ArgumentChecker(UPSTREAM, f"GET {STUDENT_SESSIONS}")
        if isinstance(exam_id, bool) or not isinstance(exam_id, int) or exam_id < 1:
            check.fail("id", "exam_id must be a positive integer")
        check.choice("status", status, v.PROCTOREXAM_SESSION_STATUSES)
        _limit(check, page_size)
        check.raise_if_any()
        params = {"status": status} if status else {}
        return RecordIterator(self._pages(STUDENT_SESSIONS, {"id": str(exam_id)}, params, "students",
                                          StudentSession, page_size, skip_bad_records))

    # --- plumbing --------------------------------------------------------------------------------------------------
    def _get(self, template: str, path: dict[str, str], params: dict[str, Any],
             parse: Callable[[Any, requests.Response], Any] | None = None) -> Any:
        """One signed GET with retries (each try re-signed), recorded; returns `parse(decoded JSON, response)`
        (parsed inside the recorded call, so a malformed record counts as a failed call)."""
        endpoint = f"GET {template}"
        url = self.base_url + template.format(**path)
        timer = CallTimer(UPSTREAM, endpoint)
        status: int | None = None
        failure: type[BaseException] | None = None
        retry = self._retry.new()
        with count_retries() as retries:
            try:
                while True:
                    try:
                        nonce = self._nonce()
                    except NonceUnavailable as e:
                        raise UpstreamUnavailable("no nonce could be drawn (Redis unavailable)", upstream=UPSTREAM,
                                                  endpoint=endpoint) from e
                    signed = signed_params(params, secret_key=self._secret_key, nonce=nonce)
                    try:
                        response = self._session.get(url, params=signed, allow_redirects=False)
                    except requests.RequestException as e:
                        error = network_error(e, upstream=UPSTREAM, endpoint=endpoint)
                        if isinstance(error, UpstreamBadResponse):  # a body cut short: retried like a 5xx
                            next_retry = unparsable_body_retry(retry, "GET", endpoint, error)
                            if next_retry is None:
                                raise error from e
                            retry = next_retry
                            retry.sleep()
                            continue
                        if not isinstance(error, UpstreamUnavailable):
                            raise error from e
                        try:
                            retry = retry.increment("GET", endpoint, error=_urllib3_error(e))
                        except MaxRetryError:
                            raise error from e
                        retry.sleep()
                        continue
                    status = response.status_code
                    if retry.is_retry("GET", status, "Retry-After" in response.headers):
                        try:
                            retry = retry.increment("GET", endpoint, response=response.raw)
                        except MaxRetryError:
                            pass  # out of tries (or Retry-After too long): map the answer below
                        else:
                            retry.sleep(response.raw)
                            continue
                    if not 200 <= status < 300:
                        raise error_from_response(response, endpoint=endpoint,
                                                  secrets=[self._token.reveal(), self._secret_key.reveal()])
                    try:
                        data = decode_json(response, upstream=UPSTREAM, endpoint=endpoint)
                    except UpstreamBadResponse as e:  # invalid JSON: retried like a 5xx
                        next_retry = unparsable_body_retry(retry, "GET", endpoint, e)
                        if next_retry is None:
                            raise
                        retry = next_retry
                        retry.sleep()
                        continue
                    return parse(data, response) if parse is not None else data
            except UpstreamError as e:
                failure = type(e)
                raise
            finally:
                timer.finish(status=status, error=failure, retries=retries[0])

    def _pages(self, template: str, path: dict[str, str], params: dict[str, Any], key: str, record: type[Record],
               limit: int, skip_bad_records: bool = False) -> Iterator[Page]:
        """Pages 1, 2, … until X-Pagination-Page-Count (or a short page when the headers are missing)."""
        endpoint = f"GET {template}"

        def parse(data: Any, response: requests.Response) -> Page:
            items = data.get(key) if isinstance(data, dict) else data
            if not isinstance(items, list):
                raise UpstreamBadResponse(f"expected a list under {key!r}", upstream=UPSTREAM, endpoint=endpoint,
                                          status=response.status_code)
            results, skipped = parse_records(record, items, upstream=UPSTREAM, endpoint=endpoint, key="id",
                                             skip_bad=skip_bad_records)
            return Page(total=_header_int(response, "X-Pagination-Item-Count"), offset=(page - 1) * limit,
                        count=len(results) + len(skipped), results=results, page=page,
                        page_count=_header_int(response, "X-Pagination-Page-Count"), skipped=skipped)

        page = 1
        while True:
            current = self._get(template, path, {**params, "page": page, "limit": limit}, parse=parse)
            yield current
            more = page < current.page_count if current.page_count is not None else current.count == limit
            if not more or not current.count:
                return
            page += 1
            del current


def _header_int(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _limit(check: ArgumentChecker, limit: Any) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= v.PROCTOREXAM_MAX_LIMIT:
        check.fail("limit", f"page_size must be between 1 and {v.PROCTOREXAM_MAX_LIMIT}")


def _urllib3_error(error: requests.RequestException) -> Exception:
    """The urllib3 error under a requests exception, so the Retry policy counts it as connect or read error."""
    cause = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        return cause.reason
    if isinstance(cause, Urllib3Error):
        return cause
    return ProtocolError(type(error).__name__)
