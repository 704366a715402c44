"""Property-based tests (hypothesis) over the query strings of the appointment list, its htmx fragment, the CSV
export and the other GET screens that take parameters: whatever arrives — unicode, NUL, huge strings, `%`, repeated
keys, bad SIDs, impossible dates, negative or huge page numbers, unknown sort keys — the answer is never a 500, and a
rejected value is named: beside its field on the page (`errors-<name>` slot) or by name in the export's 400."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from proctordash.appointments.forms import ALL_KEYS, AppointmentFilterForm, SORT_KEYS
from tests.appointments.factories import AppointmentFactory, CourseFactory, ExamFactory
from tests.conftest import COURSE_A

pytestmark = pytest.mark.django_db

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])

SID_KINDS = ["CU", "EX", "CO", "AP", "EN", "ES", "XX", ""]
hex32 = st.text("0123456789abcdef", min_size=32, max_size=32)
nasty_text = st.one_of(
    st.text(max_size=40),  # any unicode, NUL and surrogates excluded by the client's encoding below
    st.sampled_from(["%", "%%", "100%", "%00", "\x00", "a\x00b", "<script>alert(1)</script>", "=HYPERLINK(\"x\")",
                     "' OR 1=1 --", "\u202e", "ǅ", "ß", "İ", "\r\n", " ", "-", "+", "9" * 400, "x" * 5000]),
    st.builds(lambda p, h: p + h, st.sampled_from(SID_KINDS), hex32),  # SIDs of the right and the wrong kind
    st.builds(lambda h: "CU" + h.upper(), hex32),  # right kind, upper case: not a SID
)
dates = st.one_of(
    st.sampled_from(["2026-02-30", "2026-13-01", "2026-01-01 25:00", "0000-01-01", "9999-12-31 23:59",
                     "2026-01-01T00:00:00Z", "2026-01-01T00:00:00+14:00", "2026-01-01T00:00:00+25:00", "yesterday",
                     "2026-1-1", "１２３４-０１-０１", "2026-01-01\x00"]),
    st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()), nasty_text,
)
integers = st.one_of(st.integers(min_value=-10**30, max_value=10**30).map(str),
                     st.sampled_from(["0", "-1", "1e3", "0x10", "１", " 2 ", "NaN", "", "9" * 300]), nasty_text)
sorts = st.one_of(st.sampled_from([*SORT_KEYS, *[f"-{k}" for k in SORT_KEYS], "--learner", "raw", "-", "sid",
                                   "appointment_date", "learner__password"]), nasty_text)

VALUE_FOR = {"appointmentAfter": dates, "appointmentBefore": dates, "page": integers, "per_page": integers,
             "sort": sorts}
HIDDEN = {"sort", "page", "per_page", "when"}
KEYS = st.sampled_from([*ALL_KEYS, "unknownKey", "offset", "limit", "page[]", "status[]"])


@st.composite
def query_strings(draw) -> str:
    """A query string of 0–8 pairs with filter names of the report (repeats allowed, unknown keys sometimes)."""
    pairs = []
    for _ in range(draw(st.integers(0, 8))):
        key = draw(KEYS)
        value = draw(VALUE_FOR.get(key, nasty_text))
        pairs.append((key, value))
    if draw(st.booleans()) and pairs:  # a repeated key with a different value
        pairs.append((pairs[0][0], draw(nasty_text)))
    # surrogates cannot be sent; everything else is percent-encoded as a browser would
    return "&".join(f"{quote(k)}={quote(v.encode('utf-8', 'replace'))}" for k, v in pairs)


@pytest.fixture
def rows(db):
    CourseFactory(sid=COURSE_A, title="Biology 101")
    ExamFactory(sid="EX" + "1" * 32, course_sid=COURSE_A, title="Bio Midterm")
    for i in range(3):
        AppointmentFactory(course_sid=COURSE_A, exam_sid="EX" + "1" * 32, learner_first_name=f"Ada{i}")
    AppointmentFactory(course_sid=COURSE_A, learner_first_name="<script>alert(1)</script>", exam_title="=1+1")


def _expected_errors(qs: str, user) -> dict:
    """What the form itself says about this query (the reference the responses are checked against)."""
    from django.http import QueryDict

    from proctordash.appointments import selectors

    courses = selectors.course_choices(user=user)
    form = AppointmentFilterForm(QueryDict(qs), courses=courses, exams=selectors.exam_choices(user=user),
                                 offerings=selectors.offering_choices(user=user, courses=courses))
    form.is_valid()
    return form.errors


@PROPERTY
@given(qs=query_strings())
def test_list_page_and_fragment_never_fail_and_name_the_rejected_field(client_for, coordinator, rows, qs):
    client = client_for(coordinator)
    errors = _expected_errors(qs, coordinator)
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get(f"/appointments/?{qs}", **headers)
        assert response.status_code == 200, (qs, response.status_code)
        html = response.content.decode()
        for name in errors:
            if name == "__all__":
                continue
            assert f"<code>{name}=" in html, f"{name} rejected but not named in the error list for {qs!r}"
            if name not in HIDDEN:
                slot = re.search(rf'<div id="errors-{re.escape(name)}"[^>]*>(.*?)</div>', html, re.S)
                assert slot and "field-error" in slot.group(1), f"{name} rejected but no error beside it for {qs!r}"
        if errors:
            assert "<tbody" not in html.split('id="results"', 1)[-1], "rows shown for a rejected filter (half-applied)"


@PROPERTY
@given(qs=query_strings())
def test_export_never_fails_and_names_the_rejected_field(client_for, coordinator, rows, qs):
    client = client_for(coordinator)
    errors = _expected_errors(qs, coordinator)
    response = client.get(f"/appointments/export.csv?{qs}")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if errors:
        assert response.status_code == 400, qs
        text = body.decode()
        for name in errors:
            assert f"{name}:" in text, f"{name} not named in the export's refusal for {qs!r}"
    else:
        assert response.status_code == 200, (qs, response.status_code)
        assert body.startswith("\ufeff".encode())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=nasty_text, days=integers, run=integers, attempt=integers)
def test_other_get_screens_never_fail(client_for, coordinator, rows, q, days, run, attempt):
    from proctordash.appointments.models import Appointment

    client = client_for(coordinator)
    sid = Appointment.objects.values_list("sid", flat=True).first()
    urls = [
        f"/appointments/learners/?q={quote(q.encode('utf-8', 'replace'))}",
        f"/appointments/{quote(q.encode('utf-8', 'replace'), safe='')}/",
        f"/appointments/{sid}/sessions/?run={quote(run)}&attempt={quote(attempt)}",
        f"/monitor/readiness/?days={quote(days)}",
        f"/monitor/readiness/export.csv?days={quote(days)}",
        f"/monitor/?exam={quote(days)}&status={quote(q.encode('utf-8', 'replace'))}&open={quote(run)}&since={quote(attempt)}",
        f"/health/?run={quote(run)}",
        f"/exams/history/?source={quote(q.encode('utf-8', 'replace'))}&course={quote(days)}&page={quote(run)}",
        f"/exams/?course={quote(q.encode('utf-8', 'replace'))}",
    ]
    for url in urls:
        assume(True)
        response = client.get(url)
        assert response.status_code in (200, 302, 400, 404), (url, response.status_code)
