"""The configuration and create pages in Debian's Chromium: edit and save, inline errors that keep input, proctor
slots added and removed, a conflict made by a second browser context and resolved, an exam created.

Screenshots go to $EXAMS_SCREENSHOT_DIR (default: the run directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests import harness
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("EXAMS_SCREENSHOT_DIR") or harness.RUN_DIR)


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def save(page):
    """Press Save and wait for the page the HX-Redirect leads to."""
    with page.expect_navigation():
        page.get_by_role("button", name="Save configuration").click()
    page.locator(".message-success").wait_for()


def test_edit_and_save(login_page, live_server, coordinator, clean_sandbox, sp, cfg):
    page = login_page(coordinator)
    page.goto(live_server.url + cfg.url)
    shot(page, "exams-configuration")
    duration = page.get_by_label("Duration (minutes)")
    new = int(duration.input_value()) + 10
    duration.fill(str(new))
    page.get_by_label("Reason for the change").fill("Browser test")
    page.get_by_role("button", name="Save configuration").click()
    page.get_by_text("Saved. SmarterProctoring has the new configuration.").wait_for()
    assert sp.get_configuration(**cfg.args()).raw["duration"] == new
    assert page.locator("table.history").get_by_text("Browser test").is_visible()


def test_field_error_inline_and_on_save_keeps_input(login_page, live_server, coordinator, clean_sandbox, cfg):
    page = login_page(coordinator)
    page.goto(live_server.url + cfg.url)
    page.get_by_label("Notes for students").fill("Bring two pencils")
    page.get_by_label("Duration (minutes)").fill("0")
    page.get_by_label("Attempts allowed").focus()  # leave the field: htmx asks the server about it
    error = page.locator("#err-duration")
    error.get_by_text("Duration must be at least 1 minute.").wait_for()
    expect(page.get_by_label("Duration (minutes)")).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Save configuration").click()
    page.locator(".error-summary").wait_for()
    shot(page, "exams-configuration-errors")
    assert page.get_by_label("Notes for students").input_value() == "Bring two pencils"
    assert page.get_by_label("Duration (minutes)").input_value() == "0"
    page.get_by_label("Duration (minutes)").fill("75")
    save(page)


def test_add_and_remove_a_proctor_slot(login_page, live_server, coordinator, clean_sandbox, sp, cfg):
    page = login_page(coordinator)
    page.goto(live_server.url + cfg.url)
    page.get_by_role("button", name="Add a slot").click()
    page.get_by_label("Slot 1 location").fill("Library room 2")
    page.get_by_label("Slot 1 start").fill("2031-04-01T10:00")
    page.get_by_label("Slot 1 end").fill("2031-04-01T12:00")
    page.get_by_label("Slot 1 capacity").fill("8")
    save(page)
    slots = sp.get_configuration(**cfg.args()).raw["instructorAsProctor"]
    assert [(s["location"], s["capacity"]) for s in slots] == [("Library room 2", 8)]
    page.get_by_role("button", name="Remove slot 1").click()
    page.get_by_text("No instructor-as-proctor slots.").wait_for()
    save(page)
    assert sp.get_configuration(**cfg.args()).raw["instructorAsProctor"] == []


def test_conflict_from_a_second_browser_is_shown_and_resolved(login_page, live_server, browser, coordinator,
                                                              instructor_of, clean_sandbox, sp, cfg):
    page = login_page(coordinator)
    page.goto(live_server.url + cfg.url)
    original = sp.get_configuration(**cfg.args()).raw

    colleague = instructor_of(cfg.course_sid)
    other = browser.new_context()
    page2 = other.new_page()
    page2.goto(f"{live_server.url}/login/")
    page2.get_by_label("Username").fill(colleague.username)
    page2.get_by_label("Password").fill(PASSWORD)
    page2.get_by_role("button", name="Sign in").click()
    page2.wait_for_load_state()
    page2.goto(live_server.url + cfg.url)
    page2.get_by_label("Attempts allowed").fill("6")
    save(page2)
    other.close()

    page.get_by_label("Duration (minutes)").fill(str(original["duration"] + 20))
    page.get_by_role("button", name="Save configuration").click()
    conflict = page.get_by_test_id("conflict")
    conflict.wait_for()
    assert conflict.get_by_text("Attempts allowed").is_visible()
    shot(page, "exams-configuration-conflict")
    page.get_by_role("button", name="Reapply my changes onto the new version").click()
    page.get_by_test_id("reapplied").wait_for()
    assert page.get_by_label("Attempts allowed").input_value() == "6"
    assert page.get_by_label("Duration (minutes)").input_value() == str(original["duration"] + 20)
    save(page)
    final = sp.get_configuration(**cfg.args()).raw
    assert final["attempts"] == 6 and final["duration"] == original["duration"] + 20


def test_create_an_exam(login_page, live_server, coordinator, clean_sandbox, sp, cfg):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/courses/{cfg.course_sid}/exams/new")
    page.get_by_label("Title").fill("Final exam (browser)")
    page.get_by_label("Exam URL").fill("https://lms.example.edu/quiz/9")
    page.get_by_label("Exam password").fill("pw-browser-1")
    page.get_by_label("Duration (minutes)").fill("120")
    page.get_by_label("Attempts allowed").fill("1")
    page.get_by_label("Exam opens").fill("2031-06-01T09:00")
    page.get_by_label("Exam closes").fill("2031-06-05T17:00")
    shot(page, "exams-create")
    page.get_by_role("button", name="Create exam").click()
    page.wait_for_url(re.compile(r"/configurations/EC[a-f0-9]{32}/$"))
    assert page.get_by_text("created in SmarterProctoring").is_visible()
    assert page.get_by_role("heading", name="Final exam (browser)").is_visible()
    page.goto(f"{live_server.url}/exams/")
    assert page.get_by_text("Final exam (browser)").is_visible()


def signed_in_context(browser, live_server, user, **options):
    """A separate browser context (e.g. JavaScript off) signed in through the real login form."""
    context = browser.new_context(**options)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return context, page


def updates(sandbox) -> int:
    return sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0)


@pytest.mark.parametrize("javascript", [False, True], ids=["js-off", "js-on"])
def test_unchanged_save_and_reapply_change_only_what_the_user_changed(browser, live_server, coordinator, clean_sandbox,
                                                                      sandbox, sp, cfg, javascript):
    """Issue 16 item 1 in a real browser: multi-line notes come back as CRLF (JS off) or LF (htmx); an untouched
    form says "No changes" and sends nothing; after a conflict, "Reapply" keeps the colleague's notes."""
    from proctordash.exams.fields import put_body

    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {"studentNotes": "Bring your ID.\nNo phones."})
    context, page = signed_in_context(browser, live_server, coordinator, java_script_enabled=javascript)
    page.goto(live_server.url + cfg.url)
    before = updates(sandbox)
    with page.expect_navigation():
        page.get_by_role("button", name="Save configuration").click()
    expect(page.locator(".message-info")).to_contain_text("No changes")
    assert updates(sandbox) == before

    original = sp.get_configuration(**cfg.args()).raw
    page.get_by_label("Duration (minutes)").fill(str(original["duration"] + 15))
    # meanwhile a colleague rewrites the notes (and attempts) in SmarterProctoring's own screens
    sp.update_configuration(**cfg.args(), body=put_body(original) | {"studentNotes": "Colleague:\nbring a pencil",
                                                                     "attempts": 4})
    page.get_by_role("button", name="Save configuration").click()
    page.get_by_test_id("conflict").wait_for()
    shot(page, f"exams-conflict-{'js' if javascript else 'nojs'}")
    page.get_by_role("button", name="Reapply my changes onto the new version").click()
    reapplied = page.get_by_test_id("reapplied")
    reapplied.wait_for()
    expect(reapplied).to_have_text("Reapplied: Duration (minutes).")
    assert page.get_by_label("Notes for students").input_value() == "Colleague:\nbring a pencil"
    with page.expect_navigation():
        page.get_by_role("button", name="Save configuration").click()
    page.locator(".message-success").wait_for()
    final = sp.get_configuration(**cfg.args()).raw
    assert final["studentNotes"] == "Colleague:\nbring a pencil" and final["attempts"] == 4
    assert final["duration"] == original["duration"] + 15
    context.close()


