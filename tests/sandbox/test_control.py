"""The sandbox's control endpoint: faults (deterministic), the clock, reset, health; seeded data; start-up checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from proctordash.sandbox import data
from proctordash.sandbox.faults import FaultSpecError, validate

ROOT = Path(__file__).resolve().parents[2]


def statuses(upstream, n: int, **params) -> list[int]:
    return [upstream.appointments(limit=1, **params).status_code for _ in range(n)]


def test_health_reports_seed_size_and_request_counts(upstream, sandbox):
    upstream.appointments(limit=1)
    health = requests.get(f"{sandbox.url}/_sandbox/health", timeout=5).json()
    assert health["status"] == "ok" and health["seed"] == 42
    assert health["appointments"] > 0
    assert health["requests"]["appointments"] >= 1


def test_error_rate_with_times_fails_the_next_requests_then_recovers(upstream, sandbox):
    sandbox.set_faults(appointments={"error_rate": 1, "error_statuses": [503], "times": 2})
    first, second, third = (upstream.appointments(limit=1) for _ in range(3))
    assert first.status_code == second.status_code == 503
    assert first.headers["Content-Type"].startswith("text/html")  # a gateway's page, not JSON
    assert third.status_code == 200


def test_after_lets_the_first_requests_through_then_the_rule_applies(upstream, sandbox):
    sandbox.set_faults(appointments={"error_rate": 1, "error_statuses": [503], "after": 2, "times": 1})
    codes = [upstream.appointments(limit=1).status_code for _ in range(4)]
    assert codes == [200, 200, 503, 200]
    with pytest.raises(requests.HTTPError):
        sandbox.set_faults(appointments={"after": -1})


def test_faults_are_deterministic_under_their_seed(upstream, sandbox):
    runs = []
    for _ in range(2):
        sandbox.set_faults(seed=7, appointments={"error_rate": 0.5})
        runs.append(statuses(upstream, 20))
    assert runs[0] == runs[1]
    assert {200} < set(runs[0])  # some failed, some did not
    sandbox.set_faults(seed=8, appointments={"error_rate": 0.5})
    assert statuses(upstream, 20) != runs[0]


def test_faults_are_per_endpoint_and_groups_apply(upstream, sandbox):
    sandbox.set_faults(proctorexam={"error_rate": 1, "error_statuses": [500]})
    assert upstream.appointments(limit=1).status_code == 200
    response = upstream.pe("/api/v3/exams")
    assert response.status_code == 500 and response.json() == {"error": "Internal Server Error"}


def test_rate_limit_answers_429_with_retry_after(upstream, sandbox):
    sandbox.set_faults(appointments={"rate_limit": 1, "retry_after": 7})
    response = upstream.appointments()
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert response.json()["statusCode"] == 429


def test_expired_token(upstream, sandbox):
    sandbox.set_faults(**{"*": {"expired_token": True}})
    response = upstream.appointments()
    assert response.status_code == 401 and response.json()["message"] == "Token expired"
    assert upstream.pe("/api/v3/exams").status_code == 401


def test_malformed_json(upstream, sandbox):
    sandbox.set_faults(appointments={"malformed": 1})
    response = upstream.appointments(limit=3)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_truncated_body_breaks_the_connection(upstream, sandbox):
    sandbox.set_faults(appointments={"truncated": 1})
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        upstream.appointments(limit=50)
    sandbox.set_faults()
    assert upstream.appointments(limit=1).status_code == 200


def test_missing_required_fields(upstream, sandbox):
    sandbox.set_faults(appointments={"missing_fields": 0.5, "missing_field_names": ["sid"]})
    results = upstream.appointments(limit=40).json()["results"]
    missing = [r for r in results if "sid" not in r]
    assert 0 < len(missing) < len(results)
    assert all("status" in r for r in results)


def test_hang_outlasts_the_client_timeout(upstream, sandbox):
    sandbox.set_faults(appointments={"hang": 1, "hang_seconds": 5})
    with pytest.raises(requests.exceptions.ReadTimeout):
        upstream.sp("GET", "/v1/installs/{install}/reports/appointments", timeout=0.5)


def test_latency_is_added(upstream, sandbox):
    sandbox.set_faults(appointments={"latency": 0.3})
    started = time.monotonic()
    assert upstream.appointments(limit=1).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_invalid_fault_plans_are_rejected_with_the_key_named(sandbox):
    for plan, word in [({"appointmnets": {}}, "appointmnets"), ({"appointments": {"error_rate": 2}}, "error_rate"),
                       ({"appointments": {"error_statuses": [404]}}, "error_statuses"),
                       ({"appointments": {"explode": 1}}, "explode")]:
        response = requests.post(f"{sandbox.url}/_sandbox/faults", json=plan, timeout=5)
        assert response.status_code == 400 and word in response.json()["error"]
    with pytest.raises(FaultSpecError):
        validate({"*": {"error_rate": 0.6, "rate_limit": 0.6}})


def test_reset_restores_data_and_clears_faults(upstream, sandbox):
    record = next(r for r in upstream.all_appointments() if "examConfiguration" in r)
    path = (f"/v1/installs/{{install}}/courses/{record['course']['sid']}/exams/{record['examSid']}/configurations/"
            f"{record['examConfiguration']['sid']}")
    original = upstream.sp("GET", path).json()
    body = {k: original[k] for k in original if k.startswith("permitted")}
    body.update(instructorAsProctor=[], duration=(original["duration"] or 60) + 5)
    assert upstream.sp("PUT", path, json=body).status_code == 200
    sandbox.set_faults(configuration={"error_rate": 1})
    sandbox.reset()
    assert upstream.sp("GET", path).json() == original


# --- the clock -----------------------------------------------------------------------------------------------------
def test_appointments_move_along_the_clock(upstream, sandbox):
    records = upstream.all_appointments()
    now = time.time()
    soon = next(r for r in records if r["status"] == "Scheduled"
                and datetime_ts(r["appointmentDate"]) > now + 60)
    duration = soon["examConfiguration"]["duration"] if "examConfiguration" in soon else None
    sandbox.advance_clock(datetime_ts(soon["appointmentDate"]) - now + 30)
    moved = {r["sid"]: r for r in upstream.all_appointments()}[soon["sid"]]
    assert moved["status"] == "In Progress" and moved["recordingStartDate"] is not None
    sandbox.advance_clock((duration or 300) * 60 + 60)
    closed = {r["sid"]: r for r in upstream.all_appointments()}[soon["sid"]]
    assert closed["status"] == "Closed"
    clock = requests.get(f"{sandbox.url}/_sandbox/clock", timeout=5).json()
    assert clock["offset_seconds"] > 0


def test_proctorexam_sessions_progress_and_incidents_appear(upstream, sandbox):
    def snapshot():
        out = {}
        for exam in upstream.pe("/api/v3/exams").json()["exams"]:
            for s in upstream.pe(f"/api/v3/exams/{exam['id']}/student_sessions").json()["students"]:
                out[s["id"]] = (s["status"], len(s["incidents"]))
        return out

    before = snapshot()
    sandbox.advance_clock(3 * 3600)
    after = snapshot()
    assert sum(1 for k in before if before[k][0] != after[k][0]) > 0
    assert sum(after[k][1] for k in after) > sum(before[k][1] for k in before)


def test_clock_rejects_going_backwards(sandbox):
    response = requests.post(f"{sandbox.url}/_sandbox/clock", json={"advance_seconds": -5}, timeout=5)
    assert response.status_code == 400


def datetime_ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


# --- seeded data (no HTTP) -----------------------------------------------------------------------------------------
def test_same_seed_same_data_and_another_seed_differs():
    anchor = 1_800_000_000.0
    a = data.generate(seed=3, appointments=300, anchor=anchor)
    b = data.generate(seed=3, appointments=300, anchor=anchor)
    c = data.generate(seed=4, appointments=300, anchor=anchor)
    dump = lambda w: json.dumps([x.doc for x in w.appointments], sort_keys=True, default=str)  # noqa: E731
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)


def test_demo_course_sids_are_real_courses_with_appointments():
    world = data.generate(seed=42, appointments=200, anchor=1_800_000_000.0)
    sids = data.demo_course_sids(42)
    assert len(sids) == 2 and all(s in world.courses for s in sids)
    assert all(any(x.course_sid == s for x in world.appointments) for s in sids)
    assert data.demo_course_sids(42) == sids and data.demo_course_sids(43) != sids


def test_per_student_configurations_reference_the_base_one():
    world = data.generate(seed=42, appointments=600, anchor=1_800_000_000.0)
    students = [c for c in world.configurations.values() if c["enrollmentSid"]]
    assert students
    for config in students:
        base = world.configurations[config["referenceExamConfigurationSid"]]
        assert base["examSid"] == config["examSid"] and base["enrollmentSid"] is None


# --- start-up ------------------------------------------------------------------------------------------------------
def test_runsandbox_refuses_to_start_without_credentials():
    env = {k: v for k, v in os.environ.items() if k not in ("SMARTERPROCTORING_TOKEN", "PROCTOREXAM_SECRET_KEY")}
    env["DJANGO_DEBUG"] = "true"
    result = subprocess.run([sys.executable, "manage.py", "runsandbox", "--port", "1"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SMARTERPROCTORING_TOKEN" in result.stderr and "PROCTOREXAM_SECRET_KEY" in result.stderr


@pytest.mark.parametrize("size", [0, 1, 5])
def test_tiny_worlds_are_fine(size):
    from proctordash.sandbox.store import Store

    store = Store(seed=1, appointments=size, anchor=1_800_000_000.0, install_sid="AI" + "a" * 32)
    assert len(store.world.appointments) == size
    assert store.world.courses and store.pe_exams


def test_cli_fault_flags_build_a_valid_plan(tmp_path):
    from django.core.management.base import CommandError

    from proctordash.sandbox.management.commands.runsandbox import Command

    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps({"appointments": {"rate_limit": 0.5}}))
    plan = Command._fault_plan({"faults": f"@{plan_file}", "latency": 0.1, "error_rate": 0.2, "fault_seed": 9})
    assert plan == {"appointments": {"rate_limit": 0.5}, "*": {"latency": 0.1, "error_rate": 0.2}, "seed": 9}
    with pytest.raises(CommandError, match="error_rate"):
        Command._fault_plan({"faults": None, "latency": None, "error_rate": 3, "fault_seed": None})


def test_put_under_faults_error_is_not_applied_malformed_is(upstream, sandbox):
    record = next(r for r in upstream.all_appointments() if "examConfiguration" in r)
    path = (f"/v1/installs/{{install}}/courses/{record['course']['sid']}/exams/{record['examSid']}/configurations/"
            f"{record['examConfiguration']['sid']}")
    original = upstream.sp("GET", path).json()
    body = {k: original[k] for k in original if k.startswith("permitted")}
    body.update(instructorAsProctor=[], duration=(original["duration"] or 60) + 7)
    sandbox.set_faults(configuration_update={"error_rate": 1, "error_statuses": [502]})
    assert upstream.sp("PUT", path, json=body).status_code == 502
    assert upstream.sp("GET", path).json()["duration"] == original["duration"]
    sandbox.set_faults(configuration_update={"malformed": 1})
    garbled = upstream.sp("PUT", path, json=body)
    assert garbled.status_code == 200
    with pytest.raises(ValueError):
        garbled.json()
    assert upstream.sp("GET", path).json()["duration"] == original["duration"] + 7


def test_reviews_complete_as_the_clock_moves():
    from proctordash.sandbox.store import Store

    anchor = 1_800_000_000.0
    store = Store(seed=5, appointments=400, anchor=anchor, install_sid="AI" + "a" * 32)
    store.offset = anchor - time.time()  # start the clock at the anchor
    store.tick()
    pending = [a for a in store.world.appointments if a.review_done_at and a.review_done_at > anchor]
    assert pending
    store.advance(40 * 86400)
    assert all(a.doc["status"] == "Closed" and a.doc["reviewCompletedDate"] for a in pending)
