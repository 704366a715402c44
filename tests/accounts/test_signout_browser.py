"""Signed out mid-page (the session cookie is gone, as after an idle timeout or a sign-out in another tab): the next
htmx request takes the whole page to the login page — never a login form inside the results panel — and signing in
returns to the page the user was on, with its filters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_filter_change_after_the_session_ended_goes_to_login_and_back(login_page, live_server, coordinator):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/?q=lovelace")
    expect(page.locator("#results")).to_be_visible()
    page.context.clear_cookies(name="sessionid")

    page.locator("#id_status").select_option("Scheduled")
    page.wait_for_url("**/login/**")
    query = parse_qs(urlparse(page.url).query)
    assert query["next"] == ["/appointments/?q=lovelace"]  # the page's URL, not the fragment's
    assert page.locator("#results").count() == 0  # the whole page was replaced, nothing swapped into a panel
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.get_by_label("Username").fill(coordinator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/appointments/?q=lovelace")
    expect(page.get_by_label("Search")).to_have_value("lovelace")


def test_role_change_mid_page_reloads_with_a_message(login_page, live_server, coordinator):
    page = login_page(coordinator)
    page.goto(f"{live_server.url}/appointments/")
    expect(page.locator("#results")).to_be_visible()
    profile = coordinator.staff_profile
    profile.role = "instructor"  # instructors see only their (here: no) courses; the page stays open to them
    profile.save()
    # A control only coordinators may use answers 403 to htmx: the page reloads and says what happened.
    page.evaluate("""() => htmx.ajax('POST', '/monitor/poll/', {target: '#results', swap: 'none'})""")
    page.wait_for_function("() => document.body.textContent.includes('Your access has changed')")
    expect(page.locator(".messages")).to_contain_text("Your access has changed")
    assert urlparse(page.url).path == "/appointments/"
    expect(page.locator(".role-badge")).to_have_text("Instructor")