def test_guard_rails_show_when_the_page_opens_and_an_open_exam_needs_confirmation(login_page, live_server, coordinator,
                                                                                  clean_sandbox, sandbox, sp, cfg):
    from datetime import timedelta

    from django.utils import timezone

    from proctordash.core.timezones import to_utc_z
    from proctordash.exams.fields import put_body

    now = timezone.now()
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=put_body(raw) | {
        "examOpenDate": to_utc_z(now - timedelta(hours=2)), "examCloseDate": to_utc_z(now + timedelta(days=2)),
        "scheduleOpenDate": to_utc_z(now - timedelta(days=5)), "scheduleCloseDate": to_utc_z(now + timedelta(days=1))})
    page = login_page(coordinator)
    page.goto(live_server.url + cfg.url)
    expect(page.get_by_test_id("guard-open")).to_contain_text("This exam is open now")
    confirm = page.get_by_label("I understand; save the change now.")
    expect(confirm).not_to_be_checked()
    page.get_by_label("Attempts allowed").fill("3")
    before = updates(sandbox)
    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_role("button", name="Save anyway")).to_be_visible()
    assert updates(sandbox) == before  # nothing sent without the confirmation
    page.get_by_label("I understand; save the change now.").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Save anyway").click()
    page.locator(".message-success").wait_for()
    assert sp.get_configuration(**cfg.args()).raw["attempts"] == 3


