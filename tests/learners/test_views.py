"""One person across both vendors (issue 16 item 8): the lookup lists people, not rows, with SmarterProctoring
appointments and ProctorExam student sessions joined by normalised e-mail (trimmed, case-folded) and labelled
"matched by e-mail"; search by name, e-mail or either vendor's ID; the learner page; the appointment's link to it."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from proctordash.learners.selectors import learner_lookup, normalise_email, person_get
from tests.appointments.factories import AppointmentFactory, CourseFactory, sid
from tests.conftest import COURSE_A, COURSE_B

pytestmark = pytest.mark.django_db


def appointment_sids(html: str) -> list[str]:
    return re.findall(r'href="/appointments/(AP[0-9a-f]{32})/"', html)


@pytest.fixture
def ada(db):
    """Ada has two SmarterProctoring appointments (two courses) and two ProctorExam sessions, one of them under her
    e-mail written with other case and spaces; Bob has one appointment and nothing in ProctorExam."""
    from proctordash.monitoring.models import ProctorExamExam, StudentSession

    CourseFactory(sid=COURSE_A, title="Biology 101")
    CourseFactory(sid=COURSE_B, title="Chemistry 200")
    learner = "US" + "a" * 32
    rows = [AppointmentFactory(sid=sid("AP", 800001 + i), course_sid=course, course_title=title, learner_sid=learner,
                               learner_first_name="Ada", learner_last_name="Lovelace", learner_email="Ada@Example.edu")
            for i, (course, title) in enumerate([(COURSE_A, "Biology 101"), (COURSE_B, "Chemistry 200")])]
    bob = AppointmentFactory(sid=sid("AP", 800010), learner_first_name="Bob", learner_last_name="Builder",
                             learner_email="bob@example.edu")
    now = timezone.now()
    exam = ProctorExamExam.objects.create(id=7, name="PE Physics", status="open", content_hash="x", last_seen_at=now)
    sessions = [
        StudentSession.objects.create(id=70, exam=exam, name="Ada Lovelace", email="ada@example.edu",
                                      status="exam_started", content_hash="x", last_seen_at=now,
                                      raw={"student_id": 4242, "external_id": "ext-ada"}),
        StudentSession.objects.create(id=71, exam=exam, name="A. Lovelace", email="  ADA@example.EDU ",
                                      status="finished", content_hash="x", last_seen_at=now),
        StudentSession.objects.create(id=72, exam=exam, name="Someone Else", email="else@example.edu",
                                      status="finished", content_hash="x", last_seen_at=now),
    ]
    return {"rows": rows, "bob": bob, "sessions": sessions, "learner": learner}


def test_normalised_email_is_trimmed_and_case_folded():
    assert normalise_email("  Ada@Example.EDU ") == "ada@example.edu"
    assert normalise_email("STRASSE@x.de") == normalise_email("strasse@X.DE")
    assert normalise_email(None) == ""


@pytest.mark.parametrize("query", ["lovelace", "ADA@example", "US" + "a" * 32, "4242", "70", "ext-ada"])
def test_lookup_by_name_email_or_either_vendors_id_finds_one_person_with_both_sides(coordinator, ada, query):
    result = learner_lookup(user=coordinator, query=query)
    people = [p for p in result.people if p.key == "ada@example.edu"]
    assert len(people) == 1, [p.key for p in result.people]
    person = people[0]
    assert sorted(a.sid for a in person.appointments) == sorted(a.sid for a in ada["rows"])
    assert sorted(s.id for s in person.sessions) == [70, 71]  # the spaced, upper-case e-mail is the same person
    assert person.matched_by_email


def test_lookup_by_enrollment_sid(coordinator, ada):
    row = ada["rows"][0]
    result = learner_lookup(user=coordinator, query=row.enrollment_sid)
    assert [p.key for p in result.people] == ["ada@example.edu"]


def test_lookup_page_lists_people_with_links_to_their_page(client_for, coordinator, ada):
    html = client_for(coordinator).get("/appointments/learners/?q=lovelace").content.decode()
    assert "People matching “lovelace” <span class=\"count\">(1)</span>" in html
    assert 'href="/appointments/learners/person/?email=Ada%40Example.edu">Ada Lovelace</a>' in html
    assert "2 appointments" in html and "2 sessions" in html and "matched by e-mail" in html
    html = client_for(coordinator).get("/appointments/learners/?q=nobody-like-this").content.decode()
    assert "No learner matching “nobody-like-this”" in html


def test_person_page_shows_enrollments_appointments_and_sessions_matched_by_email(client_for, coordinator, ada):
    client = client_for(coordinator)
    for url in ["/appointments/learners/person/?email=ada%40example.edu",
                "/appointments/learners/person/?email=%20ADA%40EXAMPLE.EDU%20",
                f"/appointments/learners/person/?sid={ada['learner']}",
                "/appointments/learners/person/?session=71"]:
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert sorted(appointment_sids(html)) == sorted(a.sid for a in ada["rows"]), url
        assert "Biology 101" in html and "Chemistry 200" in html and "Enrollments" in html
        assert "PE Physics" in html and "(session 70)" in html and "(session 71)" in html
        assert "(session 72)" not in html and "matched by e-mail" in html
        assert ada["bob"].sid not in html


def test_person_page_404s_for_nobody_or_a_bad_key(client_for, coordinator, ada):
    client = client_for(coordinator)
    for url in ["/appointments/learners/person/", "/appointments/learners/person/?email=nobody%40x.org",
                "/appointments/learners/person/?sid=US123", "/appointments/learners/person/?session=x",
                "/appointments/learners/person/?session=99"]:
        assert client.get(url).status_code == 404, url


def test_instructors_see_their_courses_only_and_no_proctorexam(client_for, instructor_a, instructor_b, ada):
    html = client_for(instructor_a).get("/appointments/learners/person/?email=ada%40example.edu").content.decode()
    assert appointment_sids(html) == [ada["rows"][0].sid]
    assert "PE Physics" not in html and "only coordinators and support staff" in html
    result = learner_lookup(user=instructor_a, query="lovelace")
    assert [len(p.sessions) for p in result.people] == [0] and not result.proctorexam_visible
    # another course's learner: nothing to show
    assert client_for(instructor_b).get(f"/appointments/learners/person/?sid={ada['learner']}").status_code == 200
    assert person_get(user=instructor_b, email="bob@example.edu") is None


def test_the_appointment_links_to_its_learners_page(client_for, coordinator, ada):
    a = ada["rows"][0]
    html = client_for(coordinator).get(f"/appointments/{a.sid}/").content.decode()
    assert 'href="/appointments/learners/person/?email=Ada%40Example.edu"' in html
    page = client_for(coordinator).get("/appointments/learners/person/?email=Ada%40Example.edu").content.decode()
    assert "PE Physics" in page  # the ProctorExam side is no longer empty


def test_learner_lookup_names_the_box_for_a_nul_or_an_over_long_query_and_keeps_it(client_for, coordinator, ada):
    client = client_for(coordinator)
    response = client.get("/appointments/learners/", {"q": "love\x00lace"})  # PostgreSQL text refuses NUL
    html = response.content.decode()
    assert response.status_code == 200
    assert "Name, e-mail or an ID from either vendor: Null characters are not allowed." in html
    assert 'value="love\x00lace"' in html and "Ada Lovelace" not in html  # kept as typed, nothing searched
    response = client.get("/appointments/learners/", {"q": "a" * 201})
    assert response.status_code == 200 and "at most 200 characters" in response.content.decode()
