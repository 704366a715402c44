"""The list's filters mean what the upstream report's filters mean (docs/architecture.md, "Upstream semantics"),
one by one and combined; the form rejects what the report would reject, beside the field."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings

from proctordash.appointments import selectors
from proctordash.appointments.forms import AppointmentFilterForm, quick_ranges
from tests.appointments.factories import AppointmentFactory, sid
from tests.conftest import COURSE_A, COURSE_B

pytestmark = pytest.mark.django_db
UTC = dt_timezone.utc
BASE = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def run(user, **query):
    """The list's filter as the upstream report means it: every date (`when=all`, unless the test says otherwise;
    the list's own default, from today on, is tested in test_default_view.py)."""
    query.setdefault("when", "all")
    form = AppointmentFilterForm({k: v for k, v in query.items()})
    assert form.is_valid(), form.errors
    return [a.sid for a in selectors.appointment_list(user=user, filters=form.cleaned_data)]


@pytest.fixture
def rows(db):
    """Six appointments that differ in every filterable attribute."""
    made = {}
    made["a"] = AppointmentFactory(sid=sid("AP", 1), course_sid=COURSE_A, course_offering_sid="CO" + "1" * 32,
                                   exam_sid="EX" + "1" * 32, session_type="proctoru", status="Scheduled",
                                   review_status="pending", exam_status="active", appointment_date=BASE,
                                   learner_first_name="Ada", learner_last_name="Lovelace",
                                   learner_email="ADA@Example.edu", learner_sid="US" + "a1" * 16,
                                   course_title="Biology 101", exam_title="Midterm Exam")
    made["b"] = AppointmentFactory(sid=sid("AP", 2), course_sid=COURSE_A, course_offering_sid="CO" + "1" * 32,
                                   exam_sid="EX" + "2" * 32, session_type="examity", status="Closed",
                                   review_status="complete", exam_status="active",
                                   appointment_date=BASE + timedelta(days=1),
                                   learner_first_name="Grace", learner_last_name="Hopper",
                                   learner_email="grace@navy.mil", learner_sid="US" + "b2" * 16,
                                   course_title="Biology 101", exam_title="Final Exam")
    made["c"] = AppointmentFactory(sid=sid("AP", 3), course_sid=COURSE_B, course_offering_sid="CO" + "2" * 32,
                                   exam_sid="EX" + "3" * 32, session_type="automated", status="Cancelled",
                                   review_status="not-required", exam_status="draft",
                                   appointment_date=BASE - timedelta(days=1),
                                   learner_first_name="Alan", learner_last_name="Turing",
                                   learner_email="alan@bletchley.uk", learner_sid="US" + "c3" * 16,
                                   course_title="Chemistry 200", exam_title="Lab Practical")
    made["d"] = AppointmentFactory(sid=sid("AP", 4), course_sid=COURSE_B, course_offering_sid="CO" + "2" * 32,
                                   exam_sid="EX" + "3" * 32, session_type="proctoru", status="Needs Proctor",
                                   review_status="pending", exam_status="deleted", appointment_date=None,
                                   learner_first_name="Ada", learner_last_name="", learner_email="",
                                   learner_sid="US" + "d4" * 16, course_title="Chemistry 200", exam_title="")
    return made


def test_no_filter_lists_everything_dates_ascending_nulls_last(coordinator, rows):
    assert run(coordinator) == [rows[k].sid for k in ("c", "a", "b", "d")]


