"""The SmarterProctoring v1 client: the only code that knows its URLs, its `token` header and its JSON.

Reference pages: shared/upstream-api/smarterproctoring-*.txt; semantics in docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from pydantic import ValidationError

from ...core import vocabulary as v
from ...core.http import count_retries, upstream_session
from ...core.timezones import to_utc_z
from ..base import (
    ArgumentChecker,
    Page,
    RecordIterator,
    Secret,
    SessionClient,
    decode_json,
    dump_json,
    network_error,
    parse_records,
    unparsable_body_retry,
)
from ..exceptions import UpstreamBadResponse, UpstreamError, UpstreamValidationError
from ..recording import CallTimer
from .exceptions import UPSTREAM, error_from_response
from .schemas import Appointment, CreatedExam, Envelope, ExamConfiguration, ExamSession, Record

APPOINTMENTS = "/v1/installs/{installSid}/reports/appointments"
ENROLLMENT_SESSIONS = "/v1/installs/{installSid}/enrollments/{enrollmentSid}/exams/{examSid}/sessions"
CONFIGURATION = "/v1/installs/{installSid}/courses/{courseSid}/exams/{examSid}/configurations/{examConfigurationSid}"
EXAMS = "/v1/installs/{installSid}/courses/{courseSid}/exams"

MAX_PAGE_SIZE = 1000  # the upstream caps `limit` at 1000


class SmarterProctoringClient(SessionClient):
    """One client per process (or per task run); it holds one pooled `requests.Session`.

    All methods take keyword arguments only, check every argument before sending anything (raising
    UpstreamValidationError keyed by the upstream's parameter name), and raise only UpstreamError subclasses.
    """

    upstream = UPSTREAM

    def __init__(self, *, base_url: str, token: str, install_sid: str, timeout: tuple[float, float] | None = None,
                 retries: int | None = None):
        if not base_url:
            raise ValueError("SmarterProctoring base URL is not configured")
        if not v.is_sid("install", install_sid):
            raise ValueError("SmarterProctoring install SID must be 'AI' followed by 32 lowercase hex digits")
        self.base_url = base_url.rstrip("/")
        self.install_sid = install_sid
        self._token = Secret(token)
        # The token goes in the `token` header only: never in a URL, never in a log line or a message.
        self._session = upstream_session(timeout=timeout, retries=retries,
                                         headers={"token": self._token.reveal()})

    @classmethod
    def from_settings(cls, **overrides: Any) -> SmarterProctoringClient:
        """A client configured from SMARTERPROCTORING_BASE_URL / _TOKEN / _INSTALL_SID (overrides win)."""
        options = {
            "base_url": settings.SMARTERPROCTORING_BASE_URL,
            "token": settings.SMARTERPROCTORING_TOKEN,
            "install_sid": settings.SMARTERPROCTORING_INSTALL_SID,
        }
        options.update(overrides)
        return cls(**options)

    def __repr__(self) -> str:
        return f"SmarterProctoringClient(base_url={self.base_url!r}, install_sid={self.install_sid!r})"

    __str__ = __repr__

    # --- calls -----------------------------------------------------------------------------------------------------
    def list_appointments(self, **filters: Any) -> RecordIterator[Appointment]:
        """List Appointments (smarterproctoring-list-appointments.txt) as a lazy iterator of Appointment records.

        Takes the same keyword arguments as `iter_appointment_pages`. Arguments are checked now; pages are fetched
        as the iterator is consumed. `.total` is known after the first record.
        """
        return RecordIterator(self.iter_appointment_pages(**filters))

    def iter_appointment_pages(
        self,
        *,
        course_sid: str | None = None,
        exam_sid: str | None = None,
        course_offering_sid: str | None = None,
        type: str | None = None,  # noqa: A002 - the upstream's parameter name
        status: str | None = None,
        review_status: str | None = None,
        exam_status: str | None = None,
        appointment_after: datetime | None = None,
        appointment_before: datetime | None = None,
        learner_first_name: str | None = None,
        learner_last_name: str | None = None,
        learner_email: str | None = None,
        learner_sid: str | None = None,
        course_title: str | None = None,
        exam_title: str | None = None,
        page_size: int = 500,
        skip_bad_records: bool = False,
        _start: int = 0,
    ) -> Iterator[Page[Appointment]]:
        """List Appointments (smarterproctoring-list-appointments.txt), one Page at a time (offset/limit).

        Dates must be aware; `appointment_after` is inclusive and `appointment_before` exclusive. Text filters are
        case-insensitive substrings upstream and may not contain '%'; an empty string means "no filter".
        `skip_bad_records`: a malformed record is left out and listed in its Page's `.skipped` (the sync) instead
        of failing the whole page (the default).
        """
        endpoint = f"GET {APPOINTMENTS}"
        check = ArgumentChecker(UPSTREAM, endpoint)
        params: dict[str, Any] = {
            "courseSid": _sid(check, "courseSid", "course", course_sid),
            "examSid": _sid(check, "examSid", "exam", exam_sid),
            "courseOfferingSid": _sid(check, "courseOfferingSid", "course_offering", course_offering_sid),
            "type": check.choice("type", type, v.APPOINTMENT_TYPES),
            "status": check.choice("status", status, v.APPOINTMENT_STATUSES),
            "reviewStatus": check.choice("reviewStatus", review_status, v.REVIEW_STATUSES),
            "examStatus": check.choice("examStatus", exam_status, v.EXAM_STATUSES),
            "appointmentAfter": _utc(check, "appointmentAfter", appointment_after),
            "appointmentBefore": _utc(check, "appointmentBefore", appointment_before),
            "learnerFirstName": _text(check, "learnerFirstName", learner_first_name),
            "learnerLastName": _text(check, "learnerLastName", learner_last_name),
            "learnerEmail": _text(check, "learnerEmail", learner_email),
            "learnerSid": _text(check, "learnerSid", learner_sid),
            "courseTitle": _text(check, "courseTitle", course_title),
            "examTitle": _text(check, "examTitle", exam_title),
        }
        _page_size(check, page_size)
        check.raise_if_any()
        params = {key: value for key, value in params.items() if value is not None}
        return self._pages(APPOINTMENTS, {"installSid": self.install_sid}, params, page_size, Appointment,
                           skip_bad_records=skip_bad_records, start_offset=_start)

    def list_enrollment_exam_sessions(
        self,
        *,
        enrollment_sid: str,
        exam_sid: str,
        status: list[str] | None = None,
        sort_order: str = "ASC",
        include_active: bool = False,
        page_size: int = 100,
        skip_bad_records: bool = False,
    ) -> RecordIterator[ExamSession]:
        """List enrollment exam sessions (smarterproctoring-list-enrollment-exam-sessions.txt), lazily, sorted by
        createdDate. `status` is a list of session statuses (sent as repeated `status` parameters)."""
        endpoint = f"GET {ENROLLMENT_SESSIONS}"
        check = ArgumentChecker(UPSTREAM, endpoint)
        _sid(check, "enrollmentSid", "enrollment", enrollment_sid, required=True)
        _sid(check, "examSid", "exam", exam_sid, required=True)
        if status is not None:
            if isinstance(status, str) or not all(isinstance(s, str) for s in status):
                check.fail("status", "must be a list of statuses")
            else:
                for item in status:
                    check.choice("status", item, v.EXAM_SESSION_STATUSES)
        check.choice("sortOrder", sort_order, v.SORT_ORDERS)
        if not isinstance(include_active, bool):
            check.fail("includeActive", "must be true or false")
        _page_size(check, page_size)
        check.raise_if_any()
        params: dict[str, Any] = {"sortKeys": "createdDate", "sortOrder": sort_order,
                                  "includeActive": "true" if include_active else "false"}
        if status:
            params["status"] = list(status)
        path = {"installSid": self.install_sid, "enrollmentSid": enrollment_sid, "examSid": exam_sid}
        return RecordIterator(self._pages(ENROLLMENT_SESSIONS, path, params, page_size, ExamSession,
                                          skip_bad_records=skip_bad_records))

    def get_configuration(self, *, course_sid: str, exam_sid: str, configuration_sid: str) -> ExamConfiguration:
        """Get Configuration Details (GET on the Update Configuration path; same object as its response)."""
        path = self._configuration_path("GET", course_sid, exam_sid, configuration_sid)
        return self._request("GET", CONFIGURATION, path, parse=lambda data: ExamConfiguration.parse(
            data, upstream=UPSTREAM, endpoint=f"GET {CONFIGURATION}"))

    def update_configuration(self, *, course_sid: str, exam_sid: str, configuration_sid: str,
                             body: dict[str, Any]) -> ExamConfiguration:
        """Update Configuration (smarterproctoring-update-exam-configuration.txt): a PUT that replaces the whole
        configuration, so `body` must be complete (start from get_configuration). Idempotent, hence retried on
        transient faults. Aware datetimes in `body` are sent as UTC with Z."""
        path = self._configuration_path("PUT", course_sid, exam_sid, configuration_sid)
        if not isinstance(body, dict):
            raise UpstreamValidationError("the body must be a JSON object", upstream=UPSTREAM,
                                          endpoint=f"PUT {CONFIGURATION}", field_errors={"body": "must be an object"})
        return self._request("PUT", CONFIGURATION, path, body=body, parse=lambda data: ExamConfiguration.parse(
            data, upstream=UPSTREAM, endpoint=f"PUT {CONFIGURATION}"))

    def create_exam(self, *, course_sid: str, body: dict[str, Any]) -> CreatedExam:
        """Create Exam (smarterproctoring-create-exam.txt). A POST: tried exactly once, never retried here (a
        timeout leaves the outcome unknown; the caller decides how to find out). Raises like the other calls."""
        endpoint = f"POST {EXAMS}"
        check = ArgumentChecker(UPSTREAM, endpoint)
        _sid(check, "courseSid", "course", course_sid, required=True)
        if not isinstance(body, dict):
            check.fail("body", "must be an object")
        check.raise_if_any()
        return self._request("POST", EXAMS, {"installSid": self.install_sid, "courseSid": course_sid}, body=body,
                             parse=lambda data: CreatedExam.parse(data, upstream=UPSTREAM, endpoint=endpoint))

    # --- plumbing --------------------------------------------------------------------------------------------------
    def _configuration_path(self, method: str, course_sid: str, exam_sid: str, configuration_sid: str) -> dict:
        check = ArgumentChecker(UPSTREAM, f"{method} {CONFIGURATION}")
        _sid(check, "courseSid", "course", course_sid, required=True)
        _sid(check, "examSid", "exam", exam_sid, required=True)
        _sid(check, "examConfigurationSid", "exam_configuration", configuration_sid, required=True)
        check.raise_if_any()
        return {"installSid": self.install_sid, "courseSid": course_sid, "examSid": exam_sid,
                "examConfigurationSid": configuration_sid}

    def _request(self, method: str, template: str, path: dict[str, str], *, params: dict | None = None,
                 body: Any = None, parse: Callable[[Any], Any] | None = None) -> Any:
        """Send one call (urllib3 retries inside), record it, and return the decoded JSON of a 2xx answer passed
        through `parse` (inside the recorded call, so a malformed record counts as a failed call)."""
        endpoint = f"{method} {template}"
        url = self.base_url + template.format(**{k: quote(val, safe="") for k, val in path.items()})
        timer = CallTimer(UPSTREAM, endpoint)
        status: int | None = None
        failure: type[BaseException] | None = None
        headers = {"Content-Type": "application/json"} if body is not None else None
        # An answer whose body cannot be read (invalid JSON, cut short) is retried like a 5xx, GETs only, with the
        # session's own policy (backoff and number of tries); urllib3 cannot see a bad body, so it is done here.
        retry = self._session.get_adapter(url).max_retries if method == "GET" else None
        with count_retries() as retries:
            try:
                try:
                    data = dump_json(body) if body is not None else None
                except (TypeError, ValueError) as e:
                    raise UpstreamValidationError("the body cannot be sent as JSON", upstream=UPSTREAM,
                                                  endpoint=endpoint, field_errors={"body": str(e)}) from e
                while True:
                    try:
                        # Redirects are not followed: the custom `token` header would follow them to any host.
                        response = self._session.request(method, url, params=params, data=data, headers=headers,
                                                         allow_redirects=False)
                        status = response.status_code
                        if 200 <= status < 300:
                            decoded = decode_json(response, upstream=UPSTREAM, endpoint=endpoint)
                    except requests.RequestException as e:
                        error = network_error(e, upstream=UPSTREAM, endpoint=endpoint)
                        if not isinstance(error, UpstreamBadResponse) or retry is None:
                            raise error from e
                        bad: UpstreamBadResponse = error
                    except UpstreamBadResponse as e:
                        if retry is None:
                            raise
                        bad = e
                    else:
                        if not 200 <= status < 300:
                            raise error_from_response(response, endpoint=endpoint, secrets=[self._token.reveal()])
                        return parse(decoded) if parse is not None else decoded
                    retry = unparsable_body_retry(retry, method, url, bad)
                    if retry is None:
                        raise bad
                    retry.sleep()
            except UpstreamError as e:
                failure = type(e)
                raise
            finally:
                timer.finish(status=status, error=failure, retries=retries[0])

    def appointments_page(self, *, offset: int, page_size: int = 500, skip_bad_records: bool = False,
                          **filters: Any) -> Page[Appointment]:
        """One page of List Appointments at `offset` (same filters as `iter_appointment_pages`): what the sync's
        concurrent fetchers ask for, offset = k × page_size. `.total` is the envelope's total at that moment."""
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise UpstreamValidationError("offset must be a whole number ≥ 0", upstream=UPSTREAM,
                                          endpoint=f"GET {APPOINTMENTS}", field_errors={"offset": "must be ≥ 0"})
        pages = self.iter_appointment_pages(page_size=page_size, skip_bad_records=skip_bad_records,
                                            _start=offset, **filters)
        return next(pages)

    def _pages(self, template: str, path: dict[str, str], params: dict[str, Any], page_size: int,
               record: type[Record], *, skip_bad_records: bool = False, start_offset: int = 0) -> Iterator[Page]:
        """Fetch pages by offset until the envelope's `next` is null. The `next` URL itself is not followed: the
        token must only ever go to the configured base URL, so the next offset is computed from the envelope.
        With `skip_bad_records`, a malformed record is left out of its page and listed in `Page.skipped` instead
        of failing the page."""
        endpoint = f"GET {template}"

        def parse(data: Any) -> tuple[Envelope, list[Record], list[tuple[Any, str]], bool]:
            try:
                envelope = Envelope.model_validate(data)
            except ValidationError as e:
                where = ", ".join(sorted({".".join(map(str, err["loc"])) or "(envelope)" for err in e.errors()}))
                raise UpstreamBadResponse(f"malformed list envelope: {where}", upstream=UPSTREAM,
                                          endpoint=endpoint) from e
            results, skipped = parse_records(record, envelope.results, upstream=UPSTREAM, endpoint=endpoint,
                                             key="sid", skip_bad=skip_bad_records)
            envelope.results = []  # parsed now; the raw list is not kept twice
            return envelope, results, skipped, "next" in data

        offset = start_offset
        while True:
            envelope, results, skipped, has_next_key = self._request(
                "GET", template, path, params={**params, "offset": offset, "limit": page_size}, parse=parse)
            start = envelope.offset if envelope.offset is not None else offset
            count = len(results) + len(skipped)
            yield Page(total=envelope.total, offset=start, count=count, results=results, skipped=skipped)
            if has_next_key:
                more = envelope.next is not None
            else:  # an envelope without `next`: fall back to the counts
                more = count == page_size and (envelope.total is None or start + count < envelope.total)
            if not more:
                return
            if not count:
                raise UpstreamBadResponse("an empty page claims there is a next page", upstream=UPSTREAM,
                                          endpoint=endpoint)
            offset = start + count
            del results, skipped  # keep one page in memory, not two


def _sid(check: ArgumentChecker, key: str, kind: str, value: Any, *, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            check.fail(key, "is required")
        return None
    prefix = v.SID_PREFIXES[kind]
    check.pattern(key, value, lambda s: v.is_sid(kind, s), f"'{prefix}' followed by 32 lowercase hex digits")
    return value


def _utc(check: ArgumentChecker, key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        check.fail(key, "must be a datetime")
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        check.fail(key, "must be an aware datetime (with a time zone)")
        return None
    return to_utc_z(value)


def _text(check: ArgumentChecker, key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        check.fail(key, "must be text")
        return None
    if not v.NAME_FILTER_PATTERN.fullmatch(value):
        check.fail(key, "must not contain '%'")
    return value


def _page_size(check: ArgumentChecker, page_size: Any) -> None:
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        check.fail("limit", f"page_size must be between 1 and {MAX_PAGE_SIZE}")
