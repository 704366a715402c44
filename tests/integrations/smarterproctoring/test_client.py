"""SmarterProctoringClient against the sandbox over HTTP: happy paths, every filter on the wire, paging in constant
memory, argument checks before sending, and the error mapping of upstream answers."""

from __future__ import annotations

import gc
import tracemalloc
import zoneinfo
from datetime import datetime, timedelta, timezone

import pytest

from proctordash.integrations.exceptions import (
    UpstreamAuthError,
    UpstreamNotFound,
    UpstreamValidationError,
)
from proctordash.integrations.smarterproctoring import SmarterProctoringClient
from proctordash.integrations.smarterproctoring.schemas import Appointment, ExamConfiguration


def requests_to(sandbox, endpoint: str) -> int:
    """How many requests the sandbox has seen for one endpoint (its own counter)."""
    return sandbox.control("GET", "health").json()["requests"].get(endpoint, 0)


@pytest.fixture(scope="module")
def everything(sandbox):
    """All appointments, read once per module (the filters are checked against this list)."""
    client = SmarterProctoringClient.from_settings()
    sandbox.set_faults()
    records = list(client.list_appointments(page_size=1000))
    client.close()
    assert len(records) >= 100
    return records


def test_list_appointments_pages_lazily_through_everything(sp, faults, everything):
    before = requests_to(faults, "appointments")
    it = sp.list_appointments(page_size=100)
    assert it.total is None and it.pages_fetched == 0
    assert requests_to(faults, "appointments") == before  # lazy: nothing sent yet
    first = next(it)
    assert isinstance(first, Appointment)
    assert it.total == len(everything) and it.pages_fetched == 1
    records = [first, *it]
    assert it.pages_fetched == -(-len(everything) // 100)
    assert requests_to(faults, "appointments") == before + it.pages_fetched
    assert [r.sid for r in records] == [r.sid for r in everything]
    assert len({r.sid for r in records}) == len(records)
    # Order: appointmentDate ascending, nulls last, then sid: the stable order paging relies on.
    key = [(r.appointment_date is None, r.appointment_date or datetime.min.replace(tzinfo=timezone.utc), r.sid)
           for r in records]
    assert key == sorted(key)
    dated = [r for r in records if r.appointment_date]
    assert dated and all(r.appointment_date.tzinfo == timezone.utc for r in dated)
    assert records[0].raw["sid"] == records[0].sid and "appointmentDate" in records[0].raw


def test_pages_expose_the_envelope(sp, faults, everything):
    pages = list(sp.iter_appointment_pages(page_size=250))
    assert [p.offset for p in pages] == list(range(0, len(everything), 250))
    assert all(p.total == len(everything) for p in pages)
    assert sum(p.count for p in pages) == len(everything)
    assert all(p.count == len(p.results) for p in pages)


def _expected(everything, predicate):
    return {r.sid for r in everything if predicate(r)}


def _pick(everything, get):
    values = [get(r) for r in everything if get(r)]
    assert values, "the sandbox data lacks a value for this filter"
    return values[len(values) // 2]


@pytest.mark.parametrize("argument, getter, transform", [
    ("course_sid", lambda r: r.course and r.course.sid, None),
    ("exam_sid", lambda r: r.exam_sid, None),
    ("course_offering_sid", lambda r: r.course and r.course.offering and r.course.offering.sid, None),
    ("type", lambda r: r.session_type, None),
    ("status", lambda r: r.status, None),
    ("review_status", lambda r: r.review_status, None),
    ("exam_status", lambda r: r.exam and r.exam.status, None),
    ("learner_first_name", lambda r: r.enrollment and r.enrollment.first_name, "substring"),
    ("learner_last_name", lambda r: r.enrollment and r.enrollment.last_name, "substring"),
    ("learner_email", lambda r: r.enrollment and r.enrollment.email, "substring"),
    ("learner_sid", lambda r: r.enrollment and r.enrollment.user_sid, "substring"),
    ("course_title", lambda r: r.course and r.course.title, "substring"),
    ("exam_title", lambda r: r.exam and r.exam.title, "substring"),
])
def test_every_filter_reaches_the_wire(sp, faults, everything, argument, getter, transform):
    value = _pick(everything, getter)
    if transform == "substring":
        # A middle slice in the other case: the upstream matches case-insensitive substrings.
        value = value[1:-1].swapcase() if len(value) > 3 else value.swapcase()
        expected = _expected(everything, lambda r: getter(r) and value.lower() in getter(r).lower())
    else:
        expected = _expected(everything, lambda r: getter(r) == value)
    got = sp.list_appointments(**{argument: value}, page_size=1000)
    sids = {r.sid for r in got}
    assert sids == expected
    assert got.total == len(expected) < len(everything)  # the filter narrowed the set: it was sent and applied


def test_date_filters_are_sent_as_utc_with_after_inclusive_and_before_exclusive(sp, faults, everything):
    dated = sorted({r.appointment_date for r in everything if r.appointment_date})
    after, before = dated[len(dated) // 4], dated[len(dated) // 2]
    chicago = zoneinfo.ZoneInfo("America/Chicago")
    got = {r.sid for r in sp.list_appointments(appointment_after=after.astimezone(chicago),
                                               appointment_before=before.astimezone(chicago), page_size=1000)}
    expected = _expected(everything, lambda r: r.appointment_date and after <= r.appointment_date < before)
    assert got == expected and expected
    assert any(r.appointment_date == after for r in everything if r.sid in got)  # inclusive lower bound


def test_filters_combine(sp, faults, everything):
    course = _pick(everything, lambda r: r.course and r.course.sid)
    got = {r.sid for r in sp.list_appointments(course_sid=course, status="Scheduled")}
    assert got == _expected(everything, lambda r: r.course and r.course.sid == course and r.status == "Scheduled")


@pytest.mark.parametrize("arguments, keys", [
    ({"course_sid": "CU123"}, ["courseSid"]),
    ({"exam_sid": "CU" + "a" * 32}, ["examSid"]),
    ({"course_offering_sid": "CO" + "A" * 32}, ["courseOfferingSid"]),
    ({"type": "zoom"}, ["type"]),
    ({"status": "scheduled"}, ["status"]),
    ({"review_status": "done"}, ["reviewStatus"]),
    ({"exam_status": "open"}, ["examStatus"]),
    ({"appointment_after": datetime(2025, 1, 1)}, ["appointmentAfter"]),
    ({"appointment_before": "2025-01-01T00:00:00Z"}, ["appointmentBefore"]),
    ({"learner_email": "%@example.com", "course_title": "100%"}, ["learnerEmail", "courseTitle"]),
    ({"page_size": 0}, ["limit"]),
    ({"page_size": 5000}, ["limit"]),
])
def test_bad_arguments_are_refused_before_any_request(sp, faults, leakcheck, arguments, keys):
    before = requests_to(faults, "appointments")
    with leakcheck.raises(UpstreamValidationError) as info:
        sp.list_appointments(**arguments)
    assert sorted(info.value.field_errors) == sorted(keys)
    assert info.value.status is None
    assert requests_to(faults, "appointments") == before


def test_empty_text_filters_mean_no_filter(sp, faults, everything):
    assert sp.list_appointments(learner_email="", course_title="", page_size=1000).__next__()
    it = sp.list_appointments(learner_email="")
    next(it)
    assert it.total == len(everything)


# --- enrollment exam sessions --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def busy_pair(everything):
    """The (enrollment, exam) with the most appointments."""
    counts: dict[tuple[str, str], int] = {}
    for r in everything:
        if r.enrollment_sid and r.exam_sid:
            counts[(r.enrollment_sid, r.exam_sid)] = counts.get((r.enrollment_sid, r.exam_sid), 0) + 1
    return max(counts, key=counts.get)


def test_enrollment_exam_sessions(sp, faults, busy_pair):
    enrollment, exam = busy_pair
    every = list(sp.list_enrollment_exam_sessions(enrollment_sid=enrollment, exam_sid=exam, include_active=True,
                                                  page_size=1))
    assert every and len({s.sid for s in every}) == len(every)
    created = [s.created_date for s in every]
    assert created == sorted(created)
    newest_first = list(sp.list_enrollment_exam_sessions(enrollment_sid=enrollment, exam_sid=exam,
                                                         include_active=True, sort_order="DESC"))
    assert [s.sid for s in newest_first] == [s.sid for s in reversed(every)]
    status = every[0].status
    only = list(sp.list_enrollment_exam_sessions(enrollment_sid=enrollment, exam_sid=exam, status=[status],
                                                 include_active=True))
    assert only and {s.status for s in only} == {status}
    assert {s.sid for s in only} == {s.sid for s in every if s.status == status}


def test_enrollment_exam_sessions_arguments(sp, faults, leakcheck):
    with leakcheck.raises(UpstreamValidationError) as info:
        sp.list_enrollment_exam_sessions(enrollment_sid="EN1", exam_sid="EX" + "0" * 32, status=["Open"],
                                         sort_order="up")
    assert set(info.value.field_errors) == {"enrollmentSid", "status", "sortOrder"}
    with leakcheck.raises(UpstreamNotFound):
        list(sp.list_enrollment_exam_sessions(enrollment_sid="EN" + "0" * 32, exam_sid="EX" + "0" * 32))


# --- configurations and exams --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def configuration_ids(everything):
    r = next(r for r in everything if r.exam_configuration and r.exam_configuration.sid and r.course and r.exam_sid)
    return {"course_sid": r.course.sid, "exam_sid": r.exam_sid, "configuration_sid": r.exam_configuration.sid}


def test_get_and_replace_a_configuration(sp, faults, configuration_ids):
    config = sp.get_configuration(**configuration_ids)
    assert isinstance(config, ExamConfiguration) and config.sid == configuration_ids["configuration_sid"]
    assert config.edit_date is None or config.edit_date.tzinfo == timezone.utc
    body = config.update_body(studentNotes="Bring a pencil <b>&</b>", duration=95)
    updated = sp.update_configuration(**configuration_ids, body=body)
    assert updated.student_notes == "Bring a pencil <b>&</b>" and updated.duration == 95
    again = sp.get_configuration(**configuration_ids)
    assert again.student_notes == "Bring a pencil <b>&</b>" and again.duration == 95
    if config.edit_date and updated.edit_date:
        assert updated.edit_date > config.edit_date


def test_upstream_validation_errors_name_the_body_key(sp, faults, leakcheck, configuration_ids):
    config = sp.get_configuration(**configuration_ids)
    before = requests_to(faults, "configuration_update")
    with leakcheck.raises(UpstreamValidationError) as info:
        sp.update_configuration(**configuration_ids, body=config.update_body(duration="ninety"))
    assert info.value.status == 400 and list(info.value.field_errors) == ["duration"]
    assert requests_to(faults, "configuration_update") == before + 1  # a 400 is never retried
    with leakcheck.raises(UpstreamValidationError) as info:
        sp.update_configuration(**configuration_ids, body=config.update_body(
            instructorAsProctor=[{"location": "Room 1", "timeType": "between", "capacity": "lots"}]))
    assert list(info.value.field_errors) == ["instructorAsProctor.0.capacity"]


def test_datetimes_in_a_body_go_out_as_utc_z(sp, faults, configuration_ids):
    config = sp.get_configuration(**configuration_ids)
    opens = datetime(2031, 3, 4, 9, 30, tzinfo=zoneinfo.ZoneInfo("America/Chicago"))
    updated = sp.update_configuration(**configuration_ids, body=config.update_body(examOpenDate=opens))
    assert updated.exam_open_date == opens.astimezone(timezone.utc)
    assert updated.raw["examOpenDate"].endswith("Z")


def test_unknown_configuration_is_not_found(sp, faults, leakcheck, configuration_ids):
    with leakcheck.raises(UpstreamNotFound) as info:
        sp.get_configuration(**{**configuration_ids, "configuration_sid": "EC" + "0" * 32})
    assert info.value.status == 404


def test_bad_path_sids_are_refused_before_sending(sp, faults, leakcheck, configuration_ids):
    with leakcheck.raises(UpstreamValidationError) as info:
        sp.get_configuration(course_sid="CU", exam_sid="EX", configuration_sid=configuration_ids["course_sid"])
    assert set(info.value.field_errors) == {"courseSid", "examSid", "examConfigurationSid"}


def exam_body(**overrides):
    body = {
        "title": "Midterm 1", "type": "Online", "useProctorManager": True, "requireApproval": False,
        "url": "https://lms.example.edu/quiz/1", "enableAppointmentSuggestions": True,
        "examDeliverySystemModule": "canvas", "status": "draft",
        "configuration": {"duration": 60, "attempts": 1, "password": "pw",
                          "examOpenDate": datetime(2031, 1, 1, tzinfo=timezone.utc),
                          "examCloseDate": datetime(2031, 1, 2, tzinfo=timezone.utc)},
    }
    body.update(overrides)
    return body


def test_create_exam(sp, faults, configuration_ids):
    created = sp.create_exam(course_sid=configuration_ids["course_sid"], body=exam_body())
    assert created.sid.startswith("EX") and created.title == "Midterm 1"
    assert created.course_sid in (None, configuration_ids["course_sid"])


def test_create_exam_validation(sp, faults, leakcheck, configuration_ids):
    with leakcheck.raises(UpstreamValidationError) as info:
        sp.create_exam(course_sid=configuration_ids["course_sid"], body=exam_body(type="Oral"))
    assert list(info.value.field_errors) == ["type"] and info.value.status == 400


# --- credentials ---------------------------------------------------------------------------------------------------
def test_wrong_or_missing_token(faults, leakcheck, settings):
    wrong = SmarterProctoringClient.from_settings(token="not-the-token")
    with leakcheck.raises(UpstreamAuthError) as info:
        list(wrong.list_appointments())
    assert info.value.status == 403
    missing = SmarterProctoringClient.from_settings(token="")
    with leakcheck.raises(UpstreamAuthError) as info:
        list(missing.list_appointments())
    assert info.value.status == 401


def test_token_travels_in_the_token_header_only(sp, leakcheck):
    prepared = sp._session.prepare_request(__import__("requests").Request("GET", sp.base_url + "/x"))
    assert prepared.headers["token"] == __import__("os").environ["SMARTERPROCTORING_TOKEN"]
    assert "Authorization" not in prepared.headers
    assert __import__("os").environ["SMARTERPROCTORING_TOKEN"] not in prepared.url
    leakcheck.add(sp, vars(sp))


# --- paging in constant memory -------------------------------------------------------------------------------------
def _peak_while_iterating(client, limit_records: int | None) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        seen = 0
        for record in client.list_appointments(page_size=50):
            seen += 1
            if limit_records and seen >= limit_records:
                break
        return tracemalloc.get_traced_memory()[1], seen
    finally:
        tracemalloc.stop()


def test_paging_runs_in_constant_memory(sp, faults, everything):
    # The peak while streaming every record must not grow with the number of records: compare it with the peak
    # of streaming only the first two pages. (Big runs, 200,000 records, are in benchmarks/bench_client.py.)
    _peak_while_iterating(sp, 100)  # warm-up: imports, pools, pydantic caches
    small, small_seen = _peak_while_iterating(sp, 100)
    large, large_seen = _peak_while_iterating(sp, None)
    assert large_seen == len(everything) >= 5 * small_seen
    assert large < small * 1.5 + 256 * 1024, (small, large)


def test_aware_dates_only_and_utc_everywhere(everything):
    when = [r.appointment_date for r in everything if r.appointment_date]
    assert all(w.utcoffset() == timedelta(0) for w in when)