@pytest.mark.parametrize("name,value,expected", [
    ("courseSid", COURSE_A, "ab"),
    ("courseSid", COURSE_B, "cd"),
    ("courseSid", "CU" + "f" * 32, ""),
    ("examSid", "EX" + "3" * 32, "cd"),
    ("courseOfferingSid", "CO" + "1" * 32, "ab"),
    ("type", "proctoru", "ad"),
    ("type", "vtc", ""),
    ("status", "Closed", "b"),
    ("status", "Needs Proctor", "d"),
    ("reviewStatus", "pending", "ad"),
    ("reviewStatus", "complete", "b"),
    ("reviewStatus", "not-required", "c"),
    ("examStatus", "draft", "c"),
    ("examStatus", "deleted", "d"),
    # case-insensitive substring, like value.lower() in field.lower()
    ("learnerFirstName", "ada", "ad"),
    ("learnerFirstName", "AD", "ad"),
    ("learnerLastName", "OVE", "a"),
    ("learnerLastName", "x", ""),
    ("learnerEmail", "example.EDU", "a"),
    ("learnerEmail", "@", "abc"),  # the empty (null) e-mail never matches
    ("learnerSid", "B2B2", "b"),
    ("courseTitle", "biology", "ab"),
    ("courseTitle", "200", "cd"),
    ("examTitle", "exam", "ab"),
    ("examTitle", "a", "abc"),  # d has no exam title: never matches
    ("examTitle", "_", ""),  # LIKE wildcards are literal
])
def test_each_filter(coordinator, rows, name, value, expected):
    got = run(coordinator, **{name: value})
    assert sorted(got) == sorted(rows[k].sid for k in expected)


def test_after_is_inclusive_and_before_exclusive_in_utc(coordinator, rows):
    at = "2026-03-10T15:00:00.000Z"
    assert run(coordinator, appointmentAfter=at) == [rows["a"].sid, rows["b"].sid]
    assert run(coordinator, appointmentBefore=at) == [rows["c"].sid]
    assert run(coordinator, appointmentAfter=at, appointmentBefore="2026-03-10T15:00:00.001Z") == [rows["a"].sid]
    assert run(coordinator, appointmentAfter=at, appointmentBefore=at) == []


def test_null_dates_never_match_a_date_filter(coordinator, rows):
    everything = run(coordinator, appointmentAfter="1970-01-01T00:00:00.000Z")
    assert rows["d"].sid not in everything and len(everything) == 3
    assert rows["d"].sid not in run(coordinator, appointmentBefore="2100-01-01T00:00:00.000Z")


def test_local_dates_are_read_in_the_dashboard_zone(coordinator, rows):
    zone = ZoneInfo(settings.DASHBOARD_TIME_ZONE)
    local = BASE.astimezone(zone)
    typed = local.strftime("%Y-%m-%d %H:%M")
    assert run(coordinator, appointmentAfter=typed) == [rows["a"].sid, rows["b"].sid]
    form = AppointmentFilterForm({"appointmentAfter": local.strftime("%Y-%m-%d")})
    assert form.is_valid()
    midnight = form.cleaned_data["appointmentAfter"]
    assert (midnight.hour, midnight.minute) == (0, 0) and midnight.utcoffset() == local.utcoffset()
    # an explicit offset wins over the dashboard zone
    form = AppointmentFilterForm({"appointmentAfter": "2026-03-10T16:00:00+01:00"})
    assert form.is_valid() and form.cleaned_data["appointmentAfter"] == BASE


def test_q_searches_name_email_course_and_exam_titles_every_word(coordinator, rows):
    assert run(coordinator, q="lovelace") == [rows["a"].sid]
    assert run(coordinator, q="NAVY") == [rows["b"].sid]
    assert sorted(run(coordinator, q="chemistry")) == sorted([rows["c"].sid, rows["d"].sid])
    assert run(coordinator, q="ada midterm") == [rows["a"].sid]
    assert run(coordinator, q="ada   lovelace") == [rows["a"].sid]
    assert run(coordinator, q="grace midterm") == []


def test_filters_combine_with_and(coordinator, rows):
    assert run(coordinator, courseSid=COURSE_A, type="proctoru") == [rows["a"].sid]
    assert run(coordinator, learnerFirstName="ada", reviewStatus="pending") == [rows["a"].sid, rows["d"].sid]
    assert run(coordinator, learnerFirstName="ada", reviewStatus="pending", examStatus="active") == [rows["a"].sid]
    assert run(coordinator, courseTitle="biology", appointmentAfter="2026-03-11", status="Closed") == [rows["b"].sid]
    assert run(coordinator, courseSid=COURSE_A, status="Cancelled") == []


