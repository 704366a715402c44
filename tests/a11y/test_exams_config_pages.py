"""The configuration, create-exam and accommodation pages in their main states, over real synced data, at 1366×900
and 390 px wide (issue 14 items 3–4, issue 15 item 2): axe-core clean under the WCAG 2.2 AA rules (every violation,
whatever its impact; target size included), no horizontal page scroll, nothing wider than the window, every landmark
named, any sideways-scrolling box reachable by keyboard and labelled. Names, not SIDs: the create page names the
course, the per-student page the learner (name and e-mail), proctor types by name where the synced data tell it.
Screenshots (configuration-<width>.png, create-<width>.png) go to $EXAMS_SCREENSHOT_DIR (docs/screens with
EXAMS_SCREENSHOT_DIR=docs/screens)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.a11y.test_appointments_pages import WIDTHS
from tests.a11y.test_monitoring_pages import check
from tests.exams.conftest import _pick, form_data, instructor_of  # noqa: F401
from tests.exams.test_browser import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def states(clean_sandbox, synced, world, coordinator, sp):
    """A configuration with history, a per-student one whose learner the appointment cache names, an exam open now,
    a creation whose answer was lost and a background save."""
    from proctordash.appointments.models import Appointment
    from proctordash.core.timezones import to_utc_z
    from proctordash.exams import services
    from proctordash.exams.fields import put_body
    from proctordash.exams.models import ConfigurationSave, ExamCreation
    from tests.exams.conftest import settle_window

    cfg, open_cfg = _pick(world), _pick(world, skip=1)
    student = _pick(world, per_student=True, online=False)
    settle_window(sp, cfg)
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {
        "studentNotes": "Bring your student ID.\nNo phones on the desk.", "modalityOptions": {
            "allowScratchPaper": True, "maxScreens": 1, "cameraMode": "room-scan", "extra": {"nested": [1, 2]}}})
    loaded = services.configuration_get(**cfg.args(), client=sp)
    services.configuration_update(user=coordinator, **cfg.args(), base_hash="", base_values=loaded.values,
                                  new_values={**loaded.values, "attempts": (loaded.values["attempts"] or 1) + 1},
                                  reason="One more attempt allowed",
                                  client=sp, confirmed=True)
    now = timezone.now()
    raw = sp.get_configuration(**open_cfg.args()).raw
    sp.update_configuration(**open_cfg.args(), body=put_body(raw) | {
        "examOpenDate": to_utc_z(now - timedelta(hours=3)), "examCloseDate": to_utc_z(now + timedelta(days=2)),
        "scheduleOpenDate": to_utc_z(now - timedelta(days=4)), "scheduleCloseDate": to_utc_z(now + timedelta(days=1))})
    sraw = sp.get_configuration(**student.args()).raw
    learner = Appointment.objects.filter(enrollment_sid=sraw["enrollmentSid"]).first()
    if learner is None:
        Appointment.objects.create(sid="ES" + "6" * 32, exam_sid=student.exam_sid, course_sid=student.course_sid,
                                   enrollment_sid=sraw["enrollmentSid"], configuration_sid=student.sid,
                                   learner_first_name="Anaïs", learner_last_name="Ferreira-Gonçalves",
                                   learner_email="anais.fg@example.edu", content_hash="x", last_seen_at=now)
    creation = ExamCreation.objects.create(course_sid=cfg.course_sid, user=coordinator, title="Lost answer exam",
                                           status="unknown", error="SmarterProctoring did not answer in time.",
                                           sent_at=now)
    save = ConfigurationSave.objects.create(course_sid=cfg.course_sid, exam_sid=cfg.exam_sid,
                                            configuration_sid=cfg.sid, user=coordinator, status="queued",
                                            message="Waiting for the background worker.")
    return {"cfg": cfg, "open": open_cfg, "student": student, "creation": creation, "save": save}


def test_configuration_and_create_pages_at_both_widths(states, login_page, live_server, coordinator, sp,
                                                       clean_sandbox):
    cfg = states["cfg"]
    page = login_page(coordinator)
    base = live_server.url
    failures: dict = {}
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})

        def visit(label, url, shot=None):
            response = page.goto(base + url)
            assert response.status == 200, (label, response.status)
            check(page, f"{label} @{width}", failures, width)
            if shot:
                SHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOTS / f"{shot}-{width}.png"))

        visit("configuration", cfg.url, "configuration")
        page.fill("#id_duration", "0")
        page.get_by_role("button", name="Save configuration").click()
        page.locator("[data-invalid]").first.wait_for()
        check(page, f"configuration with errors @{width}", failures, width)
        visit("configuration, exam open now", states["open"].url)
        visit("configuration, per-student", states["student"].url)
        visit("configuration, a save in the background",
              f"{cfg.url}saves/{states['save'].pk}/")
        visit("create", f"/courses/{cfg.course_sid}/exams/new", "create")
        page.get_by_role("button", name="Create exam").click()
        page.locator(".error-summary").wait_for()
        check(page, f"create with errors @{width}", failures, width)
        visit("create, answer lost", f"/courses/{cfg.course_sid}/exams/new?key={states['creation'].key}")
        visit("creation status", f"/courses/{cfg.course_sid}/exams/creations/{states['creation'].key}/")
        visit("accommodation register", f"/courses/{states['student'].course_sid}/exams/accommodations/")
        # the upstream down: the cached copy with its age
        clean_sandbox.set_faults(configuration={"error_rate": 1.0, "error_statuses": [503]})
        visit("configuration, upstream down", cfg.url)
        clean_sandbox.set_faults()
    assert failures == {}, json.dumps(failures, indent=1)


def test_names_not_sids(states, login_page, live_server, coordinator):
    from proctordash.appointments.models import Appointment, Course

    page = login_page(coordinator)
    cfg, student = states["cfg"], states["student"]
    course = Course.objects.get(sid=cfg.course_sid)
    page.goto(f"{live_server.url}/courses/{cfg.course_sid}/exams/new")
    assert page.get_by_role("heading", level=1).inner_text() == f"New exam in {course.title}"
    page.goto(live_server.url + student.url)
    sraw_enrollment = page.locator('[data-testid="learner"]')
    learner = Appointment.objects.filter(enrollment_sid__isnull=False, configuration_sid=student.sid).exclude(
        learner_email="").first() or Appointment.objects.filter(configuration_sid=student.sid).first()
    text = sraw_enrollment.inner_text()
    assert learner.learner_last_name in text and learner.learner_email in text
    assert learner.learner_last_name in page.get_by_role("heading", level=1).inner_text()
    page.goto(live_server.url + cfg.url)
    # SIDs as details: shortened, complete in the title and behind a copy button
    copy = page.get_by_role("button", name=f"Copy configuration SID: {cfg.sid}")
    assert copy.is_visible()
    # dates say their zone; modality options as fields for the known keys, the rest as JSON
    assert "Chicago time" in page.locator("label[for=id_exam_open_date]").inner_text()
    assert page.get_by_label("Allow scratch paper").input_value() == "true"
    assert page.get_by_label("Max screens").input_value() == "1"
    assert json.loads(page.get_by_label("Modality options: advanced (JSON)").input_value()) == {
        "extra": {"nested": [1, 2]}}
