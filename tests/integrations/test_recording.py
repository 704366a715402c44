"""The call recording for the health page, and the no-secrets / no-personal-data guarantees of everything the
clients log, raise or print."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import pytest

from proctordash.integrations import recording
from proctordash.integrations.exceptions import (
    UpstreamError,
    UpstreamRateLimited,
    UpstreamUnavailable,
    UpstreamValidationError,
    redact,
)
from proctordash.integrations.recording import CallRecord, calls_since, record_call
from proctordash.integrations.smarterproctoring import SmarterProctoringClient

from .conftest import secret_values


def now():
    return datetime.now(timezone.utc)


def test_every_call_is_recorded_without_query_or_personal_data(sp, faults, caplog):
    since = now() - timedelta(milliseconds=5)
    everything = list(sp.list_appointments(page_size=1000))
    email = next(r.enrollment.email for r in everything if r.enrollment and r.enrollment.email)
    found = list(sp.list_appointments(learner_email=email, page_size=5))
    assert found
    calls = calls_since("smarterproctoring", since)
    assert len(calls) >= 2
    call = calls[-1]
    assert call.endpoint == "GET /v1/installs/{installSid}/reports/appointments"
    assert call.status == 200 and call.error is None and call.retries == 0 and call.duration_ms > 0
    assert since <= call.at <= now()
    stored = recording._redis(write=False).zrange(recording._key("smarterproctoring"), 0, -1)
    assert not any(email.encode() in item or sp.install_sid.encode() in item for item in stored)
    assert calls_since("smarterproctoring", now() + timedelta(seconds=1)) == []


def test_personal_data_in_filters_stays_out_of_the_log(sp, faults, caplog):
    faults.set_faults(appointments={"error_rate": 1})
    email = "jane.doe" + "@example.edu"  # (kept off the line a traceback would quote)
    with pytest.raises(UpstreamUnavailable) as info:
        list(SmarterProctoringClient.from_settings(retries=1).list_appointments(learner_email=email))
    assert "reports/appointments?…" in caplog.text  # urllib3 did log the requests …
    assert "jane.doe" not in caplog.text  # … without the query string
    assert "jane.doe" not in "".join(__import__("traceback").format_exception(info.value))


def test_records_are_bounded_and_expire(monkeypatch):
    recording.clear("test-upstream")
    monkeypatch.setattr(recording, "MAX_RECORDS", 5)
    old = CallRecord("test-upstream", "GET /x", 200, None, 1.0, 0, now() - timedelta(hours=2))
    record_call(old)
    for i in range(8):
        record_call(CallRecord("test-upstream", "GET /x", 200, None, float(i), 0, now()))
    calls = calls_since("test-upstream", now() - timedelta(days=1))
    assert len(calls) == 5 and [c.duration_ms for c in calls] == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_redis_down_never_breaks_a_call(sp, faults, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "unix:///nonexistent/redis.sock", "KEY_PREFIX": "proctordash",
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    assert next(sp.list_appointments(page_size=5)).sid  # the call works; its record is lost
    assert recording._down_until > 0  # and the recorder backs off instead of retrying on every call
    assert calls_since("smarterproctoring", now() - timedelta(hours=1)) == []


# --- secrets -------------------------------------------------------------------------------------------------------
def test_reprs_never_show_secrets(sp, pe, leakcheck):
    from django.conf import settings

    from proctordash.integrations.base import Secret

    texts = [repr(sp), str(sp), repr(pe), str(pe), repr(vars(sp)), repr(vars(pe)), repr(sp._token), str(pe._secret_key)]
    for secret in secret_values():
        assert all(secret not in text for text in texts)
    assert settings.SMARTERPROCTORING_TOKEN in secret_values()  # the check looks for the values really in use
    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))


def test_upstream_messages_are_redacted_and_shortened():
    assert redact("bad token abc123 here", ["abc123"]) == "bad token [redacted] here"
    assert len(redact("x" * 1000, [])) == 300


def test_exceptions_keep_their_fields_through_pickle():
    for error in (UpstreamRateLimited("slow down", upstream="u", endpoint="GET /x", retry_after=7),
                  UpstreamValidationError("bad", upstream="u", endpoint="GET /x", status=400,
                                          field_errors={"courseSid": "must match"})):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and copy.__dict__ == error.__dict__ and str(copy) == str(error)
    assert issubclass(UpstreamRateLimited, UpstreamError)
