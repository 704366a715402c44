"""The exams index: searchable by exam title and course, rows named in words (SIDs in titles), configurations told
apart, changes made outside ProctorDash shown, a constant number of queries; the configuration page's drift notice."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from proctordash.exams.models import CachedConfiguration, ConfigurationChange
from tests.conftest import COURSE_A, COURSE_B

pytestmark = pytest.mark.django_db

INDEX = "/exams/"


def visible_text(html: str) -> str:
    """What a person reads: the page without its tags (and so without attributes: titles, hrefs)."""
    return re.sub(r"<[^>]+>", " ", html)


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


@pytest.fixture
def catalog(db):
    """Two courses with the same title (told apart by code), exams with titles shared across courses."""
    from proctordash.appointments.models import Appointment, Course, Exam

    Course.objects.create(sid=COURSE_A, title="Introduction to Biology", code="BIO 100")
    Course.objects.create(sid=COURSE_B, title="Introduction to Biology", code="BIO 101")
    Course.objects.create(sid=sid("CU", 3), title="Organic Chemistry", code="CHEM 240")
    exams = {
        "a-final": Exam.objects.create(sid=sid("EX", 1), course_sid=COURSE_A, title="Final Exam", status="active"),
        "b-final": Exam.objects.create(sid=sid("EX", 2), course_sid=COURSE_B, title="Final Exam", status="active"),
        "b-mid": Exam.objects.create(sid=sid("EX", 3), course_sid=COURSE_B, title="Midterm", status="draft"),
        "chem": Exam.objects.create(sid=sid("EX", 4), course_sid=sid("CU", 3), title="Lab Quiz <b>1</b>",
                                    status="active"),
    }
    now = timezone.now()
    CachedConfiguration.objects.create(
        sid=sid("EC", 1), exam_sid=sid("EX", 1), course_sid=COURSE_A, values_hash="x", fetched_at=now,
        raw={"examOpenDate": "2026-03-02T15:00:00.000Z", "examCloseDate": "2026-03-20T15:00:00.000Z"})
    CachedConfiguration.objects.create(sid=sid("EC", 2), exam_sid=sid("EX", 1), course_sid=COURSE_A,
                                       enrollment_sid=sid("EN", 1), values_hash="x", fetched_at=now, raw={})
    for i, (enrollment, config) in enumerate([(1, 3), (2, 3), (3, 4)]):  # EC3 shared by two learners, EC4 by one
        Appointment.objects.create(sid=sid("ES", 10 + i), exam_sid=sid("EX", 2), course_sid=COURSE_B,
                                   enrollment_sid=sid("EN", enrollment), configuration_sid=sid("EC", config),
                                   content_hash="x", last_seen_at=now)
    return exams


def test_rows_name_exam_and_course_and_tell_courses_apart(client_for, coordinator, catalog):
    html = client_for(coordinator).get(INDEX).content.decode()
    assert "Introduction to Biology (BIO 100)" in html and "Introduction to Biology (BIO 101)" in html
    assert "Lab Quiz &lt;b&gt;1&lt;/b&gt;" in html  # upstream text shown as text
    assert f'title="Exam {sid("EX", 1)} · configuration {sid("EC", 1)}"' in html  # the SIDs stay available
    assert f"/courses/{COURSE_A}/exams/{sid('EX', 1)}/configurations/{sid('EC', 1)}/" in html  # title → base
    assert "1 per-student" in html  # EC2 (cached, per-student) is counted, not listed as a bare SID
    # EC3 is shared by two learners: the base; EC4 (one learner) a per-student one
    assert f"/courses/{COURSE_B}/exams/{sid('EX', 2)}/configurations/{sid('EC', 3)}/" in html
    assert f"configurations/{sid('EC', 4)}/" not in html
    assert not re.search(r"\b(CU|EX|EC|EN)[0-9a-f]{8,}", visible_text(html))  # never a SID as the label
    assert "02 Mar" in html and "20 Mar 2026" in html  # the window, in the dashboard's zone


@pytest.mark.parametrize("q, expected", [
    ("final", {"a-final", "b-final"}),
    ("bio 101", {"b-final", "b-mid"}),  # course code words
    ("chemistry", {"chem"}),  # course title
    ("final introduction", {"a-final", "b-final"}),  # every word must match exam or course
    ("midterm bio", {"b-mid"}),
    ("nothing-like-this", set()),
])
def test_search_by_exam_title_course_title_or_code(client_for, coordinator, catalog, q, expected):
    html = client_for(coordinator).get(INDEX, {"q": q}).content.decode()
    shown = {name for name, exam in catalog.items() if f"Exam {exam.sid}" in html}
    assert shown == expected
    if not expected:
        assert "No exam matches" in html


def test_search_fragment_and_paging(client_for, coordinator, catalog):
    from proctordash.appointments.models import Exam

    Exam.objects.bulk_create([Exam(sid=sid("EX", 100 + i), course_sid=COURSE_A, title=f"Quiz {i:03d}")
                              for i in range(60)])
    c = client_for(coordinator)
    fragment = c.get(INDEX, {"q": "quiz"}, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="exam-results"') and "<form" not in fragment
    assert "<strong>61</strong> exams match “quiz”" in fragment  # 60 quizzes + "Lab Quiz"
    assert "?q=quiz&amp;page=2" in fragment
    page2 = c.get(INDEX, {"q": "quiz", "page": "2"}).content.decode()
    assert "page 2 of 2" in page2


def test_instructor_sees_only_their_course(client_for, instructor_a, catalog):
    html = client_for(instructor_a).get(INDEX).content.decode()
    assert f"Exam {sid('EX', 1)}" in html and f"Exam {sid('EX', 2)}" not in html
    assert "Introduction to Biology (BIO 101)" not in html
    assert f"/courses/{COURSE_A}/exams/new" in html
    assert client_for(instructor_a).get(INDEX, {"q": "chemistry"}).content.decode().count("Exam EX") == 0


def test_course_picker_leads_to_create_and_register(client_for, coordinator, catalog):
    from proctordash.appointments.models import Course

    for i in range(5):
        Course.objects.create(sid=sid("CU", 50 + i), title=f"Course {i}")
    c = client_for(coordinator)
    html = c.get(INDEX).content.decode()
    assert '<select id="create-course" name="course">' in html
    assert c.get(INDEX, {"course": COURSE_B, "go": "new"})["Location"] == f"/courses/{COURSE_B}/exams/new"
    assert c.get(INDEX, {"course": COURSE_B, "go": "register"})["Location"] == \
        f"/courses/{COURSE_B}/exams/accommodations/"
    assert c.get(INDEX, {"course": "CU<script>", "go": "new"}).status_code == 404


def test_changes_made_outside_show_on_the_index_and_the_configuration_page(client_for, coordinator, instructor_a,
                                                                         catalog, settings):
    change = ConfigurationChange.objects.create(
        configuration_sid=sid("EC", 1), exam_sid=sid("EX", 1), course_sid=COURSE_A, source="outside",
        diff=[{"key": "attempts", "label": "Attempts allowed", "old": "1", "new": "3"}], reason="Noticed")
    ConfigurationChange.objects.create(configuration_sid=sid("EC", 3), exam_sid=sid("EX", 2), course_sid=COURSE_B,
                                       source="outside", diff=[])
    ConfigurationChange.objects.filter(exam_sid=sid("EX", 2)).update(
        created_at=timezone.now() - timedelta(days=settings.DRIFT_CHECK_DAYS + 1))  # too old to be news
    html = client_for(coordinator).get(INDEX).content.decode()
    assert "1 exam changed outside ProctorDash" in html and "/exams/history/?source=outside" in html
    assert f"/exams/history/?source=outside&amp;exam={sid('EX', 1)}" in html
    assert 'title="Attempts allowed"' in html
    # an instructor sees their exam's badge, leading to the configuration (no history page for them)
    html = client_for(instructor_a).get(INDEX).content.decode()
    assert "1 exam changed outside ProctorDash" in html and "/exams/history/" not in html
    # the configuration page's notice reads the same history
    from django.template.loader import render_to_string

    notice = render_to_string("exams/_drift_notice.html", {"history": [change], "loaded": None})
    assert "made outside ProctorDash" in notice and "Attempts allowed" in notice
    assert render_to_string("exams/_drift_notice.html", {"history": [], "loaded": None}).strip() == ""


def test_index_costs_a_constant_number_of_queries(client_for, coordinator, catalog):
    from proctordash.appointments.models import Exam

    c = client_for(coordinator)
    c.get(INDEX)
    with CaptureQueriesContext(connection) as few:
        c.get(INDEX)
    Exam.objects.bulk_create([Exam(sid=sid("EX", 200 + i), course_sid=COURSE_B, title=f"Quiz {i}")
                              for i in range(45)])
    with CaptureQueriesContext(connection) as many:
        c.get(INDEX)
    assert len(many) == len(few) <= 16, "\n".join(q["sql"][:150] for q in many.captured_queries)
