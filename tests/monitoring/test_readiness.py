"""The readiness board and its contact-list export."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.monitoring.factories import AppointmentFactory, ProctorExamExamFactory, StudentSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def board():
    now = timezone.now()
    AppointmentFactory(status="Needs Proctor", exam_sid="EX" + "1" * 32, exam_title="Biology midterm",
                       learner_first_name="Nia", appointment_date=now + timedelta(days=1))
    AppointmentFactory(status="Needs Proctor", exam_sid="EX" + "1" * 32, exam_title="Biology midterm",
                       learner_first_name="=HYPERLINK(\"http://evil\")", learner_last_name="-2+3",
                       learner_email="@evil", appointment_date=now + timedelta(days=2))
    AppointmentFactory(status="Needs Proctor", exam_title="Far away", appointment_date=now + timedelta(days=10))
    AppointmentFactory(status="Scheduled", exam_title="All fine", appointment_date=now + timedelta(days=1))
    AppointmentFactory(status="Needs Proctor", exam_title="Undated", appointment_date=None,
                       raw={"examConfiguration": {"examOpenDate": (now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")}})
    exam = ProctorExamExamFactory(name="Law final", status="open", start_time=now + timedelta(days=1),
                                  end_time=now + timedelta(days=1, hours=3))
    StudentSessionFactory(exam=exam, name="Ready Rita", status="after_check_req")
    StudentSessionFactory(exam=exam, name="Webcamless Will", status="after_check_req", webcam_check="failed")
    StudentSessionFactory(exam=exam, name="Unchecked Uma", status="email_sent", webcam_check="not_started",
                          microphone_check="not_started")
    return now


def test_board_counts_per_exam(client_for, coordinator, board):
    response = client_for(coordinator).get(reverse("monitoring:readiness"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Biology midterm" in html and "Undated" in html and "Law final" in html
    assert "Far away" not in html and "All fine" not in html and "Ready Rita" not in html
    exams = response.context["exams"]
    counts = {e.title: (e.needs_proctor, e.checks_pending) for e in exams}
    assert counts == {"Biology midterm": (2, 0), "Undated": (1, 0), "Law final": (0, 2)}
    will = next(learner for e in exams for learner in e.learners if learner.name == "Webcamless Will")
    assert will.reason == "System check failed: Webcam"
    uma = next(learner for e in exams for learner in e.learners if learner.name == "Unchecked Uma")
    assert uma.reason == "System checks not done (status: email sent)"
    wider = client_for(coordinator).get(reverse("monitoring:readiness"), {"days": 14}).context["exams"]
    assert "Far away" in {e.title for e in wider}


def test_bad_days_value_shows_an_error_not_a_500(client_for, coordinator, board):
    response = client_for(coordinator).get(reverse("monitoring:readiness"), {"days": "forty"})
    assert response.status_code == 200
    assert "Enter a whole number" in response.content.decode()
    assert 'value="forty"' in response.content.decode()  # what the user typed stays


def test_contact_list_is_formula_safe(client_for, support, board):
    response = client_for(support).get(reverse("monitoring:readiness_export"), {"days": 3})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Learner", "E-mail", "Exam"]
    assert len(rows) == 1 + 5
    evil = next(r for r in rows if "HYPERLINK" in r[0])
    assert evil[0].startswith("'=") and evil[1] == "'@evil"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


def _section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def test_exams_already_open_have_their_own_group(client_for, coordinator, board):
    now = board
    started = ProctorExamExamFactory(name="Started hours ago", status="open", start_time=now - timedelta(hours=3),
                                     end_time=now + timedelta(hours=5))
    StudentSessionFactory(exam=started, name="Late Lena", status="email_sent", webcam_check="not_started")
    opened = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    closes = (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    AppointmentFactory(status="Needs Proctor", exam_sid="EX" + "2" * 32, exam_title="Open SP exam",
                       learner_first_name="Oscar", appointment_date=now + timedelta(hours=5),
                       raw={"examConfiguration": {"examOpenDate": opened, "examCloseDate": closes}})
    # no date yet, exam open for two days already: still a learner to find a proctor for
    AppointmentFactory(status="Needs Proctor", exam_sid="EX" + "2" * 32, exam_title="Open SP exam",
                       learner_first_name="Undated Ulla", appointment_date=None,
                       raw={"examConfiguration": {"examOpenDate": opened, "examCloseDate": closes}})
    # an exam whose window closed: its undated learners are not on the board; a dated one is listed by its date,
    # not as "open now"
    AppointmentFactory(status="Needs Proctor", exam_title="Closed SP exam", appointment_date=None,
                       raw={"examConfiguration": {"examOpenDate": opened, "examCloseDate": opened}})
    AppointmentFactory(status="Needs Proctor", exam_sid="EX" + "3" * 32, exam_title="Closed but booked",
                       appointment_date=now + timedelta(days=1),
                       raw={"examConfiguration": {"examOpenDate": opened, "examCloseDate": opened}})
    response = client_for(coordinator).get(reverse("monitoring:readiness"))
    html = response.content.decode()
    open_now = _section(html, "open-now-h")
    opening = _section(html, "opening-h")
    assert "Started hours ago" in open_now and "Open SP exam" in open_now
    assert "Started hours ago" not in opening and "Open SP exam" not in opening
    assert "Law final" in opening and "Biology midterm" in opening and "Law final" not in open_now
    assert "Closed SP exam" not in html
    assert "Closed but booked" in opening and "Closed but booked" not in open_now
    board_ = response.context["board"]
    assert [e.title for e in board_.open_now] == ["Started hours ago", "Open SP exam"]  # the one closing first first
    sp_exam = board_.open_now[1]
    assert sp_exam.needs_proctor == 2 and {learner.name.split()[0] for learner in sp_exam.learners} == {"Oscar",
                                                                                                     "Undated"}
    assert "closes" in open_now


def test_checks_and_proctor_columns_read_n_a_where_the_vendor_has_none(client_for, coordinator, board):
    html = client_for(coordinator).get(reverse("monitoring:readiness")).content.decode()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"<tr>\s*<th scope=\"row\" class=\"exam\"><strong>([^<]+)"
                                                        r"</strong>.*?</tr>", html, re.S)}
    biology, law = rows["Biology midterm"], rows["Law final"]
    cells = lambda row: re.findall(r'<td data-label="([^"]+)"[^>]*>(.*?)</td>', row, re.S)  # noqa: E731
    biology_cells, law_cells = dict(cells(biology)), dict(cells(law))
    assert biology_cells["Needs Proctor"].strip() == "2"
    assert "n/a" in biology_cells["Checks not done"] and "SmarterProctoring runs no system checks" in \
        biology_cells["Checks not done"]
    assert ">0<" not in biology_cells["Checks not done"]
    assert law_cells["Checks not done"].strip() == "2"
    assert "n/a" in law_cells["Needs Proctor"]
