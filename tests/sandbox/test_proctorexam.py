"""Contract tests: the sandbox's ProctorExam v3 (headers, signature, nonce, timestamp, paging, filters)."""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from proctordash.core.vocabulary import PROCTOREXAM_SESSION_STATUSES
from proctordash.sandbox.proctorexam import sign, signing_string

FORBIDDEN = {"error": "You are not authorized to access this page."}


def test_signing_string_reproduces_the_readme_example():
    params = {"page": "1", "nonce": "1527500365", "timestamp": "1527500365052", "signature": "ignored"}
    assert signing_string(params) == "nonce=1527500365?page=1?timestamp=1527500365052"
    import hashlib
    import hmac

    expected = hmac.new(b"key", b"nonce=1527500365?page=1?timestamp=1527500365052", hashlib.sha256).hexdigest()
    assert sign(params, "key") == expected


def test_signed_request_is_answered_with_exams_and_pagination_headers(upstream):
    response = upstream.pe("/api/v3/exams")
    assert response.status_code == 200, response.text
    exams = response.json()["exams"]
    assert exams and {"id", "name", "start_time", "end_time", "status"} <= set(exams[0])
    assert {e["status"] for e in exams} == {"draft", "open", "closed"}
    assert response.headers["X-Pagination-Item-Count"] == str(len(exams))
    assert response.headers["X-Pagination-Page"] == "1"
    assert response.headers["X-Pagination-Limit"] == "300"
    assert response.headers["X-Pagination-Page-Count"] == "1"


@pytest.mark.parametrize("status", ["draft", "open", "closed"])
def test_exam_status_filter(upstream, status):
    exams = upstream.pe("/api/v3/exams", {"status": status}).json()["exams"]
    assert exams and all(e["status"] == status for e in exams)


def test_values_with_spaces_are_signed_unencoded(upstream):
    # The filter value is sent URL-encoded but signed as the raw text; an unknown status is a 400, not a 403.
    response = upstream.pe("/api/v3/exams", {"status": "not a status"})
    assert response.status_code == 400
    assert response.json()["param"] == "status"


def test_tampered_signature_is_403(upstream):
    params = upstream.pe_params({"page": 1})
    params["page"] = "2"  # changed after signing
    response = upstream.pe("/api/v3/exams", signed=params)
    assert response.status_code == 403 and response.json() == FORBIDDEN
    params = upstream.pe_params({"page": 1})
    params["signature"] = params["signature"][:-1] + ("0" if params["signature"][-1] != "0" else "1")
    assert upstream.pe("/api/v3/exams", signed=params).status_code == 403


def test_signature_with_the_wrong_key_is_403(upstream):
    params = upstream.pe_params()
    params["signature"] = sign(params, "not-the-secret")
    assert upstream.pe("/api/v3/exams", signed=params).status_code == 403


def test_replayed_nonce_is_403(upstream):
    params = upstream.pe_params()
    assert upstream.pe("/api/v3/exams", signed=params).status_code == 200
    replay = upstream.pe("/api/v3/exams", signed=params)
    assert replay.status_code == 403 and replay.json() == FORBIDDEN
    # the same nonce with a fresh timestamp and a valid signature is still a replay
    again = upstream.pe_params(nonce=int(params["nonce"]))
    assert upstream.pe("/api/v3/exams", signed=again).status_code == 403


@pytest.mark.parametrize("skew_seconds,status", [(-301, 403), (301, 403), (-200, 200), (200, 200)])
def test_timestamp_must_be_within_five_minutes(upstream, skew_seconds, status):
    params = upstream.pe_params(timestamp=int((time.time() + skew_seconds) * 1000))
    assert upstream.pe("/api/v3/exams", signed=params).status_code == status


def test_token_and_accept_headers_are_checked(upstream):
    assert upstream.pe("/api/v3/exams", headers={"Authorization": "Token token=wrong"}).status_code == 403
    assert upstream.pe("/api/v3/exams", headers={"Authorization": f"Bearer {settings.PROCTOREXAM_TOKEN}"}
                       ).status_code == 403
    assert upstream.pe("/api/v3/exams", headers={"Accept": "application/json"}).status_code == 406
    quoted = upstream.pe("/api/v3/exams", headers={"Authorization": f'Token token="{settings.PROCTOREXAM_TOKEN}"'})
    assert quoted.status_code == 200  # Rails accepts the quoted form too


@pytest.mark.parametrize("drop", ["timestamp", "nonce", "signature"])
def test_missing_signing_parameters_are_rejected(upstream, drop):
    params = upstream.pe_params()
    del params[drop]
    response = upstream.pe("/api/v3/exams", signed=params)
    assert response.status_code == 400 and response.json()["param"] == drop