def creates(sandbox) -> int:
    return sandbox.control("GET", "health").json()["requests"].get("create_exam", 0)


def fill_exam(page, title):
    page.get_by_label("Title").fill(title)
    page.get_by_label("Exam URL").fill("https://lms.example.edu/quiz/9")
    page.get_by_label("Exam password").fill("pw-browser-1")
    page.get_by_label("Duration (minutes)").fill("120")
    page.get_by_label("Exam opens").fill("2031-06-01T09:00")
    page.get_by_label("Exam closes").fill("2031-06-05T17:00")


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_create_then_back_reload_and_double_click_make_one_exam_per_form(browser, live_server, coordinator,
                                                                         clean_sandbox, sandbox, cfg, javascript):
    """Issue 16 item 2: the idempotency key belongs to the filled-in form (it is in the form's URL): Back, reload
    and a double click lead to the exam already created, with a message, never to a second one."""
    context, page = signed_in_context(browser, live_server, coordinator, java_script_enabled=javascript)
    page.goto(f"{live_server.url}/courses/{cfg.course_sid}/exams/new")
    assert "?key=" in page.url
    form_url = page.url
    fill_exam(page, "Back-button exam")
    before = creates(sandbox)
    page.get_by_role("button", name="Create exam").click()
    page.wait_for_url(re.compile(r"/configurations/EC[a-f0-9]{32}/$"))
    exam_url = page.url
    assert creates(sandbox) == before + 1

    page.go_back()
    assert page.url == form_url
    already = page.get_by_test_id("already-created")
    expect(already).to_contain_text("This form was already sent")
    expect(already).to_contain_text("Back-button exam")
    page.reload()
    expect(page.get_by_test_id("already-created")).to_be_visible()
    page.get_by_role("link", name="Open “Back-button exam”").click()
    page.wait_for_url(exam_url)
    assert creates(sandbox) == before + 1

    # a fresh form, sent with a double click: one exam
    page.goto(form_url)
    page.get_by_role("link", name="Create another exam").click()
    page.wait_for_url(re.compile(r"/exams/new\?key="))
    assert page.url != form_url
    fill_exam(page, "Double-click exam")
    page.get_by_role("button", name="Create exam").dblclick()
    page.wait_for_url(re.compile(r"/configurations/EC[a-f0-9]{32}/$"))
    page.wait_for_timeout(1500)  # let a second request, if any was sent, finish
    assert creates(sandbox) == before + 2
    from proctordash.exams.models import ExamCreation

    assert ExamCreation.objects.filter(title="Double-click exam").count() == 1
    context.close()
