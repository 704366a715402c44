"""Keyboard only (no mouse after signing in): the appointment filters, the exam configuration form and the monitor
work with Tab, typing, Enter and Space, every focused control shows a visible focus indicator (computed outline or
box-shadow under :focus-visible), htmx updates are announced through the aria-live region, and status badges carry
text (never colour alone)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FOCUS_STATE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const s = getComputedStyle(el);
  return {tag: el.tagName.toLowerCase(), name: el.getAttribute('name') || '', id: el.id || '',
          text: (el.textContent || '').trim().slice(0, 60), focusVisible: el.matches(':focus-visible'),
          controls: el.getAttribute('aria-controls') || '',
          outline: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0,
          shadow: s.boxShadow && s.boxShadow !== 'none'};
}"""


def focused(page) -> dict | None:
    return page.evaluate(FOCUS_STATE)


def assert_visible_focus(state: dict) -> None:
    assert state["outline"] or state["shadow"], f"no visible focus on {state}"


def tab_until(page, predicate, *, limit: int = 120, check_focus: bool = True) -> dict:
    """Press Tab until the focused element satisfies predicate(state); every stop on the way must show focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        state = focused(page)
        if state is None:
            continue
        if check_focus:
            assert_visible_focus(state)
        if predicate(state):
            return state
    raise AssertionError("not reachable with Tab")


def assert_badges_have_text(page) -> None:
    empty = page.eval_on_selector_all(
        ".badge, [class*='st-'], .status, .flag",
        "els => els.filter(e => e.offsetParent !== null && !e.textContent.trim() && !e.getAttribute('aria-label'))"
        ".map(e => e.outerHTML.slice(0, 120))")
    assert empty == [], f"status shown without text: {empty}"


def test_appointment_filters_by_keyboard(login_page, live_server, coordinator):
    from tests.appointments.factories import AppointmentFactory, CourseFactory
    from tests.conftest import COURSE_A

    CourseFactory(sid=COURSE_A, title="Biology 101")
    AppointmentFactory(learner_first_name="Adalbert", status="Scheduled")
    AppointmentFactory(learner_first_name="Beatrix", status="Closed")
    AppointmentFactory(learner_first_name="Cornelius", status="Needs Proctor")
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    assert_badges_have_text(page)
    tab_until(page, lambda s: s["id"] == "id_q")  # (the navigation's learner search is also called q)
    page.keyboard.type("adalb")
    expect(page.locator("#announcer")).to_have_text("1 appointment matches")  # the swap was announced
    state = focused(page)
    assert state["id"] == "id_q", "focus left the filter after the results updated"
    assert page.input_value("#id_q") == "adalb"
    assert page.locator("#results tbody tr").count() == 1
    assert "Adalbert" in page.inner_text("#results")
    # a select filter by keyboard: Tab to it, choose with the arrow keys, results follow
    page.keyboard.press("Control+a")
    page.keyboard.press("Backspace")
    expect(page.locator("#announcer")).to_have_text("3 appointments match")
    tab_until(page, lambda s: s["name"] == "status", limit=40)
    page.keyboard.press("ArrowDown")  # first real status: applied after a pause (not at every arrow key) …
    expect(page.locator("#announcer")).to_have_text("1 appointment matches")
    assert focused(page)["id"] == "result-count"  # … and focus moves to the results summary
    for _ in range(20):  # back to the select with Shift+Tab
        page.keyboard.press("Shift+Tab")
        if (focused(page) or {}).get("name") == "status":
            break
    assert focused(page)["name"] == "status"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # Enter applies at once
    expect(page.locator("#announcer")).to_have_text("3 appointments match")
    # the learner filters sit in a disclosure: open it with the keyboard, then filter by first name
    page.locator("#id_q").focus()
    tab_until(page, lambda s: s["tag"] == "summary", limit=40)
    page.keyboard.press("Enter")
    tab_until(page, lambda s: s["name"] == "learnerFirstName", limit=10)


def test_configuration_form_by_keyboard(clean_sandbox, sp, login_page, live_server, coordinator, cfg):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}{cfg.url}")
    fields = set(page.eval_on_selector_all(
        "#config-form-el input:not([type=hidden]):not([disabled]), #config-form-el select:not([disabled]), "
        "#config-form-el textarea:not([disabled])",
        "els => els.filter(e => e.offsetParent !== null && e.tabIndex >= 0).map(e => e.name)"))
    assert {"duration", "attempts", "student_notes", "exam_open_date"} <= fields
    reached = set()
    tab_until(page, lambda s: (reached.add(s["name"]) or True) and s["text"] == "Save configuration", limit=500)
    assert fields - reached == set(), f"not reachable by keyboard: {sorted(fields - reached)}"
    page.goto(f"{live_server.url}{cfg.url}")
    tab_until(page, lambda s: s["text"] == "Add a slot", limit=400)
    slots = int(page.input_value("[name=slots-TOTAL_FORMS]"))
    page.keyboard.press("Enter")  # add a proctor slot
    expect(page.locator("[name=slots-TOTAL_FORMS]")).to_have_value(str(slots + 1))
    new_location = f"slots-{slots}-location"
    page.locator("[name=slots-TOTAL_FORMS]").evaluate("e => e.form.querySelector('input, select, textarea').focus()")
    tab_until(page, lambda s: s["name"] == new_location, limit=400)
    # save by keyboard: a changed duration, Enter in the field submits the form (no new slot: reload first)
    page.goto(f"{live_server.url}{cfg.url}")
    before = sp.get_configuration(**cfg.args()).raw["duration"]
    tab_until(page, lambda s: s["name"] == "duration", limit=400)
    page.keyboard.press("Control+a")
    page.keyboard.type(str(before + 7))
    page.keyboard.press("Enter")
    page.get_by_text("Saved.").first.wait_for()
    assert sp.get_configuration(**cfg.args()).raw["duration"] == before + 7


def test_monitor_by_keyboard(sandbox, login_page, live_server, coordinator):
    from proctordash.sync import engine as sync
    from proctordash.sync.passes import proctorexam_refresh

    sandbox.set_faults()
    sandbox.reset()
    for key in sync.redis_client().scan_iter(f"{sync.KEY_PREFIX}*"):
        sync.redis_client().delete(key)
    proctorexam_refresh()
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/monitor/")
    assert_badges_have_text(page)
    tab_until(page, lambda s: s["id"] == "monitor-pause")
    page.keyboard.press("Enter")
    assert page.get_attribute("#monitor-pause", "aria-pressed") == "true"
    state_text = page.inner_text("#monitor-poll-state")
    page.keyboard.press("Space")  # resume
    assert page.get_attribute("#monitor-pause", "aria-pressed") == "false"
    assert page.inner_text("#monitor-poll-state") != state_text, "pause/resume is not announced"
    toggle = tab_until(page, lambda s: s["controls"].startswith("timeline-"), limit=300)
    page.keyboard.press("Enter")
    page.locator(".timeline-row").first.wait_for()
    expanded = page.eval_on_selector_all('a[aria-controls^="timeline-"][aria-expanded="true"]', "els => els.length")
    assert expanded >= 1, f"opening {toggle['text']!r} did not mark it expanded"
    assert_badges_have_text(page)


def test_monitor_counts_expand_and_fold_by_keyboard_and_keep_focus(sandbox, login_page, live_server, support):
    """An exam's count (not started, finished) opens with Enter; focus stays on its toggle, now "Hide", which folds
    it again."""
    from proctordash.sync import engine as sync
    from proctordash.sync.passes import proctorexam_refresh

    sandbox.set_faults()
    sandbox.reset()
    for key in sync.redis_client().scan_iter(f"{sync.KEY_PREFIX}*"):
        sync.redis_client().delete(key)
    proctorexam_refresh()
    page = login_page(support)
    page.goto(f"{live_server.url}/monitor/")
    toggle = tab_until(page, lambda s: s["id"].startswith("x-c-") and s["text"] == "Show", limit=400)
    bucket = toggle["id"].removeprefix("x-")
    page.keyboard.press("Enter")
    expect(page.locator(f"#{bucket}")).to_have_attribute("data-expanded", bucket.removeprefix("c-"))
    state = focused(page)
    assert state["id"] == toggle["id"] and state["text"] == "Hide", state
    assert_visible_focus(state)
    assert page.get_attribute(f"#{toggle['id']}", "aria-expanded") == "true"
    rows_after = """id => { let n = 0, el = document.getElementById(id).nextElementSibling;
                            while (el && el.matches('tbody.session')) { n++; el = el.nextElementSibling; } return n; }"""
    assert page.evaluate(rows_after, bucket) >= 1  # the exam's sessions, right under its count
    page.keyboard.press("Enter")
    expect(page.locator(f"#{bucket}")).not_to_have_attribute("data-expanded", bucket.removeprefix("c-"))
    assert focused(page)["id"] == toggle["id"]
    assert page.get_attribute(f"#{toggle['id']}", "aria-expanded") == "false"
    assert page.evaluate(rows_after, bucket) == 0
