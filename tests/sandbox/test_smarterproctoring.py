"""Contract tests: the sandbox's SmarterProctoring v1 against the reference pages and docs/architecture.md."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from proctordash.core.vocabulary import APPOINTMENT_STATUSES, APPOINTMENT_TYPES, PERMITTED_ITEMS

ENVELOPE = ["total", "first", "next", "prev", "last", "count", "offset", "results"]
APPOINTMENTS = "/v1/installs/{install}/reports/appointments"


def ts(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


def assert_joi_400(response, key: str, source: str = "query"):
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert body["validation"] == {"source": source, "keys": [key]}
    label = key.split(".")[-1] if not key.split(".")[-1].isdigit() else key.split(".")[0]
    assert label in body["message"]


# --- authentication and path ---------------------------------------------------------------------------------------
def test_missing_token_is_401_and_wrong_token_403(upstream):
    missing = upstream.sp("GET", APPOINTMENTS, token=None)
    assert missing.status_code == 401
    assert missing.json()["statusCode"] == 401 and missing.json()["error"] == "Unauthorized"
    wrong = upstream.sp("GET", APPOINTMENTS, token="not-the-token")
    assert wrong.status_code == 403
    assert wrong.json()["error"] == "Forbidden"


def test_install_sid_pattern_and_unknown_install(upstream):
    assert_joi_400(upstream.sp("GET", "/v1/installs/AI123/reports/appointments"), "installSid", "params")
    other = "AI" + "0" * 32
    assert upstream.sp("GET", f"/v1/installs/{other}/reports/appointments").status_code == 404


# --- List Appointments: envelope and paging ------------------------------------------------------------------------
def test_envelope_is_exactly_as_documented(upstream):
    response = upstream.appointments()
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ENVELOPE
    assert body["count"] == len(body["results"]) == 100  # default limit
    assert body["offset"] == 0 and body["prev"] is None
    record = body["results"][0]
    for key in ["sid", "examSid", "enrollmentSid", "status", "sessionType", "appointmentDate", "reviewRequired",
                "exam", "enrollment", "course"]:
        assert key in record
    assert record["sid"].startswith("ES") and len(record["sid"]) == 34


def test_links_are_absolute_urls_with_the_same_query_and_a_new_offset(upstream):
    body = upstream.appointments(limit=50, offset=100, status="Closed").json()
    total = body["total"]
    assert total > 150
    for name, expected in [("first", 0), ("next", 150), ("prev", 50), ("last", ((total - 1) // 50) * 50)]:
        parts = urlsplit(body[name])
        assert parts.scheme == "http" and parts.netloc == urlsplit(upstream.url).netloc
        query = parse_qs(parts.query)
        assert query["offset"] == [str(expected)]
        assert query["limit"] == ["50"] and query["status"] == ["Closed"]
    # following `next` to the end visits every record once, and the last page has no `next`
    seen, url = [], body["first"]
    while url:
        page = upstream.sp("GET", url.removeprefix(upstream.url)).json()
        seen += [r["sid"] for r in page["results"]]
        last_page = page
        url = page["next"]
    assert len(seen) == len(set(seen)) == total
    assert last_page["next"] is None


def test_limit_is_capped_at_1000_and_zero_returns_none(upstream):
    body = upstream.appointments(limit=5000).json()
    assert body["count"] == min(1000, body["total"])
    empty = upstream.appointments(limit=0).json()
    assert empty["count"] == 0 and empty["results"] == [] and empty["total"] > 0


def test_offset_past_the_end_is_an_empty_page(upstream):
    body = upstream.appointments(offset=100000).json()
    assert body["results"] == [] and body["next"] is None and body["prev"] is not None


def test_order_is_appointment_date_then_sid_with_nulls_last(upstream):
    records = upstream.all_appointments()
    keys = [(r["appointmentDate"] is None, ts(r["appointmentDate"]) or 0, r["sid"]) for r in records]
    assert keys == sorted(keys)
    assert records[-1]["appointmentDate"] is None  # some Needs Proctor appointments have no date


# --- List Appointments: every filter, with the documented semantics ------------------------------------------------
def review_status(r):
    if r["reviewRequired"] is not True:
        return "not-required"
    return "complete" if r["reviewCompletedDate"] else "pending"


def contains(value, needle):
    return value is not None and needle.lower() in value.lower()


def test_every_filter_is_accepted_and_means_what_the_architecture_says(upstream):
    records = upstream.all_appointments()
    sample = next(r for r in records if r["course"].get("offering") and r["enrollment"]["firstName"]
                  and r["reviewRequired"] and r["appointmentDate"])
    middle = sorted(r["appointmentDate"] for r in records if r["appointmentDate"])[len(records) // 2]
    cases = {
        "courseSid": (sample["course"]["sid"], lambda r, v: r["course"]["sid"] == v),
        "examSid": (sample["examSid"], lambda r, v: r["examSid"] == v),
        "courseOfferingSid": (sample["course"]["offering"]["sid"],
                              lambda r, v: (r["course"].get("offering") or {}).get("sid") == v),
        "type": (sample["sessionType"], lambda r, v: r["sessionType"] == v),
        "status": ("Closed", lambda r, v: r["status"] == v),
        "reviewStatus": ("pending", lambda r, v: review_status(r) == v),
        "examStatus": ("active", lambda r, v: r["exam"]["status"] == v),
        "appointmentAfter": (middle, lambda r, v: r["appointmentDate"] is not None
                             and ts(r["appointmentDate"]) >= ts(v)),
        "appointmentBefore": (middle, lambda r, v: r["appointmentDate"] is not None
                              and ts(r["appointmentDate"]) < ts(v)),
        "learnerFirstName": (sample["enrollment"]["firstName"][:2].upper(),
                             lambda r, v: contains(r["enrollment"]["firstName"], v)),
        "learnerLastName": ("o", lambda r, v: contains(r["enrollment"]["lastName"], v)),
        "learnerEmail": ("EXAMPLE.EDU", lambda r, v: contains(r["enrollment"]["email"], v)),
        "learnerSid": (sample["enrollment"]["userSid"][2:12], lambda r, v: contains(r["enrollment"]["userSid"], v)),
        "courseTitle": (sample["course"]["title"][1:5].swapcase(), lambda r, v: contains(r["course"]["title"], v)),
        "examTitle": (sample["exam"]["title"][:3].upper(), lambda r, v: contains(r["exam"]["title"], v)),
    }
    for name, (value, keep) in cases.items():
        expected = [r["sid"] for r in records if keep(r, value)]
        body = upstream.appointments(**{name: value}, limit=1000).json()
        assert [r["sid"] for r in body["results"]] == expected, name
        assert body["total"] == len(expected)
        assert 0 < len(expected) < len(records) or name == "examStatus", name


def test_filters_combine(upstream):
    records = upstream.all_appointments()
    course = records[0]["course"]["sid"]
    expected = [r["sid"] for r in records if r["course"]["sid"] == course and r["status"] == "Closed"]
    body = upstream.appointments(courseSid=course, status="Closed", limit=1000).json()
    assert [r["sid"] for r in body["results"]] == expected


@pytest.mark.parametrize("name,value", [
    ("offset", "-1"), ("offset", "abc"), ("offset", "1.5"), ("limit", "-5"), ("limit", "ten"),
    ("courseSid", "CU123"), ("courseSid", "EX" + "a" * 32), ("courseSid", "CU" + "A" * 32), ("courseSid", ""),
    ("examSid", "EXnothex" + "0" * 26), ("courseOfferingSid", "CU" + "0" * 32),
    ("type", "zoom"), ("status", "scheduled"), ("reviewStatus", "done"), ("examStatus", "archived"),
    ("appointmentAfter", "2026-01-01T00:00:00"), ("appointmentAfter", "2026-01-01T00:00:00+00:00"),
    ("appointmentBefore", "yesterdayZ"),
    ("learnerFirstName", "50%"), ("learnerLastName", "%"), ("learnerEmail", "a%b"), ("learnerSid", "%US"),
    ("courseTitle", "100%"), ("examTitle", "%"),
    ("unknownParameter", "1"),
])
def test_invalid_values_are_rejected_naming_the_parameter(upstream, name, value):
    assert_joi_400(upstream.appointments(**{name: value}), name)


def test_repeated_scalar_parameter_is_rejected(upstream):
    response = upstream.sp("GET", APPOINTMENTS + "?status=Closed&status=Scheduled")
    assert_joi_400(response, "status")


def test_all_enum_values_are_accepted(upstream):
    for value in APPOINTMENT_TYPES:
        assert upstream.appointments(type=value, limit=1).status_code == 200
    for value in APPOINTMENT_STATUSES:
        assert upstream.appointments(status=value, limit=1).status_code == 200


# --- realistic data ------------------------------------------------------------------------------------------------
def test_data_has_nulls_absent_objects_and_hostile_text(upstream):
    records = upstream.all_appointments()
    assert {r["status"] for r in records} >= {"Scheduled", "Closed", "Cancelled", "Needs Proctor"}
    assert any(r["instructorProctorSid"] is None for r in records)
    assert any(r["instructorProctorSid"] is not None for r in records)
    assert any("examConfiguration" not in r for r in records)
    assert any("offering" not in r["course"] for r in records)
    names = " ".join(f"{r['enrollment']['firstName']} {r['enrollment']['lastName']}" for r in records)
    assert any(ord(ch) > 127 for ch in names)
    text = " ".join(f"{r['enrollment']['firstName']}|{r['enrollment']['lastName']}|{r['exam']['title']}|"
                    f"{r['course']['title']}" for r in records)
    assert "<" in text or "=" in text or "+" in text
    configs = [r["examConfiguration"] for r in records if "examConfiguration" in r]
    assert any(c["enrollmentSid"] for c in configs) and any(c["enrollmentSid"] is None for c in configs)


# --- List enrollment exam sessions ---------------------------------------------------------------------------------
def _enrollment_with_sessions(upstream):
    records = upstream.all_appointments()
    counts = {}
    for r in records:
        counts.setdefault((r["enrollmentSid"], r["examSid"]), []).append(r)
    return max(counts.items(), key=lambda item: len(item[1]))


def test_sessions_envelope_filters_and_sorting(upstream):
    (enrollment, exam), appts = _enrollment_with_sessions(upstream)
    path = f"/v1/installs/{{install}}/enrollments/{enrollment}/exams/{exam}/sessions"
    body = upstream.sp("GET", path, params={"includeActive": "true"}).json()
    assert list(body) == ENVELOPE
    assert {r["sid"] for r in body["results"]} == {a["sid"] for a in appts}
    assert list(body["results"][0]) == ["sid", "status", "sessionType", "appointmentDate", "createdDate", "editDate"]
    asc = [r["createdDate"] for r in body["results"]]
    assert asc == sorted(asc)
    desc = upstream.sp("GET", path, params={"includeActive": "true", "sortKeys": "createdDate",
                                            "sortOrder": "DESC"}).json()
    assert [r["createdDate"] for r in desc["results"]] == sorted(asc, reverse=True)
    status = body["results"][0]["status"]
    only = upstream.sp("GET", path + f"?status[]={status}&includeActive=true").json()
    assert only["total"] >= 1 and all(r["status"] == status for r in only["results"])
    paged = upstream.sp("GET", path, params={"limit": 1, "offset": 0, "includeActive": "true"}).json()
    assert paged["count"] == 1 and (paged["next"] is not None) == (body["total"] > 1)


def test_sessions_in_progress_only_with_include_active(upstream, sandbox):
    records = upstream.all_appointments()
    live = next(r for r in records if r["status"] == "In Progress")
    path = f"/v1/installs/{{install}}/enrollments/{live['enrollmentSid']}/exams/{live['examSid']}/sessions"
    without = upstream.sp("GET", path).json()
    with_active = upstream.sp("GET", path, params={"includeActive": "true"}).json()
    assert live["sid"] not in {r["sid"] for r in without["results"]}
    assert live["sid"] in {r["sid"] for r in with_active["results"]}


@pytest.mark.parametrize("name,value,key", [
    ("sortKeys", "editDate", "sortKeys.0"), ("sortOrder", "asc", "sortOrder"), ("status", "Open", "status.0"),
    ("includeActive", "yes", "includeActive"), ("offset", "-1", "offset"), ("limit", "x", "limit"),
    ("page", "1", "page"),
])
def test_sessions_invalid_values(upstream, name, value, key):
    (enrollment, exam), _ = _enrollment_with_sessions(upstream)
    path = f"/v1/installs/{{install}}/enrollments/{enrollment}/exams/{exam}/sessions"
    assert_joi_400(upstream.sp("GET", path, params={name: value}), key)


def test_sessions_path_sids_are_validated(upstream):
    response = upstream.sp("GET", "/v1/installs/{install}/enrollments/ENxyz/exams/" + "EX" + "0" * 32 + "/sessions")
    assert_joi_400(response, "enrollmentSid", "params")
    unknown = upstream.sp("GET", "/v1/installs/{install}/enrollments/EN" + "0" * 32 + "/exams/EX" + "0" * 32
                          + "/sessions")
    assert unknown.status_code == 404


# --- Get / Update Configuration ------------------------------------------------------------------------------------
def _config_path(upstream, *, student: bool = False):
    records = upstream.all_appointments()
    r = next(r for r in records if "examConfiguration" in r and bool(r["examConfiguration"]["enrollmentSid"]) == student)
    c = r["examConfiguration"]
    return f"/v1/installs/{{install}}/courses/{r['course']['sid']}/exams/{r['examSid']}/configurations/{c['sid']}", c


UPDATE_KEYS = ["instructorAsProctor", *[f"permitted{i}" for i in PERMITTED_ITEMS],
               *[f"permitted{i}Information" for i in PERMITTED_ITEMS], "permittedOtherItems"]


def full_body(current: dict) -> dict:
    body = {key: current[key] for key in UPDATE_KEYS}
    body["instructorAsProctor"] = []
    for key in ["examOpenDate", "examCloseDate", "scheduleOpenDate", "scheduleCloseDate", "password"]:
        if current.get(key) is not None:
            body[key] = current[key]
    for key in ["url", "requiredSoftware", "studentNotes", "proctorNotes"]:
        body[key] = current.get(key)
    body["duration"] = current["duration"]
    return body


def test_get_configuration_returns_the_update_response_shape(upstream):
    path, nested = _config_path(upstream, student=True)
    response = upstream.sp("GET", path)
    assert response.status_code == 200
    config = response.json()
    assert config["sid"] == nested["sid"]
    assert config["enrollmentSid"] == nested["enrollmentSid"]
    assert config["referenceExamConfigurationSid"].startswith("EC")
    for key in ["type", "attemptsRemaining", "locked", "apiExamId", "createdDate", "editDate", *UPDATE_KEYS]:
        assert key in config


def test_put_is_a_full_replacement_and_bumps_edit_date(upstream):
    path, _ = _config_path(upstream)
    before = upstream.sp("GET", path).json()
    body = full_body(before)
    body["permittedCalculator"] = True
    body["permittedCalculatorInformation"] = "Any non-graphing calculator"
    body["studentNotes"] = None
    body["duration"] = 95
    body.pop("examOpenDate", None)  # omitted optional field: cleared, not kept
    body["instructorAsProctor"] = [{"location": "Room 101", "timeType": "between",
                                    "startTime": "2030-01-01T09:00:00.000Z", "endTime": "2030-01-01T11:00:00.000Z",
                                    "capacity": 20}]
    response = upstream.sp("PUT", path, json=body)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["permittedCalculator"] is True and after["duration"] == 95
    assert after["permittedCalculatorInformation"] == "Any non-graphing calculator"
    assert after["examOpenDate"] is None and after["studentNotes"] is None
    assert after["instructorAsProctor"][0]["capacity"] == 20
    assert ts(after["editDate"]) > ts(before["editDate"])
    assert after["createdDate"] == before["createdDate"] and after["sid"] == before["sid"]
    assert upstream.sp("GET", path).json() == after  # the write survives
    # the appointment report shows the new configuration too
    records = upstream.appointments(examSid=before["examSid"], limit=1000).json()["results"]
    nested = [r["examConfiguration"] for r in records if r.get("examConfiguration", {}).get("sid") == before["sid"]]
    assert nested and all(c["duration"] == 95 for c in nested)


@pytest.mark.parametrize("mutate,key", [
    (lambda b: b.pop("permittedNotes"), "permittedNotes"),
    (lambda b: b.pop("permittedNotesInformation"), "permittedNotesInformation"),
    (lambda b: b.pop("instructorAsProctor"), "instructorAsProctor"),
    (lambda b: b.pop("permittedOtherItems"), "permittedOtherItems"),
    (lambda b: b.update(permittedCalculator="yes"), "permittedCalculator"),
    (lambda b: b.update(examCloseDate="2030-01-01T00:00:00"), "examCloseDate"),
    (lambda b: b.update(enrollmentSid="EN123"), "enrollmentSid"),
    (lambda b: b.update(refConfigSid="EX" + "0" * 32), "refConfigSid"),
    (lambda b: b.update(proctorTypes=["TS" + "0" * 32, "nope"]), "proctorTypes.1"),
    (lambda b: b.update(duration="ninety"), "duration"),
    (lambda b: b.update(attempts=1.5), "attempts"),
    (lambda b: b.update(attachments=[]), "attachments"),
    (lambda b: b.update(attachments=[{"attachmentUrl": "u", "attachmentAwsTitle": "t"}] * 6), "attachments"),
    (lambda b: b.update(instructorAsProctor=[{"capacity": "lots"}]), "instructorAsProctor.0.capacity"),
    (lambda b: b.update(instructorAsProctor=[{"timeType": "during"}]), "instructorAsProctor.0.timeType"),
    (lambda b: b.update(sid="EC" + "0" * 32), "sid"),
    (lambda b: b.update(modalityOptions=[]), "modalityOptions"),
])
def test_put_rejects_missing_required_fields_and_bad_values(upstream, mutate, key):
    path, _ = _config_path(upstream)
    before = upstream.sp("GET", path).json()
    body = full_body(before)
    mutate(body)
    assert_joi_400(upstream.sp("PUT", path, json=body), key, "payload")
    assert upstream.sp("GET", path).json() == before  # nothing half-applied


def test_put_rejects_non_json_and_wrong_paths(upstream):
    path, _ = _config_path(upstream)
    bad_json = upstream.sp("PUT", path, data=b"{not json", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and bad_json.json()["message"] == "Invalid request payload JSON format"
    assert upstream.sp("PUT", path, data=b"x=1", headers={"Content-Type": "text/plain"}).status_code == 415
    parts = path.split("/")
    parts[parts.index("courses") + 1] = "CU" + "0" * 32
    wrong_course = "/".join(parts)
    assert upstream.sp("GET", wrong_course).status_code == 404
    assert_joi_400(upstream.sp("GET", path[:-34] + "ECshort"), "examConfigurationSid", "params")


# --- Create Exam ---------------------------------------------------------------------------------------------------
def exam_body(**overrides):
    body = {
        "title": "Midterm Exam 1", "type": "Online", "useProctorManager": True, "requireApproval": False,
        "url": "https://lms.example.edu/quiz/1", "enableAppointmentSuggestions": True,
        "examDeliverySystemModule": "canvas",
        "configuration": {"password": "s3cret", "duration": 90, "attempts": 1,
                          "examOpenDate": "2030-01-01T00:00:00.000Z", "permittedCalculator": True,
                          "permittedCalculatorInformation": None, "virtualCalculatorType": "scientific-calc"},
        "description": "Covers chapters 1-5", "contactUserSid": "US" + "1" * 32, "isLimitedScope": False,
        "status": "active",
    }
    body.update(overrides)
    return body


def test_create_exam_returns_the_documented_object_and_its_configuration_is_gettable(upstream):
    course = upstream.all_appointments()[0]["course"]["sid"]
    response = upstream.sp("POST", f"/v1/installs/{{install}}/courses/{course}/exams", json=exam_body())
    assert response.status_code == 200, response.text
    exam = response.json()
    for key in ["sessionStatus", "sid", "courseSid", "applicationInstallSid", "title", "bVirtualTitle", "type",
                "description", "useProctorManager", "requireApproval", "enableAppointmentSuggestions", "url",
                "status", "createdDate", "editDate", "contactUserSid", "examDeliverySystemModule", "summary",
                "pendingApprovals", "openSessionEvents", "course", "configuration", "examSession", "instructorName",
                "courseName", "totalSessions", "needsProctorSessions", "scriptName", "systemName", "isLimitedScope",
                "platformVersion"]:
        assert key in exam
    assert exam["sid"].startswith("EX") and exam["courseSid"] == course and exam["title"] == "Midterm Exam 1"
    assert exam["applicationInstallSid"] == upstream.install
    config_sid = exam["configuration"]["sid"]
    got = upstream.sp("GET", f"/v1/installs/{{install}}/courses/{course}/exams/{exam['sid']}/configurations/"
                             f"{config_sid}")
    assert got.status_code == 200
    assert got.json()["duration"] == 90 and got.json()["password"] == "s3cret"


def test_create_written_exam_needs_no_url_and_defaults_apply(upstream):
    course = upstream.all_appointments()[0]["course"]["sid"]
    body = exam_body(type="Written", configuration={"duration": 60})
    del body["url"], body["status"], body["isLimitedScope"]
    exam = upstream.sp("POST", f"/v1/installs/{{install}}/courses/{course}/exams", json=body).json()
    assert exam["status"] == "active" and exam["isLimitedScope"] is False and exam["url"] is None


@pytest.mark.parametrize("change,key", [
    ({"title": None}, "title"), ({"type": "Oral"}, "type"), ({"useProctorManager": "true"}, "useProctorManager"),
    ({"status": "archived"}, "status"), ({"contactUserSid": "US1"}, "contactUserSid"),
    ({"url": None}, "url"), ({"configuration": {"duration": 60}}, "configuration.password"),
    ({"configuration": "none"}, "configuration"), ({"configuration": {"password": "x", "color": "red"}},
                                                   "configuration.color"),
    ({"examDeliverySystemModule": ""}, "examDeliverySystemModule"), ({"extra": 1}, "extra"),
])
def test_create_exam_validation(upstream, change, key):
    course = upstream.all_appointments()[0]["course"]["sid"]
    body = exam_body(**change)
    if change.get("title", 1) is None:
        del body["title"]
    assert_joi_400(upstream.sp("POST", f"/v1/installs/{{install}}/courses/{course}/exams", json=body), key,
                   "payload")


def test_create_exam_for_unknown_course_is_404(upstream):
    response = upstream.sp("POST", "/v1/installs/{install}/courses/CU" + "0" * 32 + "/exams", json=exam_body())
    assert response.status_code == 404
