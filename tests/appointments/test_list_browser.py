"""The appointment list made for the morning (issue 14), in a real browser (Debian's Chromium through Playwright):
the default view (from the start of today in the dashboard's zone, soonest first) with one click to the past and to
a date range; the density at 1366×900; the exam picker that names the course and narrows to it; focus after a swap;
selects that wait for a choice instead of filtering at every arrow key; status chips and chart bars as filters."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from proctordash.core import timezones
from tests.appointments.factories import AppointmentFactory, CourseFactory, CourseOfferingFactory, ExamFactory
from tests.conftest import COURSE_A, COURSE_B

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def start_of_today():
    zone = timezones.dashboard_zone()
    return datetime.combine(timezone.localtime(timezone.now(), zone).date(), time(), tzinfo=zone)


def learners(page) -> list[str]:
    return page.locator("#results tbody td.learner a").all_inner_texts()


def query_of(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


@pytest.fixture
def days(db):
    """Yesterday late, today early (already past), later today, tomorrow, next week, and one not yet scheduled."""
    today = start_of_today()
    made = {}
    for name, when in [("Yesterday", today - timedelta(minutes=30)), ("Earlier", today + timedelta(minutes=5)),
                       ("Tomorrow", today + timedelta(days=1, hours=9)), ("Nextweek", today + timedelta(days=7)),
                       ("Lastmonth", today - timedelta(days=30)), ("Undated", None)]:
        made[name] = AppointmentFactory(learner_first_name=name, learner_last_name="Learner", appointment_date=when,
                                        status="Needs Proctor" if when is None else "Scheduled")
    return made


def test_default_is_from_today_soonest_first_with_one_click_to_past_and_a_range(login_page, live_server,
                                                                                 coordinator, days):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    # from the start of today (the dashboard's zone), soonest first; the not-yet-scheduled after them
    assert learners(page) == ["Earlier Learner", "Tomorrow Learner", "Nextweek Learner", "Undated Learner"]
    expect(page.locator("#result-count")).to_contain_text("4 appointments from today on")
    expect(page.get_by_role("link", name="From today")).to_have_attribute("aria-current", "true")

    page.get_by_role("link", name="Past", exact=True).click()  # one click
    expect(page.locator("#result-count")).to_contain_text("2 appointments before today")
    assert learners(page) == ["Yesterday Learner", "Lastmonth Learner"]  # most recent first
    assert query_of(page) == {"when": "past"}
    expect(page.get_by_role("link", name="Past", exact=True)).to_have_attribute("aria-current", "true")

    page.get_by_role("link", name="All dates").click()
    expect(page.locator("#results tbody tr")).to_have_count(6)
    assert learners(page)[0] == "Lastmonth Learner"

    # a date range: typed into the two boxes (the "Date range…" link puts the cursor there)
    page.get_by_role("link", name="Date range…").click()
    assert page.evaluate("document.activeElement.name") == "appointmentAfter"
    page.keyboard.type((start_of_today() - timedelta(days=1)).date().isoformat())
    page.get_by_label("Until (exclusive)").fill(start_of_today().date().isoformat())
    page.get_by_label("Until (exclusive)").press("Enter")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert learners(page) == ["Yesterday Learner"]
    assert "when" not in query_of(page)  # a typed range replaces the date tab
    expect(page.get_by_role("link", name="Date range…")).to_have_attribute("aria-current", "true")

    page.go_back()  # history holds each step (the From date alone, or the "All dates" before it)
    expect(page).not_to_have_url(re.compile("appointmentBefore"))
    expect(page.locator("#results tbody tr")).not_to_have_count(1)


def test_density_at_1366_by_900(browser, live_server, coordinator):
    from tests.conftest import PASSWORD

    today = start_of_today()
    CourseFactory(sid=COURSE_A, title="Biology 101")
    for i in range(60):  # long values everywhere: they must stay on one line
        AppointmentFactory(appointment_date=today + timedelta(hours=1, minutes=20 * i),
                           learner_first_name="Maximiliana-Wilhelmina", learner_last_name=f"Featherstonehaugh-{i}",
                           learner_email=f"maximiliana.wilhelmina.featherstonehaugh.{i}@students.very-long-university.example.edu",
                           course_title="Introduction to Molecular and Cellular Biology for Health Sciences",
                           exam_title="Comprehensive Final Examination (Sections A, B and C, proctored)",
                           review_status="pending", review_by_date=today + timedelta(hours=2 + i))
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(coordinator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/appointments/")
    metrics = page.evaluate("""() => {
      const rows = Array.from(document.querySelectorAll('#results tbody tr'));
      const visible = rows.filter(r => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; });
      const cell = rows[0].cells[2];
      return {firstTop: rows[0].getBoundingClientRect().top + scrollY, visible: visible.length,
              heights: rows.map(r => r.getBoundingClientRect().height),
              lineHeight: parseFloat(getComputedStyle(cell).lineHeight),
              title: cell.getAttribute('title'), truncated: cell.scrollWidth > cell.clientWidth,
              width: document.documentElement.scrollWidth};
    }""")
    assert metrics["firstTop"] <= 400, metrics["firstTop"]
    assert metrics["visible"] >= 15, metrics["visible"]
    assert max(metrics["heights"]) < 2 * metrics["lineHeight"], "a row wraps onto a second line"
    assert metrics["truncated"] and metrics["title"].startswith("maximiliana.wilhelmina.featherstonehaugh.0@")
    assert metrics["width"] <= 1366
    # a focused row shows its cells in full
    page.locator("#results tbody td.learner a").first.focus()
    assert page.evaluate("document.querySelector('#results tbody tr').getBoundingClientRect().height") > 2 * metrics["lineHeight"]
    context.close()


def test_exam_picker_names_the_course_narrows_to_it_and_finds_by_typing(login_page, live_server, coordinator):
    CourseFactory(sid=COURSE_A, title="Biology 101")
    CourseFactory(sid=COURSE_B, title="Chemistry 200")
    bio = ExamFactory(sid="EX" + "1" * 32, course_sid=COURSE_A, title="Midterm")
    chem = ExamFactory(sid="EX" + "2" * 32, course_sid=COURSE_B, title="Midterm")
    for i in range(33):  # more than 30 choices: the picker becomes a find-as-you-type box
        ExamFactory(course_sid=COURSE_A, title=f"Quiz {i:02d}")
    CourseOfferingFactory(course_sid=COURSE_A, title="Bio Spring")
    CourseOfferingFactory(course_sid=COURSE_B, title="Chem Spring")
    AppointmentFactory(course_sid=COURSE_A, exam_sid=bio.sid, learner_first_name="Bea", course_title="Biology 101",
                       exam_title="Midterm")
    AppointmentFactory(course_sid=COURSE_B, exam_sid=chem.sid, learner_first_name="Cal", course_title="Chemistry 200",
                       exam_title="Midterm")
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    finder = page.get_by_label("Exam", exact=True)
    expect(finder).to_have_attribute("list", "id_examSid-choices")
    choices = page.eval_on_selector_all("#id_examSid-choices option", "os => os.map(o => o.value)")
    assert len(choices) == 35 and len(set(choices)) == 35  # every choice distinguishable
    midterms = [c for c in choices if c.startswith("Midterm — ")]
    assert len(midterms) == 2 and any("Biology 101" in c for c in midterms) and any("Chemistry 200" in c for c in midterms)

    page.get_by_label("Course", exact=True).select_option(label="Chemistry 200")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    # narrowed without a reload: only Chemistry's exams (and offerings) remain
    choices = page.eval_on_selector_all("#id_examSid-choices option", "os => os.map(o => o.value)")
    assert len(choices) == 1 and choices[0].startswith("Midterm — Chemistry 200")
    offerings = page.eval_on_selector_all("#id_courseOfferingSid option", "os => os.map(o => o.textContent)")
    assert offerings == ["All offerings", "Chem Spring"]

    page.get_by_label("Course", exact=True).select_option("")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    finder.fill(next(c for c in midterms if "Biology" in c))
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert learners(page) == [f"Bea {AppointmentFactory._meta.model.objects.get(learner_first_name='Bea').learner_last_name}"]
    assert query_of(page)["examSid"] == bio.sid
    finder.fill("")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    assert "examSid" not in query_of(page)


def test_focus_moves_to_the_summary_after_a_page_swap_and_the_view_scrolls_to_the_results(login_page, live_server,
                                                                                            coordinator):
    today = start_of_today()
    for i in range(60):
        AppointmentFactory(appointment_date=today + timedelta(hours=1, minutes=i))
    page = login_page(coordinator)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/appointments/?per_page=25")
    page.get_by_role("link", name="Next ›").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).to_contain_text("showing 26–50")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'result-count'", timeout=5000)  # focus moves after the swap settles
    expect(page.locator("#announcer")).to_have_text("60 appointments match")
    top = page.evaluate("document.getElementById('results').getBoundingClientRect().top")
    assert 0 <= top < 100, top  # the top of the results is in view, not the bottom of the previous page
    # a sort header by keyboard: the same
    page.locator("#results th a", has_text="Learner").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#results th[aria-sort]")).to_contain_text("Learner")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'result-count'", timeout=5000)  # focus moves after the swap settles


def test_a_select_waits_for_the_choice_instead_of_filtering_at_every_arrow_key(login_page, live_server, coordinator):
    for status in ["Needs Proctor", "Scheduled", "Cancelled", "In Progress", "Closed"]:
        AppointmentFactory(status=status)
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/appointments/?" in r.url or r.url.endswith("/appointments/") else None)
    page.get_by_label("Status", exact=True).focus()
    for _ in range(4):  # "Any status" → … → "In Progress"
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(80)
    expect(page.locator("#result-count")).to_contain_text("1 appointment")
    assert len(requests) == 1, requests  # one request for the choice, not one per arrow key
    assert query_of(page)["status"] == "In Progress"
    page.wait_for_function("document.activeElement && document.activeElement.id === 'result-count'", timeout=5000)  # focus moves after the swap settles
    # with the mouse (one change event) it applies at once
    page.get_by_label("Status", exact=True).select_option("Closed")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert len(requests) == 2


def test_status_chips_and_chart_bars_apply_their_filter(login_page, live_server, coordinator):
    today = start_of_today()
    AppointmentFactory(status="Closed", appointment_date=today + timedelta(hours=10), learner_first_name="Cleo")
    AppointmentFactory(status="Scheduled", appointment_date=today + timedelta(days=2, hours=10), learner_first_name="Sid")
    AppointmentFactory(status="Scheduled", appointment_date=today + timedelta(days=3, hours=10), learner_first_name="Sue")
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    expect(page.locator("#results tbody tr")).to_have_count(3)
    page.locator(".status-counts a", has_text="Scheduled").click()
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(page.get_by_label("Status", exact=True)).to_have_value("Scheduled")  # the form shows what applies
    page.locator(".status-counts a[aria-current]").click()  # the applied chip clears it
    expect(page.locator("#results tbody tr")).to_have_count(3)
    expect(page.get_by_label("Status", exact=True)).to_have_value("")
    # a bar of the chart: that day's appointments
    bar = page.locator(".chart a").nth(2)
    label = bar.get_attribute("aria-label")
    assert label.endswith(": 1 appointment; show them")
    bar.click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert learners(page)[0].startswith("Sid")
    expect(page.get_by_label("From (inclusive)")).to_have_value((today + timedelta(days=2)).date().isoformat())
