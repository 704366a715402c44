"""Injected faults end in the right exception after the right number of tries.

Tries are counted twice, independently: by the sandbox's own request counter and by the call recording.
UPSTREAM_RETRIES is 3 (so 4 tries) unless a test builds a client with `retries=`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from proctordash.integrations import recording
from proctordash.integrations.exceptions import (
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from proctordash.integrations.smarterproctoring import SmarterProctoringClient

from .test_client import exam_body, requests_to

APPOINTMENTS = "GET /v1/installs/{installSid}/reports/appointments"


def last_call(since: datetime) -> recording.CallRecord:
    calls = recording.calls_since("smarterproctoring", since)
    assert calls, "the call was not recorded"
    return calls[-1]


@pytest.fixture
def tries(faults):
    """tries(endpoint, fn) → (exception or result, tries seen by the sandbox, the call record)."""

    def run(endpoint, fn, expect=None, leakcheck=None):
        since = datetime.now(timezone.utc) - timedelta(milliseconds=5)
        before = requests_to(faults, endpoint)
        if expect is None:
            result = fn()
        else:
            with pytest.raises(expect) as info:
                fn()
            result = info.value
            if leakcheck is not None:
                leakcheck.add(result)
        return result, requests_to(faults, endpoint) - before, last_call(since)

    return run


def first_page(client):
    return next(client.list_appointments(page_size=10))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_then_unavailable(sp, faults, tries, leakcheck, status):
    faults.set_faults(appointments={"error_rate": 1, "error_statuses": [status]})
    error, seen, call = tries("appointments", lambda: first_page(sp), UpstreamUnavailable, leakcheck)
    assert seen == 4 and call.retries == 3
    assert error.status == status and call.status == status and call.error == "UpstreamUnavailable"
    assert call.endpoint == APPOINTMENTS


def test_a_transient_5xx_is_absorbed(sp, faults, tries):
    faults.set_faults(appointments={"error_rate": 1, "times": 2})
    record, seen, call = tries("appointments", lambda: first_page(sp))
    assert record.sid and seen == 3 and call.retries == 2 and call.status == 200 and call.error is None


def test_429_waits_retry_after_then_rate_limited(sp, faults, tries, leakcheck):
    faults.set_faults(appointments={"rate_limit": 1, "retry_after": 1})
    client = SmarterProctoringClient.from_settings(retries=2)
    started = datetime.now(timezone.utc)
    error, seen, call = tries("appointments", lambda: first_page(client), UpstreamRateLimited, leakcheck)
    waited = (datetime.now(timezone.utc) - started).total_seconds()
    assert seen == 3 and call.retries == 2 and error.retry_after == 1.0 and error.status == 429
    assert waited >= 2.0  # Retry-After: 1 was honoured before each of the two retries


def test_a_long_retry_after_is_handed_to_the_caller_at_once(sp, faults, tries, leakcheck):
    faults.set_faults(appointments={"rate_limit": 1, "retry_after": 120})
    error, seen, call = tries("appointments", lambda: first_page(sp), UpstreamRateLimited, leakcheck)
    assert seen == 1 and call.retries == 0 and error.retry_after == 120.0


def test_hang_times_out_on_every_try(faults, tries, leakcheck):
    faults.set_faults(appointments={"hang": 1, "hang_seconds": 3})
    client = SmarterProctoringClient.from_settings(retries=1, timeout=(2, 0.5))
    error, seen, call = tries("appointments", lambda: first_page(client), UpstreamUnavailable, leakcheck)
    assert seen == 2 and call.retries == 1 and error.status is None and "timed out" in str(error)


def test_default_read_timeout_comes_from_settings(sp):
    from django.conf import settings

    adapter = sp._session.get_adapter(sp.base_url)
    assert adapter.timeout == (settings.UPSTREAM_CONNECT_TIMEOUT, settings.UPSTREAM_READ_TIMEOUT) == (5, 3)


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_a_broken_body_is_retried_like_a_5xx_then_a_bad_response(sp, faults, tries, leakcheck, kind):
    """An unparsable answer (invalid JSON, a body cut short) is retried with backoff like a 5xx (issue 17 item 7);
    after the last try it is UpstreamBadResponse."""
    faults.set_faults(appointments={kind: 1})
    error, seen, call = tries("appointments", lambda: first_page(sp), UpstreamBadResponse, leakcheck)
    assert seen == 4 and call.retries == 3 and call.error == "UpstreamBadResponse"


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_a_broken_body_then_a_good_one_is_a_page(sp, faults, tries, kind):
    faults.set_faults(appointments={kind: 1, "times": 2})
    record, seen, call = tries("appointments", lambda: first_page(sp))
    assert record.sid and seen == 3 and call.retries == 2 and call.error is None


def test_a_put_with_a_broken_answer_is_not_resent(sp, faults, tries, leakcheck):
    """Only GETs are retried for an unparsable answer: the sandbox applied the PUT before breaking its answer."""
    faults.set_faults(configuration_update={"malformed": 1})
    world_cfg = next(iter(sp.list_appointments(page_size=50)))
    config = world_cfg.exam_configuration
    if config is None or not config.sid:
        pytest.skip("first record has no configuration")
    live = sp.get_configuration(course_sid=world_cfg.course_sid, exam_sid=world_cfg.exam_sid,
                                configuration_sid=config.sid)
    error, seen, call = tries("configuration_update", lambda: sp.update_configuration(
        course_sid=world_cfg.course_sid, exam_sid=world_cfg.exam_sid, configuration_sid=config.sid,
        body=live.update_body()), UpstreamBadResponse, leakcheck)
    assert seen == 1 and call.retries == 0


def test_a_record_without_sid_is_a_bad_response(sp, faults, tries, leakcheck):
    faults.set_faults(appointments={"missing_fields": 1, "missing_field_names": ["sid"]})
    error, seen, call = tries("appointments", lambda: first_page(sp), UpstreamBadResponse, leakcheck)
    assert seen == 1 and "sid" in str(error) and call.error == "UpstreamBadResponse" and call.status == 200


def test_missing_nullable_fields_are_tolerated(sp, faults):
    faults.set_faults(appointments={"missing_fields": 1, "missing_field_names": ["status", "appointmentDate",
                                                                                "exam", "course", "enrollment"]})
    records = list(sp.list_appointments(page_size=100))
    assert records and all(r.status is None and r.exam is None and r.course is None for r in records)


def test_expired_token_is_an_auth_error_after_one_try(sp, faults, tries, leakcheck):
    faults.set_faults(appointments={"expired_token": 1})
    error, seen, call = tries("appointments", lambda: first_page(sp), UpstreamAuthError, leakcheck)
    assert seen == 1 and error.status == 401 and call.status == 401


def test_connection_refused_is_unavailable(faults, leakcheck):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    client = SmarterProctoringClient.from_settings(base_url=f"http://127.0.0.1:{port}", retries=1)
    with leakcheck.raises(UpstreamUnavailable) as info:
        first_page(client)
    assert "could not connect" in str(info.value)


# --- PUT is retried, POST never -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ids(sandbox):
    client = SmarterProctoringClient.from_settings()
    r = next(r for r in client.list_appointments() if r.exam_configuration and r.exam_configuration.sid)
    return {"course_sid": r.course.sid, "exam_sid": r.exam_sid, "configuration_sid": r.exam_configuration.sid}


def test_put_is_retried(sp, faults, tries, ids):
    body = sp.get_configuration(**ids).update_body(duration=77)
    faults.set_faults(configuration_update={"error_rate": 1, "times": 1, "error_statuses": [503]})
    updated, seen, call = tries("configuration_update", lambda: sp.update_configuration(**ids, body=body))
    assert updated.duration == 77 and seen == 2 and call.retries == 1


@pytest.mark.parametrize("plan, expected", [
    ({"error_rate": 1, "times": 1}, UpstreamUnavailable),
    ({"rate_limit": 1, "times": 1, "retry_after": 1}, UpstreamRateLimited),
    ({"hang": 1, "times": 1, "hang_seconds": 4}, UpstreamUnavailable),
])
def test_post_is_never_retried(faults, tries, leakcheck, ids, plan, expected):
    client = SmarterProctoringClient.from_settings(timeout=(2, 1))
    faults.set_faults(create_exam=plan)
    error, seen, call = tries("create_exam", lambda: client.create_exam(course_sid=ids["course_sid"],
                                                                      body=exam_body()), expected, leakcheck)
    assert seen == 1 and call.retries == 0 and call.endpoint == "POST /v1/installs/{installSid}/courses/{courseSid}/exams"


def test_faults_on_other_endpoints_leave_this_one_alone(sp, faults):
    faults.set_faults(sessions={"error_rate": 1})
    assert first_page(sp).sid
