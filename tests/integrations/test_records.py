"""Records: tolerant of nulls and unknown fields, dates as aware UTC, raw JSON kept, malformed rejected."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from proctordash.integrations.exceptions import UpstreamBadResponse
from proctordash.integrations.proctorexam.schemas import StudentSession
from proctordash.integrations.smarterproctoring.schemas import Appointment, ExamConfiguration

# The reference page's example student (proctorexam-list-student-sessions.txt), trimmed.
PE_STUDENT = {
    "id": 1, "session_id": None, "student_id": None, "exam_id": 1, "time_slot": 1, "status": "exam_finished",
    "created_at": "2018-11-17T17:01:25.788+01:00", "start_time": "2018-11-17T17:09:39.373+01:00",
    "end_time": "2018-11-17T17:10:19.477+01:00", "expires_at": None, "reviewed": "10", "name": "Student 1",
    "email": "student1@example.com", "token": None, "rtc_session_ids": [], "entered_room": True,
    "incidents": [{"id": 1, "student_session_id": 1, "comment": "comment", "created_at":
                   "2018-11-17T17:10:19.477+01:00", "updated_at": "2018-11-17T17:10:19.477+01:00", "offset_time": 0}],
}


def parse(cls, data):
    return cls.parse(data, upstream="test", endpoint="GET /x")


def test_the_documented_example_student_parses_to_utc():
    s = parse(StudentSession, PE_STUDENT)
    assert s.start_time == datetime(2018, 11, 17, 16, 9, 39, 373000, tzinfo=timezone.utc)
    assert s.start_time.tzinfo is timezone.utc and s.incidents[0].comment == "comment"
    assert s.raw is PE_STUDENT and not hasattr(s, "rtc_session_ids")


def test_every_nullable_field_may_be_null_or_absent():
    a = parse(Appointment, {"sid": "ES" + "1" * 32, "exam": None, "course": {"offering": None},
                            "examConfiguration": {"instructorAsProctor": None, "duration": None},
                            "appointmentDate": None, "reviewRequired": None, "somethingNew": {"x": 1}})
    assert a.exam is None and a.course.offering is None and a.exam_configuration.instructor_as_proctor == []
    assert a.review_status == "not-required" and a.raw["somethingNew"] == {"x": 1}
    assert parse(ExamConfiguration, {"sid": "EC" + "1" * 32}).duration is None


def test_z_dates_and_empty_strings():
    a = parse(Appointment, {"sid": "x", "appointmentDate": "2030-01-02T03:04:05.678Z", "dateApproved": ""})
    assert a.appointment_date == datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)
    assert a.date_approved is None


@pytest.mark.parametrize("cls, data, where", [
    (Appointment, {"status": "Scheduled"}, "sid"),
    (Appointment, {"sid": ""}, "sid"),
    (Appointment, {"sid": "x", "appointmentDate": "next tuesday"}, "appointmentDate"),
    (Appointment, {"sid": "x", "sessionReportCount": "many"}, "sessionReportCount"),
    (Appointment, {"sid": "x", "exam": "EX1"}, "exam"),
    (StudentSession, {"status": "registered"}, "id"),
    (StudentSession, {"id": 1, "incidents": [{"comment": "no id"}]}, "incidents.0.id"),
    (ExamConfiguration, ["not", "an", "object"], "object"),
])
def test_malformed_records_are_bad_responses_naming_the_field(cls, data, where):
    with pytest.raises(UpstreamBadResponse) as info:
        parse(cls, data)
    assert where in str(info.value)
    assert "next tuesday" not in str(info.value)  # values (personal data) are not echoed


def test_update_body_is_a_full_replacement_without_read_only_fields():
    config = parse(ExamConfiguration, {
        "sid": "EC" + "1" * 32, "duration": 60, "attempts": None, "locked": True, "approvedBy": "x",
        "referenceExamConfigurationSid": "EC" + "2" * 32, "studentNotes": None,
        "instructorAsProctor": [{"location": "A", "timeType": "between", "capacity": 3, "extra": 1}],
        "permittedCalculator": True, "permittedCalculatorInformation": None})
    body = config.update_body(duration=90)
    assert body["duration"] == 90 and body["refConfigSid"] == "EC" + "2" * 32
    assert "attempts" not in body and "locked" not in body and "approvedBy" not in body and "sid" not in body
    assert body["studentNotes"] is None and body["permittedCalculatorInformation"] is None
    assert body["instructorAsProctor"] == [{"location": "A", "timeType": "between", "capacity": 3}]


def test_nested_objects_are_checked_up_front_for_shape_and_their_fields_on_first_read():
    a = parse(Appointment, {"sid": "x", "enrollment": {"firstName": "Ana", "createdDate": "next tuesday"},
                            "course": {"sid": "CU1", "offering": {"startDate": "2030-01-02T00:00:00Z"}}})
    assert a.course.offering.start_date == datetime(2030, 1, 2, tzinfo=timezone.utc) and a.course_sid == "CU1"
    assert a.raw["enrollment"]["createdDate"] == "next tuesday"  # the JSON as sent, whatever it holds
    with pytest.raises(UpstreamBadResponse) as info:
        a.enrollment  # noqa: B018 - validated on first access
    assert "enrollment.createdDate" in str(info.value) and "next tuesday" not in str(info.value)
    with pytest.raises(UpstreamBadResponse, match="enrollment.createdDate"):
        a.check_nested()  # what the sync calls before writing a record
    assert parse(Appointment, {"sid": "y", "exam": {"title": "T"}}).check_nested().exam.title == "T"


@pytest.mark.parametrize("body, expected", [
    (b'{"name": "Ada\\u0000 L", "list": ["\\u0000x"], "k\\u0000": 1}', {"name": "Ada L", "list": ["x"], "k": 1}),
    (b'{"score": NaN, "max": Infinity, "min": -Infinity, "ok": 1.5}', {"score": None, "max": None, "min": None, "ok": 1.5}),
])
def test_decoded_json_holds_nothing_postgresql_refuses(body, expected):
    """NUL in a string and NaN/Infinity (which the standard library reads though JSON has no such thing): jsonb and
    text refuse both, so one such value would sink a cache write, a history entry or a page."""
    import requests

    from proctordash.integrations.base import decode_json

    response = requests.Response()
    response._content, response.status_code, response.encoding = body, 200, "utf-8"
    assert decode_json(response, upstream="test", endpoint="GET /x") == expected


def test_json_that_is_not_json_is_a_bad_response():
    import requests

    from proctordash.integrations.base import decode_json

    response = requests.Response()
    response._content, response.status_code, response.encoding = b'{"a": nope}', 200, "utf-8"
    with pytest.raises(UpstreamBadResponse):
        decode_json(response, upstream="test", endpoint="GET /x")
