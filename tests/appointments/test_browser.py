"""The appointment list in a real browser (Debian's Chromium through Playwright): typing and picking filters update
the results and the URL, the back button restores the previous filter, the export downloads the filtered rows, and an
invalid date shows its error beside the field."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.appointments.factories import AppointmentFactory, CourseFactory
from tests.conftest import COURSE_A, COURSE_B

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def data(db):
    CourseFactory(sid=COURSE_A, title="Biology 101")
    CourseFactory(sid=COURSE_B, title="Chemistry 200")
    now = timezone.now()
    rows = {
        "ada": AppointmentFactory(learner_first_name="Ada", learner_last_name="Lovelace", status="Scheduled",
                                  course_sid=COURSE_A, course_title="Biology 101", appointment_date=now + timedelta(hours=1)),
        "grace": AppointmentFactory(learner_first_name="Grace", learner_last_name="Hopper", status="Closed",
                                    course_sid=COURSE_A, course_title="Biology 101", appointment_date=now + timedelta(hours=2)),
        "alan": AppointmentFactory(learner_first_name="Alan", learner_last_name="Lovell", status="Closed",
                                   course_sid=COURSE_B, course_title="Chemistry 200", appointment_date=now + timedelta(hours=3)),
    }
    return rows


def query_of(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def names(page) -> list[str]:
    return page.locator("#results tbody tr td:nth-child(2) a").all_inner_texts()


def test_typing_and_picking_filter_update_results_and_url_and_back_restores(login_page, live_server, coordinator, data):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    expect(page.locator("#results tbody tr")).to_have_count(3)

    search = page.get_by_label("Search")
    search.click()
    search.press_sequentially("lov", delay=40)
    expect(page.locator("#results tbody tr")).to_have_count(2)
    assert sorted(names(page)) == ["Ada Lovelace", "Alan Lovell"]
    assert query_of(page) == {"q": "lov"}  # empty filters are left out of the pushed URL
    # only the results were swapped: focus and the typed text stay in the box
    assert page.evaluate("document.activeElement.id") == "id_q"
    assert search.input_value() == "lov"

    page.get_by_label("Status", exact=True).select_option("Closed")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert names(page) == ["Alan Lovell"]
    assert query_of(page) == {"q": "lov", "status": "Closed"}

    page.get_by_label("Course", exact=True).select_option(label="Biology 101")
    expect(page.locator("#results")).to_contain_text("No appointments match")
    assert query_of(page)["courseSid"] == COURSE_A

    page.go_back()
    expect(page).to_have_url(re.compile(r"status=Closed"))
    assert "courseSid" not in query_of(page)
    expect(page.locator("#results tbody tr")).to_have_count(1)
    expect(page.get_by_label("Course", exact=True)).to_have_value("")
    expect(page.get_by_label("Status", exact=True)).to_have_value("Closed")

    page.go_back()
    expect(page.locator("#results tbody tr")).to_have_count(2)
    expect(page.get_by_label("Status", exact=True)).to_have_value("")
    expect(page.get_by_label("Search")).to_have_value("lov")

    page.go_forward()
    expect(page.locator("#results tbody tr")).to_have_count(1)


def test_export_downloads_the_filtered_rows(login_page, live_server, coordinator, data):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    page.get_by_label("Status", exact=True).select_option("Closed")
    expect(page.locator("#results tbody tr")).to_have_count(2)
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile("Download CSV")).click()
    body = open(info.value.path(), "rb").read()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert sorted(r[0] for r in rows[1:]) == sorted([data["grace"].sid, data["alan"].sid])


def test_invalid_date_shows_the_error_beside_the_field_and_keeps_the_rest(login_page, live_server, coordinator, data):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/?status=Closed")
    after = page.get_by_label(re.compile("^From"))
    after.fill("2026-02-30")
    after.press("Enter")
    error = page.locator("#errors-appointmentAfter")
    expect(error).to_contain_text("No such date")
    expect(after).to_have_attribute("aria-invalid", "true")
    assert after.input_value() == "2026-02-30"
    expect(page.get_by_label("Status", exact=True)).to_have_value("Closed")
    expect(page.locator("#results [role=alert]")).to_contain_text("From")
    # fixing it clears the error and shows results again
    after.fill("2020-01-01")
    after.press("Enter")
    expect(error).to_be_empty()
    expect(page.locator("#results tbody tr")).to_have_count(2)


def test_without_javascript_the_form_is_a_plain_get(browser, live_server, coordinator, data):
    from tests.conftest import PASSWORD

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(coordinator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/appointments/")
    page.get_by_label("Search").fill("grace")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert query_of(page)["q"] == "grace"
    context.close()