def test_non_numeric_nonce_is_rejected(upstream):
    params = upstream.pe_params()
    params["nonce"] = "abc"
    params["signature"] = sign(params, settings.PROCTOREXAM_SECRET_KEY)
    response = upstream.pe("/api/v3/exams", signed=params)
    assert response.status_code == 400 and response.json()["param"] == "nonce"


def _busiest_exam(upstream) -> dict:
    exams = upstream.pe("/api/v3/exams").json()["exams"]
    return max(exams, key=lambda e: e["student_sessions_count"])


def test_student_sessions_paging_and_headers(upstream):
    exam = _busiest_exam(upstream)
    path = f"/api/v3/exams/{exam['id']}/student_sessions"
    total = exam["student_sessions_count"]
    assert total > 5
    first = upstream.pe(path, {"limit": 5, "page": 1})
    assert first.status_code == 200
    assert first.headers["X-Pagination-Item-Count"] == str(total)
    assert first.headers["X-Pagination-Page-Count"] == str(-(-total // 5))
    assert first.headers["X-Pagination-Limit"] == "5"
    seen = []
    for page in range(1, -(-total // 5) + 1):
        response = upstream.pe(path, {"limit": 5, "page": page})
        assert response.headers["X-Pagination-Page"] == str(page)
        seen += [s["id"] for s in response.json()["students"]]
    assert len(seen) == len(set(seen)) == total
    beyond = upstream.pe(path, {"limit": 5, "page": 1000}).json()
    assert beyond == {"students": []}


def test_limit_is_capped_at_300(upstream):
    exam = _busiest_exam(upstream)
    response = upstream.pe(f"/api/v3/exams/{exam['id']}/student_sessions", {"limit": 1000})
    assert response.status_code == 200 and response.headers["X-Pagination-Limit"] == "300"


@pytest.mark.parametrize("name,value", [("status", "finished"), ("page", "one"), ("page", "0"), ("limit", "-1")])
def test_student_sessions_invalid_parameters(upstream, name, value):
    exam = _busiest_exam(upstream)
    response = upstream.pe(f"/api/v3/exams/{exam['id']}/student_sessions", {name: value})
    assert response.status_code == 400 and response.json()["param"] == name


def test_student_session_record_shape_and_status_filter(upstream):
    exam = _busiest_exam(upstream)
    path = f"/api/v3/exams/{exam['id']}/student_sessions"
    students = upstream.pe(path).json()["students"]
    example_keys = {"id", "session_id", "student_id", "external_id", "proctor_id", "time_slot", "created_at",
                    "updated_at", "email", "status", "name", "start_time", "exam_id", "end_time", "reservation_time",
                    "screenshare_check", "webcam_check", "incidents", "recording_started_at"}
    assert example_keys <= set(students[0])
    status = students[0]["status"]
    filtered = upstream.pe(path, {"status": status}).json()["students"]
    assert filtered and all(s["status"] == status for s in filtered)
    for status in PROCTOREXAM_SESSION_STATUSES:
        assert upstream.pe(path, {"status": status}).status_code == 200


def test_sessions_at_every_status_across_exams(upstream):
    statuses, incidents = set(), 0
    for exam in upstream.pe("/api/v3/exams").json()["exams"]:
        for s in upstream.pe(f"/api/v3/exams/{exam['id']}/student_sessions").json()["students"]:
            statuses.add(s["status"])
            incidents += len(s["incidents"])
            for incident in s["incidents"]:
                assert set(incident) == {"id", "student_session_id", "comment", "created_at", "updated_at",
                                         "offset_time"}
    assert incidents > 0
    # the fixture's 600-appointment world has fewer sessions: most, not necessarily all, statuses show up
    assert len(statuses) >= 8, statuses


def test_unknown_exam_is_404(upstream):
    assert upstream.pe("/api/v3/exams/99999/student_sessions").status_code == 404


def test_unchanged_records_read_the_same_twice(upstream):
    # The dashboard hashes records to skip unchanged ones: nothing may tick with real time alone.
    first = upstream.pe("/api/v3/exams").json()
    # a closed exam: its sessions are all settled, so only the passing of real time could change them
    exam = max((e for e in first["exams"] if e["status"] == "closed"), key=lambda e: e["student_sessions_count"])
    sessions = upstream.pe(f"/api/v3/exams/{exam['id']}/student_sessions").json()
    time.sleep(1.1)
    assert upstream.pe("/api/v3/exams").json() == first
    assert upstream.pe(f"/api/v3/exams/{exam['id']}/student_sessions").json() == sessions
