"""A NUL character (or an over-long value) in any path segment or query parameter of any GET screen never becomes a
500. PostgreSQL's text type cannot hold NUL, so a value that reaches a query unchecked fails there (CI runs this on
PostgreSQL); SQLite would let it through silently. Each URL is tried as a coordinator, who may open every screen."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.appointments.factories import AppointmentFactory, CourseFactory, ExamFactory
from tests.conftest import COURSE_A

pytestmark = pytest.mark.django_db

EXAM = "EX" + "1" * 32
CONFIG = "EC" + "2" * 32
NASTY = ["\x00", "a\x00b", "x" * 3000]

# every GET screen with the parameters it reads; {v} is replaced by the nasty value (path segments included)
URLS = [
    "/appointments/?{q}",
    "/appointments/export.csv?{q}",
    "/appointments/review/?{q}",
    "/appointments/{v}/",
    "/appointments/{v}/sessions/?run={v}&attempt={v}",
    "/appointments/learners/?q={v}",
    "/appointments/learners/person/?email={v}",
    "/appointments/learners/person/?sid={v}",
    "/appointments/learners/person/?session={v}",
    "/exams/?q={v}&course={v}&page={v}",
    "/exams/history/?source={v}&user={v}&exam={v}&course={v}&day={v}&after={v}&before={v}&page={v}",
    "/exams/bulk/?course={v}&show={v}",
    "/courses/{v}/exams/new",
    "/courses/{v}/exams/new?key={v}",
    "/courses/{v}/exams/creations/{v}/",
    "/courses/{v}/exams/accommodations/",
    "/courses/" + COURSE_A + "/exams/{v}/configurations/{v}/",
    "/monitor/?exam={v}&status={v}&show={v}&open={v}&since={v}&q={v}",
    "/monitor/readiness/?days={v}",
    "/monitor/readiness/export.csv?days={v}",
    "/health/?run={v}",
]


@pytest.fixture
def rows(db):
    CourseFactory(sid=COURSE_A, title="Biology 101")
    ExamFactory(sid=EXAM, course_sid=COURSE_A, title="Bio Midterm")
    AppointmentFactory(course_sid=COURSE_A, exam_sid=EXAM, learner_first_name="Ada")


def _filter_query(value: str) -> str:
    from proctordash.appointments.forms import ALL_KEYS

    return "&".join(f"{quote(k)}={quote(value)}" for k in ALL_KEYS)


@pytest.mark.parametrize("nasty", NASTY, ids=["nul", "nul-inside", "3000-chars"])
def test_no_get_screen_fails_on_a_nul_or_an_over_long_value(client_for, coordinator, rows, nasty):
    client = client_for(coordinator)
    client.raise_request_exception = False  # collect every failing URL, not just the first
    failures = []
    for template in URLS:
        url = template.replace("{q}", _filter_query(nasty)).replace("{v}", quote(nasty, safe=""))
        response = client.get(url)
        if response.status_code >= 500:
            failures.append((template, response.status_code))
    assert not failures, failures