def test_instructor_sees_only_their_course_whatever_the_filter(instructor_a, rows):
    assert run(instructor_a) == [rows["a"].sid, rows["b"].sid]
    assert run(instructor_a, courseSid=COURSE_B) == []
    assert run(instructor_a, learnerFirstName="ada") == [rows["a"].sid]


def test_removed_rows_are_not_listed(coordinator, rows):
    from django.utils import timezone

    rows["a"].removed_at = timezone.now()
    rows["a"].save()
    assert rows["a"].sid not in run(coordinator)


@pytest.mark.parametrize("query,field,fragment", [
    ({"courseSid": "CU123"}, "courseSid", "Not a course SID"),
    ({"courseSid": "EX" + "a" * 32}, "courseSid", "Not a course SID"),
    ({"examSid": "EX" + "A" * 32}, "examSid", "Not an exam SID"),
    ({"courseOfferingSid": "nope"}, "courseOfferingSid", "Not a course offering SID"),
    ({"type": "zoom"}, "type", "Unknown value “zoom”"),
    ({"status": "scheduled"}, "status", "Unknown value “scheduled”"),
    ({"reviewStatus": "done"}, "reviewStatus", "Unknown value"),
    ({"examStatus": "open"}, "examStatus", "Unknown value"),
    ({"appointmentAfter": "yesterday"}, "appointmentAfter", "Not a date"),
    ({"appointmentBefore": "2026-02-30"}, "appointmentBefore", "No such date"),
    ({"appointmentAfter": "2026-03-02", "appointmentBefore": "2026-03-01"}, "appointmentBefore", "must not be earlier"),
    ({"learnerFirstName": "50%"}, "learnerFirstName", "%"),
    ({"learnerSid": "%"}, "learnerSid", "%"),
    ({"courseTitle": "a%b"}, "courseTitle", "%"),
    ({"sort": "password"}, "sort", "Cannot sort by"),
    ({"page": "two"}, "page", "whole number"),
    ({"page": "0"}, "page", ""),
    ({"per_page": "10000"}, "per_page", "Rows per page"),
])
def test_invalid_values_name_the_field(query, field, fragment):
    form = AppointmentFilterForm(query)
    assert not form.is_valid()
    assert list(form.errors) == [field]
    assert fragment in " ".join(form.errors[field])


def test_empty_values_mean_not_filtered(coordinator, rows):
    # (an empty `when` is the list's date default, from today on: tested in test_default_view.py)
    blank = {name: "" for name in AppointmentFilterForm.base_fields if name != "when"}
    assert len(run(coordinator, **blank)) == 4


def test_quick_ranges_are_whole_local_days():
    now = datetime(2026, 3, 10, 5, 30, tzinfo=UTC)  # still 9 March in America/Chicago
    local_today = now.astimezone(ZoneInfo(settings.DASHBOARD_TIME_ZONE)).date()
    ranges = {label: (after, before) for label, after, before in quick_ranges(now)}
    assert ranges["Today"] == (local_today.isoformat(), (local_today + timedelta(days=1)).isoformat())
    assert ranges["Next 7 days"] == (local_today.isoformat(), (local_today + timedelta(days=7)).isoformat())
    assert ranges["Last 7 days"] == ((local_today - timedelta(days=6)).isoformat(), (local_today + timedelta(days=1)).isoformat())


def test_status_counts_cover_the_filter(coordinator, rows):
    qs = selectors.appointment_list(user=coordinator, filters={"courseSid": COURSE_B, "when": "all"})
    counts = selectors.appointment_status_counts(qs)
    assert counts["Cancelled"] == 1 and counts["Needs Proctor"] == 1 and counts["Scheduled"] == 0
    assert sum(counts.values()) == 2
