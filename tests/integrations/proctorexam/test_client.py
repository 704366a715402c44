"""ProctorExamClient against the sandbox over HTTP: signed requests accepted, paging by page/limit with the
X-Pagination headers, filters, refused signatures/nonces/clocks, and injected faults with fresh signatures per try."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import redis

from proctordash.integrations import recording
from proctordash.integrations.exceptions import (
    UpstreamAuthError,
    UpstreamBadResponse,
    UpstreamNotFound,
    UpstreamRateLimited,
    UpstreamUnavailable,
    UpstreamValidationError,
)
from proctordash.integrations.proctorexam import ProctorExamClient
from proctordash.integrations.proctorexam.client import EXAMS
from proctordash.integrations.proctorexam.schemas import ProctorExamExam, StudentSession
from proctordash.integrations.proctorexam.signing import NonceSource

from ..smarterproctoring.test_client import requests_to


@pytest.fixture(scope="module")
def exams(sandbox):
    client = ProctorExamClient.from_settings()
    sandbox.set_faults()
    found = list(client.list_exams())
    client.close()
    assert len(found) >= 2
    return found


@pytest.fixture(scope="module")
def busy_exam(sandbox, exams):
    """The exam with the most student sessions."""
    client = ProctorExamClient.from_settings()
    counts = {}
    for exam in exams:
        it = client.list_student_sessions(exam_id=exam.id, page_size=1)
        next(it, None)
        counts[exam.id] = it.total or 0
    client.close()
    exam_id = max(counts, key=counts.get)
    assert counts[exam_id] >= 3
    return exam_id


def test_list_exams(pe, faults, exams):
    it = pe.list_exams()
    records = list(it)
    assert it.total == len(records) == len(exams) and it.pages_fetched == 1
    assert all(isinstance(e, ProctorExamExam) and e.id for e in records)
    assert any(e.start_time for e in records)
    assert all(e.start_time.tzinfo == timezone.utc for e in records if e.start_time)
    assert records[0].raw["id"] == records[0].id


@pytest.mark.parametrize("status", ["draft", "open", "closed"])
def test_list_exams_by_status(pe, faults, exams, status):
    got = {e.id for e in pe.list_exams(status=status)}
    assert got == {e.id for e in exams if e.status == status}


def test_student_sessions_page_by_page(pe, faults, busy_exam):
    it = pe.list_student_sessions(exam_id=busy_exam, page_size=2)
    sessions = list(it)
    assert it.total == len(sessions) and it.pages_fetched == -(-len(sessions) // 2)
    assert len({s.id for s in sessions}) == len(sessions)
    assert all(isinstance(s, StudentSession) and s.exam_id in (None, busy_exam) for s in sessions)
    assert [s.id for s in sessions] == [s.id for s in pe.list_student_sessions(exam_id=busy_exam)]
    with_incidents = [s for s in sessions if s.incidents]
    for session in with_incidents:
        assert all(i.id and (i.created_at is None or i.created_at.tzinfo == timezone.utc) for i in session.incidents)


def test_student_sessions_by_status(pe, faults, busy_exam):
    everything = list(pe.list_student_sessions(exam_id=busy_exam))
    status = everything[0].status
    got = list(pe.list_student_sessions(exam_id=busy_exam, status=status))
    assert {s.id for s in got} == {s.id for s in everything if s.status == status}


def test_unknown_exam_is_not_found(pe, faults, leakcheck):
    with leakcheck.raises(UpstreamNotFound):
        list(pe.list_student_sessions(exam_id=987654321))


def test_arguments_are_checked_before_sending(pe, faults, leakcheck):
    before = requests_to(faults, "pe_exams")
    with leakcheck.raises(UpstreamValidationError) as info:
        pe.list_exams(status="archived")
    assert list(info.value.field_errors) == ["status"]
    with leakcheck.raises(UpstreamValidationError) as info:
        pe.list_student_sessions(exam_id="12", status="done", page_size=301)
    assert set(info.value.field_errors) == {"id", "status", "limit"}
    assert requests_to(faults, "pe_exams") == before


def test_a_400_names_the_parameter(pe, faults, leakcheck):
    with leakcheck.raises(UpstreamValidationError) as info:
        pe._get(EXAMS, {}, {"status": "archived"})  # bypasses our own check to see the upstream's answer
    assert info.value.status == 400 and list(info.value.field_errors) == ["status"]


# --- signing, nonces, credentials ----------------------------------------------------------------------------------
def test_wrong_secret_key_or_token_is_refused(faults, leakcheck):
    for client in (ProctorExamClient.from_settings(secret_key="not-the-key"),
                   ProctorExamClient.from_settings(token="not-the-token")):
        with leakcheck.raises(UpstreamAuthError) as info:
            list(client.list_exams())
        assert info.value.status == 403


def test_a_reused_nonce_is_refused(faults, leakcheck):
    client = ProctorExamClient.from_settings(nonce_source=lambda: 4242)
    list(client.list_exams())
    with leakcheck.raises(UpstreamAuthError):
        list(client.list_exams())


def test_a_stale_timestamp_is_refused(pe, faults, leakcheck, monkeypatch):
    import time as real_time

    late = real_time.time() - 6 * 60
    monkeypatch.setattr("proctordash.integrations.proctorexam.signing.time.time", lambda: late)
    with leakcheck.raises(UpstreamAuthError) as info:
        list(pe.list_exams())
    assert "clock" in str(info.value)


def test_no_redis_means_no_request(faults, leakcheck):
    dead = NonceSource(lambda: redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_connect_timeout=0.5))
    client = ProctorExamClient.from_settings(nonce_source=dead)
    before = requests_to(faults, "pe_exams")
    with leakcheck.raises(UpstreamUnavailable) as info:
        list(client.list_exams())
    assert "nonce" in str(info.value) and requests_to(faults, "pe_exams") == before


def test_headers(pe):
    import os

    import requests

    prepared = pe._session.prepare_request(requests.Request("GET", pe.base_url + EXAMS))
    assert prepared.headers["Accept"] == "application/vnd.procwise.v3"
    assert prepared.headers["Authorization"] == f"Token token={os.environ['PROCTOREXAM_TOKEN']}"


# --- faults ------------------------------------------------------------------------------------------------------
def run(faults, endpoint, fn, expect=None, leakcheck=None):
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
    calls = recording.calls_since("proctorexam", since)
    return result, requests_to(faults, endpoint) - before, calls[-1]


def test_5xx_retried_with_fresh_signatures_then_unavailable(pe, faults, leakcheck):
    faults.set_faults(pe_exams={"error_rate": 1})
    error, seen, call = run(faults, "pe_exams", lambda: list(pe.list_exams()), UpstreamUnavailable, leakcheck)
    assert seen == 4 and call.retries == 3 and call.endpoint == "GET /api/v3/exams"


def test_a_retry_after_a_hang_is_signed_afresh(faults):
    # The hung request reaches the handler after our timeout and uses up its nonce; a retry of the same URL would be
    # refused as a reused nonce. Each try must carry a new nonce and signature.
    faults.set_faults(pe_exams={"hang": 1, "times": 1, "hang_seconds": 1.2})
    client = ProctorExamClient.from_settings(timeout=(2, 0.6), retries=2)
    found, seen, call = run(faults, "pe_exams", lambda: list(client.list_exams()))
    assert found and seen == 2 and call.retries == 1 and call.status == 200


def test_429_rate_limited(pe, faults, leakcheck):
    faults.set_faults(pe_student_sessions={"rate_limit": 1, "retry_after": 60})
    error, seen, call = run(faults, "pe_student_sessions", lambda: list(pe.list_student_sessions(exam_id=1)),
                            UpstreamRateLimited, leakcheck)
    assert seen == 1 and error.retry_after == 60.0


def test_a_short_429_is_waited_out(pe, faults):
    faults.set_faults(pe_exams={"rate_limit": 1, "retry_after": 1, "times": 1})
    found, seen, call = run(faults, "pe_exams", lambda: list(pe.list_exams()))
    assert found and seen == 2 and call.retries == 1


@pytest.mark.parametrize("kind", ["malformed", "truncated"])
def test_a_broken_body_is_retried_like_a_5xx(pe, faults, leakcheck, kind):
    """Invalid JSON or a body cut short is retried (re-signed) with backoff like a 5xx (issue 17 item 7)."""
    faults.set_faults(pe_exams={kind: 1})
    error, seen, call = run(faults, "pe_exams", lambda: list(pe.list_exams()), UpstreamBadResponse, leakcheck)
    assert seen == 4 and call.retries == 3 and call.error == "UpstreamBadResponse"
    faults.set_faults(pe_exams={kind: 1, "times": 1})
    found, seen, call = run(faults, "pe_exams", lambda: list(pe.list_exams()))
    assert found and seen == 2 and call.retries == 1 and call.error is None


@pytest.mark.parametrize("plan, expected", [
    ({"missing_fields": 1, "missing_field_names": ["id"]}, UpstreamBadResponse),
    ({"expired_token": 1}, UpstreamAuthError),
])
def test_faults_end_in_the_right_exception_after_one_try(pe, faults, leakcheck, plan, expected):
    faults.set_faults(pe_exams=plan)
    error, seen, call = run(faults, "pe_exams", lambda: list(pe.list_exams()), expected, leakcheck)
    assert seen == 1 and call.error == expected.__name__


def test_missing_status_is_tolerated(pe, faults, busy_exam):
    faults.set_faults(pe_student_sessions={"missing_fields": 1, "missing_field_names": ["status", "incidents"]})
    sessions = list(pe.list_student_sessions(exam_id=busy_exam))
    assert sessions and all(s.status is None and s.incidents == [] for s in sessions)
