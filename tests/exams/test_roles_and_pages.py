"""Roles on every exams view (page, fragment, POST), and the index, history and accommodation register pages."""

from __future__ import annotations

import pytest

from proctordash.exams.models import CachedConfiguration, ConfigurationChange
from tests.exams.conftest import form_data

pytestmark = pytest.mark.django_db


def routes(cfg):
    return {
        "page": cfg.url,
        "validate": cfg.url + "validate",
        "new": f"/courses/{cfg.course_sid}/exams/new",
        "new_validate": f"/courses/{cfg.course_sid}/exams/new/validate",
        "accommodations": f"/courses/{cfg.course_sid}/exams/accommodations/",
    }


def test_instructor_of_another_course_gets_404_everywhere(client_for, instructor_a, clean_sandbox, sandbox, cfg):
    client = client_for(instructor_a)
    before = sandbox.control("GET", "health").json()["requests"]
    for name, url in routes(cfg).items():
        for method in ("get", "post"):
            response = getattr(client, method)(url, {"duration": "5", "_field": "duration"},
                                               **({"HTTP_HX_REQUEST": "true"} if "validate" in name else {}))
            assert response.status_code in (404, 405), (name, method, response.status_code)
            assert response.status_code == 404 or (method == "get" and "validate" in name)
    after = sandbox.control("GET", "health").json()["requests"]
    assert after.get("configuration", 0) == before.get("configuration", 0)  # not even a fetch
    assert after.get("configuration_update", 0) == before.get("configuration_update", 0)


def test_assigned_instructor_can_edit(client_for, instructor_of, clean_sandbox, sp, cfg):
    client = client_for(instructor_of(cfg.course_sid))
    html = client.get(cfg.url).content.decode()
    assert "Save configuration" in html
    data = form_data(html)
    data["attempts"] = "4"
    assert client.post(cfg.url, data).status_code == 302
    assert sp.get_configuration(**cfg.args()).raw["attempts"] == 4
    assert client.get(routes(cfg)["new"], follow=True).status_code == 200


def test_support_reads_but_never_writes(client_for, support, clean_sandbox, sp, cfg):
    client = client_for(support)
    html = client.get(cfg.url).content.decode()
    live = sp.get_configuration(**cfg.args()).raw
    assert "Save configuration" not in html and "your role may not change it" in html
    assert live["password"] not in html  # read-only: the password is not even in the page
    data = form_data(html)
    data["attempts"] = "4"
    assert client.post(cfg.url, data).status_code == 403
    assert client.post(cfg.url + "validate", data, HTTP_HX_REQUEST="true").status_code == 403
    assert client.get(routes(cfg)["new"]).status_code == 403
    assert client.post(routes(cfg)["new"], {}).status_code == 403
    assert client.post(routes(cfg)["accommodations"]).status_code == 403
    assert sp.get_configuration(**cfg.args()).raw["attempts"] == live["attempts"]


def test_history_is_for_coordinators(client_for, coordinator, instructor_a, support):
    ConfigurationChange.objects.create(configuration_sid="EC" + "1" * 32, exam_sid="EX" + "1" * 32,
                                       course_sid="CU" + "1" * 32, source="outside",
                                       diff=[{"key": "attempts", "label": "Attempts allowed", "old": "1", "new": "2"}])
    assert client_for(instructor_a).get("/exams/history/").status_code == 403
    assert client_for(support).get("/exams/history/").status_code == 403
    response = client_for(coordinator).get("/exams/history/?source=outside")
    html = response.content.decode()
    assert response.status_code == 200 and "Changed outside ProctorDash" in html and "Attempts allowed" in html
    fragment = client_for(coordinator).get("/exams/history/?source=dashboard", HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<div id="history-table"')
    assert "Attempts allowed" not in fragment.content.decode()


def test_index_lists_only_the_users_exams(client_for, instructor_a, coordinator):
    from proctordash.appointments.models import Exam
    from tests.conftest import COURSE_A, COURSE_B

    Exam.objects.create(sid="EX" + "a" * 32, course_sid=COURSE_A, title="Exam of A")
    Exam.objects.create(sid="EX" + "b" * 32, course_sid=COURSE_B, title="Exam of B")
    CachedConfiguration.objects.create(sid="EC" + "a" * 32, exam_sid="EX" + "a" * 32, course_sid=COURSE_A,
                                       raw={}, values_hash="x", fetched_at="2026-01-01T00:00Z")
    html = client_for(instructor_a).get("/exams/").content.decode()
    assert "Exam of A" in html and "Exam of B" not in html
    assert f"/courses/{COURSE_A}/exams/EX{'a' * 32}/configurations/EC{'a' * 32}/" in html
    assert f"/courses/{COURSE_A}/exams/new" in html
    html = client_for(coordinator).get("/exams/").content.decode()
    assert "Exam of A" in html and "Exam of B" in html


def test_accommodation_register_shows_learner_and_differences(client_for, coordinator, clean_sandbox, sp, world,
                                                              student_cfg):
    from proctordash.appointments.models import Appointment
    from django.utils import timezone

    raw = sp.get_configuration(**student_cfg.args()).raw
    base_sid = raw["referenceExamConfigurationSid"]
    Appointment.objects.create(sid="AP" + "9" * 32, exam_sid=student_cfg.exam_sid, course_sid=student_cfg.course_sid,
                               enrollment_sid=raw["enrollmentSid"], configuration_sid=student_cfg.sid,
                               learner_first_name="Ada", learner_last_name="Lovelace", content_hash="x",
                               last_seen_at=timezone.now())
    Appointment.objects.create(sid="AP" + "8" * 32, exam_sid=student_cfg.exam_sid, course_sid=student_cfg.course_sid,
                               configuration_sid=base_sid, content_hash="y", last_seen_at=timezone.now())
    client = client_for(coordinator)
    url = f"/courses/{student_cfg.course_sid}/exams/accommodations/"
    # what the register's "fetch" job does (tests/exams/test_background.py runs it through a real worker)
    from proctordash.exams.services import configurations_refresh_course

    assert configurations_refresh_course(course_sid=student_cfg.course_sid) == (2, 0)
    html = client.get(url).content.decode()
    assert "Ada Lovelace" in html and "Duration (minutes)" in html  # accommodations double or 1.5× the time
    assert student_cfg.url in html
    base_page = client.get(f"/courses/{student_cfg.course_sid}/exams/{student_cfg.exam_sid}/configurations/"
                           f"{base_sid}/").content.decode()
    assert "Accommodations for this exam" in base_page and "Ada Lovelace" in base_page
