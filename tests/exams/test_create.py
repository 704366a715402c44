"""Creating an exam: the reused configuration form, exactly one POST per form, the lost-answer path."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.test import Client

from proctordash.appointments.models import Exam
from proctordash.exams.models import ExamCreation
from tests.exams.conftest import form_data


def new_url(course_sid):
    return f"/courses/{course_sid}/exams/new"


def filled(client, course_sid, **overrides):
    data = form_data(client.get(new_url(course_sid), follow=True).content.decode())
    data.update({
        "title": "Midterm 1 (ProctorDash test)", "type": "Online", "url": "https://lms.example.edu/quiz/1",
        "password": "open-sesame-1", "duration": "90", "attempts": "1", "exam_delivery_system_module": "canvas",
        "exam_open_date": "2031-05-01T09:00", "exam_close_date": "2031-05-08T17:00",
        "permitted_calculator": "on", "permitted_calculator_information": "Basic only",
    })
    data.update(overrides)
    return data


def creates(sandbox) -> int:
    return sandbox.control("GET", "health").json()["requests"].get("create_exam", 0)


@pytest.mark.django_db
def test_create_page_reuses_the_configuration_form_parts(client_for, coordinator, cfg):
    html = client_for(coordinator).get(new_url(cfg.course_sid), follow=True).content.decode()
    data = form_data(html)
    uuid.UUID(data["idempotency_key"])
    for name in ["title", "type", "url", "use_proctor_manager", "require_approval", "exam_delivery_system_module",
                 "description", "contact_user_sid", "is_limited_scope", "status", "permitted_calculator_information",
                 "exam_open_date", "duration", "attempts", "password", "proctor_types_other", "slots-TOTAL_FORMS",
                 "modality_options"]:
        assert f'name="{name}"' in html, name
    assert "Instructor-as-proctor slots" in html and "Add a slot" in html


@pytest.mark.django_db
def test_create_once_and_resubmit_does_not_create_twice(client_for, coordinator, clean_sandbox, sp, cfg):
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid)
    before = creates(clean_sandbox)
    first = client.post(new_url(cfg.course_sid), data)
    assert first.status_code == 302, first.content.decode()[:2000]
    creation = ExamCreation.objects.get(key=data["idempotency_key"])
    assert creation.status == "created" and creation.exam_sid and creation.configuration_sid
    assert first["Location"] == (f"/courses/{cfg.course_sid}/exams/{creation.exam_sid}/configurations/"
                                 f"{creation.configuration_sid}/")
    exam = Exam.objects.get(sid=creation.exam_sid)  # in the dashboard at once
    assert exam.title == "Midterm 1 (ProctorDash test)" and exam.course_sid == cfg.course_sid
    live = sp.get_configuration(course_sid=cfg.course_sid, exam_sid=creation.exam_sid,
                                configuration_sid=creation.configuration_sid).raw
    assert live["apiExamId"] == f"proctordash:{creation.key}"
    assert live["duration"] == 90 and live["permittedCalculator"] is True
    assert live["examOpenDate"] == "2031-05-01T14:00:00.000Z"  # 09:00 America/Chicago (CDT)
    again = client.post(new_url(cfg.course_sid), data, follow=True)  # the browser's retry / a resubmitted form
    assert again.redirect_chain[0] == (first["Location"], 302)
    assert "This form was already sent" in again.content.decode() and "Nothing was created again" in \
        again.content.decode()
    assert creates(clean_sandbox) == before + 1
    assert "open-sesame-1" not in str(Exam.objects.get(sid=creation.exam_sid).raw)


@pytest.mark.django_db
def test_online_exam_needs_url_and_password_named(client_for, coordinator, clean_sandbox, cfg):
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid, url="", password="", duration="0")
    html = client.post(new_url(cfg.course_sid), data).content.decode()
    assert "An Online exam needs its URL." in html and "An Online exam needs a password." in html
    assert "Duration must be at least 1 minute." in html
    kept = form_data(html)
    assert kept["title"] == "Midterm 1 (ProctorDash test)" and kept["permitted_calculator_information"] == "Basic only"
    assert not ExamCreation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submission_sends_one_post(coordinator, clean_sandbox, cfg):
    """Two requests with the same key at the same moment (double click): one POST reaches the upstream."""
    c0 = Client()
    c0.force_login(coordinator)
    data = filled(c0, cfg.course_sid)
    clean_sandbox.set_faults(create_exam={"latency": 1.5})  # keep the first POST in flight while the second lands
    before = creates(clean_sandbox)
    results = []

    def submit():
        c = Client()
        c.force_login(coordinator)
        r = c.post(new_url(cfg.course_sid), data)
        results.append((r.status_code, r.content.decode() if r.status_code == 200 else r["Location"]))

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    assert creates(clean_sandbox) == before + 1
    assert ExamCreation.objects.count() == 1 and ExamCreation.objects.get().status == "created"
    assert ExamCreation.objects.get().attempts == 1
    kinds = sorted("redirect" if s == 302 else ("sending" if 'data-testid="sending"' in body else "other")
                   for s, body in results)
    assert kinds in (["redirect", "sending"], ["redirect", "redirect"])
    assert Exam.objects.filter(title="Midterm 1 (ProctorDash test)").count() == 1


@pytest.mark.django_db
def test_lost_answer_is_not_retried_blindly_and_can_be_resolved(client_for, coordinator, clean_sandbox, sp, cfg):
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid)
    clean_sandbox.set_faults(create_exam={"hang": 1.0, "hang_seconds": 4, "times": 1})  # > the 3 s read timeout
    html = client.post(new_url(cfg.course_sid), data).content.decode()
    creation = ExamCreation.objects.get(key=data["idempotency_key"])
    assert creation.status == "unknown" and 'data-testid="unknown"' in html
    assert creation.api_exam_id in html
    # pressing Create again does not send again while the outcome is unknown
    before = creates(clean_sandbox)
    html = client.post(new_url(cfg.course_sid), data).content.decode()
    assert creates(clean_sandbox) == before and 'data-testid="unknown"' in html
    # "Check again" without SIDs: honest about what it cannot prove
    html = client.post(new_url(cfg.course_sid), data | {"action": "check"}).content.decode()
    assert "not proof" in html
    # A person found the exam in SmarterProctoring (here: one carrying the marker) and gives its SIDs
    made = sp.create_exam(course_sid=cfg.course_sid, body={
        "title": "Found later", "type": "Written", "useProctorManager": False, "requireApproval": False,
        "enableAppointmentSuggestions": False, "examDeliverySystemModule": "canvas",
        "configuration": {"apiExamId": creation.api_exam_id}}).raw
    response = client.post(new_url(cfg.course_sid), data | {
        "action": "check", "found_exam_sid": made["sid"], "found_configuration_sid": made["configuration"]["sid"]})
    assert response.status_code == 302
    creation.refresh_from_db()
    assert creation.status == "created" and creation.exam_sid == made["sid"]
    assert Exam.objects.filter(sid=made["sid"]).exists()


@pytest.mark.django_db
def test_lost_answer_then_person_confirms_not_created_sends_again(client_for, coordinator, clean_sandbox, cfg):
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid)
    clean_sandbox.set_faults(create_exam={"error_rate": 1.0, "error_statuses": [502], "times": 1})
    html = client.post(new_url(cfg.course_sid), data).content.decode()
    assert ExamCreation.objects.get().status == "unknown" and "HTTP 502" in html
    before = creates(clean_sandbox)
    response = client.post(new_url(cfg.course_sid), data | {"action": "resend"})
    assert response.status_code == 302
    assert creates(clean_sandbox) == before + 1
    assert ExamCreation.objects.get().attempts == 2


@pytest.mark.django_db
def test_upstream_refusal_is_failed_and_retry_allowed(client_for, coordinator, clean_sandbox, cfg):
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid)
    clean_sandbox.set_faults(create_exam={"rate_limit": 1.0, "times": 1})
    html = client.post(new_url(cfg.course_sid), data).content.decode()
    assert ExamCreation.objects.get().status == "failed" and "Try again" in html
    assert client.post(new_url(cfg.course_sid), form_data(html)).status_code == 302
    assert ExamCreation.objects.get().status == "created"


@pytest.mark.django_db
def test_the_key_lives_in_the_url_so_back_and_reload_keep_it(client_for, coordinator, clean_sandbox, cfg):
    from proctordash.appointments.models import Course

    Course.objects.update_or_create(sid=cfg.course_sid, defaults={"title": "Organic <Chemistry> II"})
    client = client_for(coordinator)
    response = client.get(new_url(cfg.course_sid))
    assert response.status_code == 302 and "?key=" in response["Location"]
    key = response["Location"].split("?key=")[1]
    page = client.get(response["Location"])
    html = page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert form_data(html)["idempotency_key"] == key  # a reload (same URL) shows the same key
    assert "New exam in Organic &lt;Chemistry&gt; II" in html and f'title="{cfg.course_sid}"' in html
    assert form_data(client.get(response["Location"]).content.decode())["idempotency_key"] == key
    # a re-render (an error) keeps it too
    data = filled(client, cfg.course_sid, idempotency_key=key, duration="0")
    html = client.post(response["Location"], data).content.decode()
    assert "Duration must be at least 1 minute." in html and form_data(html)["idempotency_key"] == key
    assert not ExamCreation.objects.exists()


@pytest.mark.django_db
def test_back_after_creating_leads_to_the_exam_not_a_second_one(client_for, coordinator, clean_sandbox, cfg):
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid)
    url = f"{new_url(cfg.course_sid)}?key={data['idempotency_key']}"
    before = creates(clean_sandbox)
    created = client.post(url, data)
    assert created.status_code == 302
    back = client.get(url)  # Back: the browser asks for the form's URL again (no-store)
    html = back.content.decode()
    assert 'data-testid="already-created"' in html and "This form was already sent" in html
    assert created["Location"] in html and 'name="idempotency_key"' not in html
    assert f'href="{new_url(cfg.course_sid)}"' in html  # "Create another exam" starts a fresh form
    again = client.post(url, data)  # and if the old page is still on screen and sent again
    assert again.status_code == 302 and again["Location"] == created["Location"]
    assert creates(clean_sandbox) == before + 1


@pytest.mark.django_db
def test_someone_elses_key_starts_a_fresh_form(client, instructor_of, coordinator, clean_sandbox, cfg):
    client.force_login(coordinator)
    data = filled(client, cfg.course_sid)
    assert client.post(new_url(cfg.course_sid), data).status_code == 302
    client.force_login(instructor_of(cfg.course_sid))
    response = client.get(f"{new_url(cfg.course_sid)}?key={data['idempotency_key']}")
    assert response.status_code == 302 and data["idempotency_key"] not in response["Location"]
    assert client.get(f"{new_url(cfg.course_sid)}?key=not-a-uuid").status_code == 302


@pytest.mark.django_db
def test_check_again_needs_no_form_data(client_for, coordinator, clean_sandbox, cfg):
    """After a lost answer, Back shows the key's state; "Check again" works without the fields filled in again."""
    client = client_for(coordinator)
    data = filled(client, cfg.course_sid)
    clean_sandbox.set_faults(create_exam={"error_rate": 1.0, "error_statuses": [502], "times": 1})
    client.post(new_url(cfg.course_sid), data)
    assert ExamCreation.objects.get().status == "unknown"
    url = f"{new_url(cfg.course_sid)}?key={data['idempotency_key']}"
    html = client.get(url).content.decode()
    assert 'data-testid="unknown"' in html and "HTTP 502" in html
    empty = form_data(html) | {"action": "check"}
    html = client.post(url, empty).content.decode()
    assert "not proof" in html and "Nothing was sent" not in html
