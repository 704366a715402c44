"""The configuration page against the sandbox over HTTP: view, save, conflict, failures, guard rails, history, roles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from proctordash.core.timezones import to_utc_z
from proctordash.exams.fields import PASSWORD_MASK, put_body
from proctordash.exams.models import CachedConfiguration, ConfigurationChange
from tests.exams.conftest import form_data

pytestmark = pytest.mark.django_db


def open_form(client, cfg):
    response = client.get(cfg.url)
    assert response.status_code == 200
    return form_data(response.content.decode())


def test_page_shows_every_field_with_the_upstream_values(client_for, coordinator, clean_sandbox, sp, cfg):
    live = sp.get_configuration(**cfg.args()).raw
    html = client_for(coordinator).get(cfg.url).content.decode()
    data = form_data(html)
    for item in ["bathroom_break", "blank_paper", "calculator", "dictionary", "earplugs", "formula_sheet", "notes",
                 "textbook", "websites"]:
        assert f"permitted_{item}_information" in data
    for name in ["permitted_other_items", "exam_open_date", "exam_close_date", "schedule_open_date",
                 "schedule_close_date", "duration", "attempts", "password", "url", "required_software",
                 "student_notes", "proctor_notes", "proctor_types_other", "modality_options", "slots-TOTAL_FORMS",
                 "attachments-TOTAL_FORMS", "base"]:
        assert name in data, name
    assert data["duration"] == str(live["duration"])
    checked = data.get("proctor_types", [])
    assert sorted([checked] if isinstance(checked, str) else checked) == sorted(live["proctorTypes"])
    assert data["password"] == live["password"]  # masked input (type=password) with a reveal button
    assert 'type="password"' in html and "data-reveal" in html
    assert "Approved" in html
    assert CachedConfiguration.objects.filter(sid=cfg.sid).exists()


def test_page_names_the_course_by_its_title_beside_its_sid(client_for, coordinator, clean_sandbox, cfg):
    from proctordash.appointments.models import Course

    Course.objects.update_or_create(sid=cfg.course_sid, defaults={"title": "Organic <Chemistry> II"})
    html = client_for(coordinator).get(cfg.url).content.decode()
    assert "Course: <strong>Organic &lt;Chemistry&gt; II</strong>" in html
    assert f'title="{cfg.course_sid}"' in html and f'data-copy="{cfg.course_sid}"' in html


def test_save_sends_the_complete_configuration_and_records_history(client_for, coordinator, clean_sandbox, sp, cfg):
    before = sp.get_configuration(**cfg.args()).raw
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["duration"] = str(int(data["duration"]) + 15)
    data["permitted_calculator"] = "on"
    data["permitted_calculator_information"] = "Casio fx-82 only"
    data["password"] = "n3w-secret-pw"
    data["reason"] = "Extra time for everyone"
    response = client.post(cfg.url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    after = sp.get_configuration(**cfg.args()).raw
    assert after["duration"] == before["duration"] + 15
    assert after["permittedCalculator"] is True and after["permittedCalculatorInformation"] == "Casio fx-82 only"
    assert after["password"] == "n3w-secret-pw"
    # every other field of the PUT schema is unchanged (nothing lost by the full replacement)
    untouched = {k: v for k, v in put_body(before).items() if k not in (
        "duration", "permittedCalculator", "permittedCalculatorInformation", "password")}
    assert {k: v for k, v in put_body(after).items() if k in untouched} == untouched
    change = ConfigurationChange.objects.get(configuration_sid=cfg.sid, source="dashboard")
    assert change.user == coordinator and change.reason == "Extra time for everyone"
    labels = {d["label"]: d for d in change.diff}
    assert labels["Duration (minutes)"]["new"] == str(before["duration"] + 15)
    assert labels["Exam password"]["new"] == f"{PASSWORD_MASK} (changed)"
    assert "n3w-secret-pw" not in str(change.diff) and before["password"] not in str(change.diff)
    cached = CachedConfiguration.objects.get(sid=cfg.sid)
    assert cached.raw["duration"] == before["duration"] + 15 and "n3w-secret-pw" not in str(cached.raw)
    page = client.get(cfg.url).content.decode()
    assert "Extra time for everyone" in page and "Saved." in page


def puts(sandbox) -> int:
    return sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0)


def crlf(data: dict) -> dict:
    """The form as a browser without JavaScript submits it: every line break as CRLF (HTML standard; the HTML
    parser has already made CRLF and CR in the page LF)."""
    def one(text):
        return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")

    return {k: [one(x) for x in v] if isinstance(v, list) else one(v) for k, v in data.items()}


def test_unchanged_form_sends_nothing(client_for, coordinator, clean_sandbox, sandbox, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    before = puts(sandbox)
    response = client.post(cfg.url, data, follow=True)
    assert response.redirect_chain[0][1] == 302
    assert puts(sandbox) == before
    assert "No changes" in response.content.decode()
    assert not ConfigurationChange.objects.filter(source="dashboard").exists()


def test_crlf_line_endings_and_untouched_nulls_are_not_changes(client_for, coordinator, clean_sandbox, sandbox, sp,
                                                               cfg):
    """JavaScript off: textareas come back with CRLF. Neither that, nor a null the form shows as empty, is an
    edit: no PUT, no history. A real edit then sends those fields exactly as the upstream holds them."""
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {
        "studentNotes": "Bring your ID.\nNo phones.", "proctorNotes": "Check the desk\r\nand the walls",
        "requiredSoftware": None, "permittedOtherItems": None})
    before = sp.get_configuration(**cfg.args()).raw
    assert before["modalityOptions"] is None
    client = client_for(coordinator)
    data = crlf(open_form(client, cfg))
    assert data["student_notes"] == "Bring your ID.\r\nNo phones." and data["required_software"] == ""
    n = puts(sandbox)
    response = client.post(cfg.url, data, follow=True)
    assert "No changes" in response.content.decode() and puts(sandbox) == n
    assert not ConfigurationChange.objects.filter(source="dashboard").exists()
    # one real edit: only it changes upstream; the rest travels exactly as it was (CRLF, nulls)
    data["attempts"] = str((before["attempts"] or 1) + 1)
    assert client.post(cfg.url, data).status_code == 302
    after = sp.get_configuration(**cfg.args()).raw
    assert puts(sandbox) == n + 1
    assert after["attempts"] == (before["attempts"] or 1) + 1
    for key in ("studentNotes", "proctorNotes", "requiredSoftware", "permittedOtherItems", "modalityOptions",
                "proctorTypes", "url", "password", "examOpenDate", "duration"):
        assert after[key] == before[key], key
    change = ConfigurationChange.objects.get(source="dashboard")
    assert [d["key"] for d in change.diff] == ["attempts"]


def test_reapply_without_javascript_reapplies_only_what_the_user_changed(client_for, coordinator, clean_sandbox, sp,
                                                                         cfg):
    """The issue's case: after a conflict, "Reapply" (JS off, CRLF) overwrote a colleague's studentNotes the user
    never touched. Only the user's own fields are reapplied."""
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {"studentNotes": "Line one\nLine two"})
    client = client_for(coordinator)
    data = crlf(open_form(client, cfg))
    original = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(original) | {"studentNotes": "Colleague's\nnew notes"})
    data["duration"] = str(original["duration"] + 5)
    html = client.post(cfg.url, data).content.decode()
    assert 'data-testid="conflict"' in html
    reapplied = client.post(cfg.url, crlf(form_data(html)) | {"action": "reapply"}).content.decode()
    assert 'data-testid="reapplied"' in reapplied and "Reapplied: Duration (minutes)." in reapplied
    data2 = crlf(form_data(reapplied))
    assert data2["student_notes"] == "Colleague's\r\nnew notes"
    assert client.post(cfg.url, data2).status_code == 302
    final = sp.get_configuration(**cfg.args()).raw
    assert final["studentNotes"] == "Colleague's\nnew notes" and final["duration"] == original["duration"] + 5


