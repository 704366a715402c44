"""Names, not IDs, on the configuration and create pages (issue 14 item 3): proctor types chosen by a name learned
from synced data (the SID when the data do not tell), modality options as fields for the known keys plus a
validated "advanced (JSON)" box, the learner of a per-student configuration, the course of the create page."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from proctordash.exams import selectors
from proctordash.exams.fields import put_body
from tests.exams.conftest import form_data

pytestmark = pytest.mark.django_db

TS_U, TS_X, TS_MIXED = "TS" + "1" * 32, "TS" + "2" * 32, "TS" + "3" * 32


def appointment(n, course, *, types, session_type, **extra):
    from proctordash.appointments.models import Appointment

    return Appointment.objects.create(
        sid=f"ES{n:032x}", course_sid=course, exam_sid="EX" + "9" * 32, session_type=session_type,
        raw={"examConfiguration": {"proctorTypes": types}}, content_hash=str(n), last_seen_at=timezone.now(),
        **extra)


def test_proctor_type_names_are_learned_from_the_appointments_when_they_agree(cfg):
    cache.clear()
    course = cfg.course_sid
    for i in range(3):
        appointment(i, course, types=[TS_U], session_type="proctoru")
    appointment(10, course, types=[TS_X], session_type="examity")  # one appointment: not enough to name it
    appointment(20, course, types=[TS_MIXED], session_type="examity")
    appointment(21, course, types=[TS_MIXED], session_type="automated")  # they disagree: not named
    appointment(30, course, types=[TS_U, TS_X], session_type="vtc")  # listed together: no vote
    appointment(40, "CU" + "0" * 32, types=["TS" + "4" * 32], session_type="vtc")  # another course
    options = dict(selectors.proctor_type_options(course_sid=course))
    assert options[TS_U] == "ProctorU"
    assert options[TS_X] == "TS2222…2222" and options[TS_MIXED] == "TS3333…3333"
    assert "TS" + "4" * 32 not in options
    assert list(options)[0] == TS_U  # named ones first


def test_the_page_offers_proctor_types_by_name_and_saves_the_chosen_sids(client_for, coordinator, clean_sandbox,
                                                                         sp, cfg):
    cache.clear()
    for i in range(3):
        appointment(i, cfg.course_sid, types=[TS_U], session_type="proctoru")
    client = client_for(coordinator)
    html = client.get(cfg.url).content.decode()
    assert f'value="{TS_U}"' in html and "ProctorU" in html
    data = form_data(html)
    data["proctor_types"] = [TS_U]
    data["proctor_types_other"] = TS_X
    assert client.post(cfg.url, data).status_code == 302
    assert sorted(sp.get_configuration(**cfg.args()).raw["proctorTypes"]) == [TS_U, TS_X]
    assert sorted(form_data(client.get(cfg.url).content.decode())["proctor_types"]) == [TS_U, TS_X]


def test_modality_options_as_fields_for_known_keys_and_json_for_the_rest(client_for, coordinator, clean_sandbox,
                                                                          sp, cfg):
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {"modalityOptions": {
        "allowScratchPaper": True, "maxScreens": 2, "cameraMode": "room-scan", "zones": ["a", "b"]}})
    client = client_for(coordinator)
    html = client.get(cfg.url).content.decode()
    data = form_data(html)
    fields = {data[f"modality_{i}_key"]: data[f"modality_{i}"] for i in range(3)}
    assert fields == {"allowScratchPaper": "true", "cameraMode": "room-scan", "maxScreens": "2"}
    assert json.loads(data["modality_options"]) == {"zones": ["a", "b"]}
    assert "Allow scratch paper" in html and "Max screens" in html
    # a wrong number names its field; a key in both places is refused; nothing is sent
    by_key = {data[f"modality_{i}_key"]: f"modality_{i}" for i in range(3)}
    bad = dict(data, **{by_key["maxScreens"]: "two", "modality_options": '{"zones": [], "cameraMode": "x"}'})
    html = client.post(cfg.url, bad).content.decode()
    assert "Max screens: enter a number" in html and "“cameraMode” is also a field above" in html
    assert sp.get_configuration(**cfg.args()).raw["modalityOptions"]["maxScreens"] == 2
    # a field edit and a JSON edit travel as one object; "not set" removes the key
    good = dict(data, **{by_key["maxScreens"]: "3", by_key["allowScratchPaper"]: "",
                         "modality_options": '{ "zones" : ["c"],  "newKey": null }'})
    assert client.post(cfg.url, good).status_code == 302
    assert sp.get_configuration(**cfg.args()).raw["modalityOptions"] == {
        "maxScreens": 3, "cameraMode": "room-scan", "zones": ["c"], "newKey": None}
    # keys seen in the course's configurations are offered on the create page too
    html = client.get(f"/courses/{cfg.course_sid}/exams/new", follow=True).content.decode()
    assert "Max screens" in html and "Camera mode" in html


def test_the_per_student_page_names_the_learner(client_for, coordinator, clean_sandbox, sp, student_cfg):
    from proctordash.appointments.models import Appointment

    raw = sp.get_configuration(**student_cfg.args()).raw
    Appointment.objects.filter(enrollment_sid=raw["enrollmentSid"]).delete()
    Appointment.objects.create(sid="ES" + "5" * 32, course_sid=student_cfg.course_sid, exam_sid=student_cfg.exam_sid,
                               enrollment_sid=raw["enrollmentSid"], learner_first_name="Grace",
                               learner_last_name="Hopper <b>", learner_email="grace@example.edu", content_hash="x",
                               last_seen_at=timezone.now())
    html = client_for(coordinator).get(student_cfg.url).content.decode()
    assert "accommodation for Grace Hopper &lt;b&gt;" in html
    assert 'href="mailto:grace@example.edu"' in html and f'title="{raw["enrollmentSid"]}"' in html