def test_dates_are_entered_in_the_dashboard_zone_and_sent_as_utc_z(client_for, coordinator, clean_sandbox, sp, cfg,
                                                                   settings):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["exam_open_date"] = "2031-01-15T09:00"  # America/Chicago in tests: 15:00 UTC in January
    data["exam_close_date"] = "2031-02-15T09:00"
    data["schedule_open_date"] = "2031-01-01T09:00"
    data["schedule_close_date"] = "2031-02-14T09:00"
    assert settings.DASHBOARD_TIME_ZONE == "America/Chicago"
    assert client.post(cfg.url, data).status_code == 302
    after = sp.get_configuration(**cfg.args()).raw
    assert after["examOpenDate"] == "2031-01-15T15:00:00.000Z"
    assert after["scheduleCloseDate"] == "2031-02-14T15:00:00.000Z"


@pytest.mark.parametrize("field,value,message", [
    ("exam_close_date", "2020-01-01T00:00", "The exam must close after it opens."),
    ("duration", "0", "Duration must be at least 1 minute."),
    ("attempts", "-2", "Attempts must be at least 1."),
    ("duration", "abc", "Enter a whole number."),
    ("proctor_types_other", "TSnothex", "is not a proctor type SID"),
    ("url", "not a url at all", "Enter a valid URL."),
    ("modality_options", "[1, 2]", "must be a JSON object"),
    ("exam_open_date", "31/12/2030", "Enter a date and time"),
])
def test_invalid_values_name_the_field_and_keep_every_typed_value(client_for, coordinator, clean_sandbox, cfg,
                                                                  field, value, message):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["student_notes"] = "Typed by me — keep <this>"
    data[field] = value
    response = client.post(cfg.url, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert message in html
    assert f'id="err-{field}"' in html
    again = form_data(html)
    assert again["student_notes"] == "Typed by me — keep <this>"
    assert again[field] == value
    assert not ConfigurationChange.objects.filter(source="dashboard").exists()


def test_schedule_window_must_sit_inside_the_exam_window(client_for, coordinator, clean_sandbox, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data.update(exam_open_date="2031-01-10T09:00", exam_close_date="2031-01-20T09:00",
                schedule_open_date="2031-01-01T09:00", schedule_close_date="2031-01-25T09:00")
    html = client.post(cfg.url, data).content.decode()
    assert "Scheduling must close no later than the exam closes." in html


def test_inline_validation_fragment_names_the_field(client_for, coordinator, clean_sandbox, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["duration"] = "0"
    data["_field"] = "duration"
    response = client.post(cfg.url + "validate", data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.startswith('<p class="field-error-slot" id="err-duration"')
    assert "Duration must be at least 1 minute." in html and "data-invalid" in html
    data["duration"] = "90"
    ok = client.post(cfg.url + "validate", data, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="err-duration"' in ok and "field-error\"" not in ok and "data-invalid" not in ok


def test_slots_add_remove_and_validate(client_for, coordinator, clean_sandbox, sp, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["action"] = "add_slot"
    html = client.post(cfg.url, data).content.decode()
    data = form_data(html)
    assert data["slots-TOTAL_FORMS"] == "1" and "slots-0-location" in data
    assert "must end after" not in html  # a new empty row is not an error yet
    data.update({"slots-0-location": "Room 101", "slots-0-start_time": "2031-03-01T10:00",
                 "slots-0-end_time": "2031-03-01T09:00", "slots-0-capacity": "0"})
    html = client.post(cfg.url, data).content.decode()
    assert "The slot must end after it starts." in html and "Capacity must be at least 1." in html
    assert form_data(html)["slots-0-location"] == "Room 101"
    data.update({"slots-0-end_time": "2031-03-01T12:00", "slots-0-capacity": "12"})
    assert client.post(cfg.url, data).status_code == 302
    slots = sp.get_configuration(**cfg.args()).raw["instructorAsProctor"]
    assert slots == [{"location": "Room 101", "timeType": "between", "startTime": "2031-03-01T16:00:00.000Z",
                      "endTime": "2031-03-01T18:00:00.000Z", "capacity": 12}]
    data = open_form(client, cfg)
    data["action"] = "remove_slots:0"
    data = form_data(client.post(cfg.url, data).content.decode())
    assert data["slots-TOTAL_FORMS"] == "0"
    assert client.post(cfg.url, data).status_code == 302
    assert sp.get_configuration(**cfg.args()).raw["instructorAsProctor"] == []


def test_attachments_one_to_five(client_for, coordinator, clean_sandbox, sp, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    for i in range(6):
        data["action"] = "add_attachment"
        data = form_data(client.post(cfg.url, data).content.decode()) | {}
    data.pop("action", None)
    for i in range(int(data["attachments-TOTAL_FORMS"])):
        data[f"attachments-{i}-url"] = f"https://files.example.edu/{i}.pdf"
        data[f"attachments-{i}-title"] = f"Sheet {i}"
    if int(data["attachments-TOTAL_FORMS"]) > 5:
        html = client.post(cfg.url, data).content.decode()
        assert "Please submit at most 5 forms." in html or "at most 5" in html
        data["attachments-TOTAL_FORMS"] = "5"
    assert client.post(cfg.url, data).status_code == 302
    raw = sp.get_configuration(**cfg.args()).raw
    assert [a["attachmentAwsTitle"] for a in raw["attachments"]] == [f"Sheet {i}" for i in range(5)]


def test_conflict_is_detected_compared_and_reapplied(client_for, coordinator, clean_sandbox, sp, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    original = sp.get_configuration(**cfg.args()).raw
    # a colleague changes attempts and the notes in SmarterProctoring's own screens meanwhile
    theirs = put_body(original) | {"attempts": 7, "proctorNotes": "Colleague's note"}
    sp.update_configuration(**cfg.args(), body=theirs)
    data["duration"] = str(original["duration"] + 30)
    data["proctor_notes"] = "My note"
    response = client.post(cfg.url, data)
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="conflict"' in html
    assert "Colleague&#x27;s note" in html and "My note" in html and "both changed" in html
    after = sp.get_configuration(**cfg.args()).raw
    assert after["duration"] == original["duration"]  # nothing was sent
    assert ConfigurationChange.objects.filter(source="outside", configuration_sid=cfg.sid).exists()
    # one click: reapply onto the new version, then save
    reapplied = client.post(cfg.url, {**data, "action": "reapply"}).content.decode()
    assert 'data-testid="reapplied"' in reapplied
    data2 = form_data(reapplied)
    assert data2["attempts"] == "7" and data2["duration"] == str(original["duration"] + 30)
    assert data2["proctor_notes"] == "My note"
    assert client.post(cfg.url, data2).status_code == 302
    final = sp.get_configuration(**cfg.args()).raw
    assert final["attempts"] == 7 and final["duration"] == original["duration"] + 30
    assert final["proctorNotes"] == "My note"


@pytest.mark.parametrize("faults,said", [
    ({"configuration_update": {"error_rate": 1.0, "error_statuses": [503]}}, "server error (HTTP 503)"),
    ({"configuration_update": {"rate_limit": 1.0, "retry_after": 30}}, "rate limited"),
    ({"configuration_update": {"malformed": 1.0}}, "could not read"),
])
def test_failure_during_save_keeps_the_form_and_offers_retry(client_for, coordinator, clean_sandbox, sp, cfg,
                                                              faults, said):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    original = sp.get_configuration(**cfg.args()).raw
    data["duration"] = str(original["duration"] + 5)
    data["student_notes"] = "Keep me"
    clean_sandbox.set_faults(**faults)
    response = client.post(cfg.url, data)
    html = response.content.decode()
    assert response.status_code == 200 and said in html and "Retry save" in html
    assert form_data(html)["student_notes"] == "Keep me"
    clean_sandbox.set_faults()
    if "malformed" not in faults["configuration_update"]:
        assert sp.get_configuration(**cfg.args()).raw["duration"] == original["duration"]
    # retry: the same form again; applied exactly once
    assert client.post(cfg.url, form_data(html)).status_code == 302
    assert sp.get_configuration(**cfg.args()).raw["duration"] == original["duration"] + 5
    assert ConfigurationChange.objects.filter(source="dashboard", configuration_sid=cfg.sid).count() == 1


def test_upstream_validation_errors_are_mapped_to_their_fields(clean_sandbox, sp, cfg):
    """The sandbox's real 400 answers (hapi/Joi style, dotted keys) land on the form field they concern."""
    from django.http import QueryDict

    from proctordash.exams.forms import ConfigurationBundle
    from proctordash.integrations.exceptions import UpstreamValidationError

    raw = sp.get_configuration(**cfg.args()).raw
    bad = put_body(raw) | {"instructorAsProctor": [{"location": "Lab", "timeType": "between",
                                                    "startTime": "2031-03-01T10:00:00.000Z",
                                                    "endTime": "2031-03-01T12:00:00.000Z", "capacity": "many"}]}
    with pytest.raises(UpstreamValidationError) as caught:
        sp.update_configuration(**cfg.args(), body=bad)
    assert "instructorAsProctor.0.capacity" in caught.value.field_errors
    data = QueryDict(mutable=True)
    data.update({"slots-TOTAL_FORMS": "1", "slots-INITIAL_FORMS": "0", "slots-0-location": "Lab",
                 "slots-0-time_type": "between", "slots-0-start_time": "2031-03-01T10:00",
                 "slots-0-end_time": "2031-03-01T12:00", "slots-0-capacity": "2",
                 "attachments-TOTAL_FORMS": "0", "attachments-INITIAL_FORMS": "0"})
    bundle = ConfigurationBundle(data)
    assert bundle.is_valid()
    bundle.add_upstream_errors(caught.value.field_errors | {"duration": '"duration" must be a number',
                                                            "mystery.key": "odd"})
    errors = bundle.errors_by_name()
    assert any("capacity" in m for m in errors["slots-0-capacity"])
    assert errors["duration"] == ['SmarterProctoring: "duration" must be a number']
    assert any("mystery.key" in m for _, m in bundle.all_error_messages())


def test_cache_fallback_with_age_when_upstream_down(client_for, coordinator, clean_sandbox, cfg):
    """An old copy is shown read-only with its age; the password is never in the page."""
    client = client_for(coordinator)
    client.get(cfg.url)
    CachedConfiguration.objects.filter(sid=cfg.sid).update(fetched_at=timezone.now() - timedelta(hours=3))
    clean_sandbox.set_faults(configuration={"error_rate": 1.0, "error_statuses": [502]})
    html = client.get(cfg.url).content.decode()
    assert 'data-testid="stale-banner"' in html and "Showing the copy fetched" in html and "3 h ago" in html
    assert "server error (HTTP 502)" in html
    assert "Save configuration" not in html  # no editing from an old copy
    assert 'name="password"' in html and PASSWORD_MASK not in html.split('name="password"')[1][:200]


def test_a_fresh_copy_is_editable_and_keeps_the_password(client_for, coordinator, clean_sandbox, sp, cfg):
    """A copy read seconds ago (by the page, or by the worker when the page could not) can be edited: the save
    checks the live version first. Its password box is empty and means "keep the current password"."""
    client = client_for(coordinator)
    live = sp.get_configuration(**cfg.args()).raw
    client.get(cfg.url)
    clean_sandbox.set_faults(configuration={"error_rate": 1.0, "error_statuses": [502], "times": 4})
    html = client.get(cfg.url).content.decode()
    assert 'data-testid="stale-banner"' in html and "You can edit it" in html and "Save configuration" in html
    assert live["password"] not in html
    data = form_data(html)
    assert data["password"] == ""
    data["attempts"] = "7"
    assert client.post(cfg.url, data).status_code == 302
    after = sp.get_configuration(**cfg.args()).raw
    assert after["attempts"] == 7 and after["password"] == live["password"]  # kept, not cleared


def test_upstream_down_and_no_cache_says_so(client_for, coordinator, clean_sandbox, other_cfg):
    clean_sandbox.set_faults(configuration={"error_rate": 1.0, "error_statuses": [500]})
    response = client_for(coordinator).get(other_cfg.url)
    assert response.status_code == 200 and "cannot be shown" in response.content.decode()


def test_locked_configuration_is_read_only_with_reason(client_for, coordinator, clean_sandbox, locked_cfg):
    client = client_for(coordinator)
    html = client.get(locked_cfg.url).content.decode()
    assert 'data-testid="locked"' in html and "Save configuration" not in html and "disabled" in html


def test_save_within_24h_of_opening_needs_confirmation(client_for, coordinator, clean_sandbox, sp, cfg):
    raw = sp.get_configuration(**cfg.args()).raw
    soon = timezone.now() + timedelta(hours=5)
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {
        "examOpenDate": to_utc_z(soon), "examCloseDate": to_utc_z(soon + timedelta(days=3)),
        "scheduleOpenDate": to_utc_z(soon - timedelta(days=3)), "scheduleCloseDate": to_utc_z(soon + timedelta(days=2))})
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["attempts"] = "3"
    html = client.post(cfg.url, data).content.decode()
    assert 'data-testid="confirm"' in html and "Save anyway" in html
    assert sp.get_configuration(**cfg.args()).raw["attempts"] != 3
    data = form_data(html) | {"confirm_near_open": "yes"}
    assert client.post(cfg.url, data).status_code == 302
    assert sp.get_configuration(**cfg.args()).raw["attempts"] == 3


def test_outside_change_is_recorded_as_drift(client_for, coordinator, clean_sandbox, sp, cfg):
    client = client_for(coordinator)
    client.get(cfg.url)
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {"attempts": 9, "password": "outside-secret"})
    html = client.get(cfg.url).content.decode()
    assert "changed outside ProctorDash" in html
    change = ConfigurationChange.objects.get(source="outside", configuration_sid=cfg.sid)
    assert {d["label"] for d in change.diff} == {"Attempts allowed", "Exam password"}
    assert "outside-secret" not in str(change.diff)


def test_tampered_version_token_sends_nothing(client_for, coordinator, clean_sandbox, sandbox, cfg):
    client = client_for(coordinator)
    data = open_form(client, cfg)
    data["base"] = data["base"][:-3] + "abc"
    data["duration"] = "33"
    before = sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0)
    html = client.post(cfg.url, data).content.decode()
    assert "could not be verified" in html and form_data(html)["duration"] == "33"
    assert sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0) == before


def test_configuration_guard_rules():
    """The one rule every save applies (single page and bulk, per exam): locked; open now; opening within 24 h;
    an edit that opens the window within 24 h (or around now)."""
    from datetime import datetime, timezone as tz

    from proctordash.exams.services import configuration_guard

    now = datetime(2031, 3, 10, 12, 0, tzinfo=tz.utc)
    z = to_utc_z

    def guard(opens=None, closes=None, **kw):
        raw = {"examOpenDate": z(now + opens) if opens is not None else None,
               "examCloseDate": z(now + closes) if closes is not None else None, **kw.pop("raw", {})}
        return configuration_guard(raw=raw, now=now, **kw)

    g = guard(timedelta(days=-1), timedelta(days=2))
    assert g.open_now and g.needs_confirmation and "open now" in g.reason
    g = guard(timedelta(hours=5), timedelta(days=2))
    assert g.opens_soon and not g.open_now and g.needs_confirmation and "within 24 hours" in g.reason
    assert not guard(timedelta(hours=25), timedelta(days=2)).needs_confirmation
    assert not guard(timedelta(days=-5), timedelta(days=-1)).needs_confirmation  # closed
    assert not guard().needs_confirmation  # no window known
    assert guard(raw={"locked": True}).locked and not guard(raw={"locked": "yes"}).locked
    moved = guard(timedelta(days=10), timedelta(days=12), new_values={"examOpenDate": z(now + timedelta(hours=2))})
    assert moved.edit_opens_soon and moved.needs_confirmation
    reopened = guard(timedelta(days=-9), timedelta(days=-2),
                     new_values={"examOpenDate": z(now - timedelta(days=9)), "examCloseDate": z(now + timedelta(1))})
    assert reopened.needs_confirmation


def set_window(sp, cfg, opens, closes):
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {
        "examOpenDate": to_utc_z(opens), "examCloseDate": to_utc_z(closes),
        "scheduleOpenDate": to_utc_z(opens - timedelta(days=3)), "scheduleCloseDate": to_utc_z(closes - timedelta(hours=1))})


def test_an_open_exam_warns_when_the_page_opens_and_saving_needs_confirmation(client_for, coordinator,
                                                                              clean_sandbox, sandbox, sp, cfg):
    now = timezone.now()
    set_window(sp, cfg, now - timedelta(days=1), now + timedelta(days=3))
    client = client_for(coordinator)
    html = client.get(cfg.url).content.decode()
    assert 'data-testid="guard-open"' in html and "This exam is open now" in html
    assert 'data-testid="confirm"' in html and 'name="confirm_near_open"' in html  # asked before Save, not after
    data = form_data(html)
    assert "confirm_near_open" not in data
    data["attempts"] = "5"
    n = puts(sandbox)
    html = client.post(cfg.url, data).content.decode()
    assert 'data-testid="confirm"' in html and "open now" in html and puts(sandbox) == n
    assert client.post(cfg.url, form_data(html) | {"confirm_near_open": "yes"}).status_code == 302
    assert sp.get_configuration(**cfg.args()).raw["attempts"] == 5


def test_an_exam_opening_within_24_hours_warns_when_the_page_opens(client_for, coordinator, clean_sandbox, sp, cfg):
    now = timezone.now()
    set_window(sp, cfg, now + timedelta(hours=6), now + timedelta(days=3))
    html = client_for(coordinator).get(cfg.url).content.decode()
    assert 'data-testid="guard-soon"' in html and "This exam opens in 6" in html
    assert 'data-testid="confirm"' in html


def test_a_closed_or_distant_exam_shows_no_guard(client_for, coordinator, clean_sandbox, cfg):
    html = client_for(coordinator).get(cfg.url).content.decode()
    assert "data-testid=\"guard-" not in html and 'data-testid="confirm"' not in html


def test_pages_that_show_the_password_are_never_stored(client_for, coordinator, clean_sandbox, sp, cfg):
    """Issue 17 item 3 (page side): the password read live is in these responses, so no cache may keep them."""
    client = client_for(coordinator)
    live = sp.get_configuration(**cfg.args()).raw
    page = client.get(cfg.url)
    assert live["password"] in page.content.decode()
    data = form_data(page.content.decode())
    data["duration"] = "0"
    rerender = client.post(cfg.url, data, HTTP_HX_REQUEST="true")
    new = client.get(f"/courses/{cfg.course_sid}/exams/new", follow=True)
    for response in (page, rerender, new):
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
