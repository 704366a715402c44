"""A real browser keeps /monitor/ open while the sandbox's clock moves on: new incidents reach the page by
themselves (the ProctorExam refresh pulls them into the cache; the page's poll swaps only the changed rows)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from proctordash.sync import engine as sync
from proctordash.monitoring.models import Incident, StudentSession
from proctordash.sync.passes import proctorexam_refresh

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _clean_sync_keys():
    client = sync.redis_client()
    for key in client.scan_iter(f"{sync.KEY_PREFIX}*"):
        client.delete(key)


def test_monitor_updates_itself_when_new_incidents_arrive(sandbox, login_page, live_server, support, settings):
    settings.MONITOR_POLL_SECONDS = 2
    sandbox.reset()
    _clean_sync_keys()
    first = proctorexam_refresh()
    assert first.outcome == "success", first.error_summary
    live_ids = set(StudentSession.objects.filter(exam__status="open", removed_at__isnull=True).values_list("id", flat=True))
    assert live_ids, "the sandbox should have open exams with sessions"

    page = login_page(support)
    page.goto(f"{live_server.url}/monitor/")
    page.wait_for_selector("#monitor-table tbody.session")
    assert page.locator(".badge.new").count() == 0
    page.evaluate("window.__sameDocument = true; window.scrollTo(0, 300)")
    # the row at the top of the view: rows that arrive above it must not move it (the browser's scroll anchoring)
    anchor = page.evaluate("""() => { const el = document.elementFromPoint(200, 150).closest('tbody[id]');
                                      return [el.id, el.getBoundingClientRect().top]; }""")

    # Let upstream time pass until new incidents exist for sessions still shown, and pull them into the cache.
    before = set(Incident.objects.values_list("id", flat=True))
    new_on_page = set()
    for _ in range(6):
        sandbox.advance_clock(15 * 60)
        _clean_sync_keys()
        run = proctorexam_refresh()
        assert run.outcome == "success", run.error_summary
        new_on_page = set(Incident.objects.exclude(id__in=before).filter(
            student_session__exam__status="open", student_session__removed_at__isnull=True
        ).values_list("student_session_id", flat=True))
        if new_on_page:
            break
    assert new_on_page, "advancing the sandbox clock should produce incidents"

    # No reload: the poll brings the highlight in.
    page.wait_for_selector(".badge.new", timeout=20_000)
    assert page.evaluate("window.__sameDocument") is True
    highlighted = {int(i.removeprefix("pe-")) for i in page.locator("tbody.has-new").evaluate_all("els => els.map(e => e.id)")}
    assert highlighted & new_on_page
    summary = page.locator("#monitor-summary").inner_text()
    assert "new incident" in summary and not summary.startswith("0")
    top_after = page.evaluate("id => document.getElementById(id).getBoundingClientRect().top", anchor[0])
    assert abs(top_after - anchor[1]) < 5  # what the user was looking at stayed where it was
    # The rows the polls moved between groups (deleted and inserted again in one answer) are each there once, in
    # the order a fresh page shows.
    # The sandbox's sessions move on in real time, so a session can cross a group's boundary (start, finish)
    # between the last poll and the fresh page: compare again after the next poll when that happens.
    for attempt in range(3):
        page.get_by_role("button", name="Pause updates").click()
        keys = page.evaluate("() => [...document.querySelectorAll('#monitor-table > tbody[id]')].map(e => e.id)")
        assert len(keys) == len(set(keys))
        since = page.locator('input[name="since"]').get_attribute("value")
        fresh = page.evaluate("async url => (await fetch(url)).text()", f"/monitor/?since={quote(since)}")
        fresh_keys = re.findall(r'<tbody id="((?:g|c|pe|sp)-[^"]+)"', fresh)
        if fresh_keys == keys or attempt == 2:
            break
        page.get_by_role("button", name="Resume updates").click()
        page.wait_for_timeout(2500)  # one poll (MONITOR_POLL_SECONDS = 2) brings the page up to date
    assert fresh_keys == keys
    page.get_by_role("button", name="Resume updates").click()

    # Open a timeline in place; the next polls keep it open.
    row = page.locator("tbody.has-new").first
    row_id = row.get_attribute("id")
    row.get_by_role("link", name="incident").first.click()
    page.wait_for_selector(f"#{row_id} ol.timeline")
    page.wait_for_timeout(5000)  # two more polls
    assert page.locator(f"#{row_id} ol.timeline").count() == 1

    # Pause: no poll requests while paused.
    page.get_by_role("button", name="Pause updates").click()
    assert page.get_by_role("button", name="Resume updates").get_attribute("aria-pressed") == "true"
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/monitor/poll/") else None)
    page.wait_for_timeout(5000)
    assert polls == []
    page.get_by_role("button", name="Resume updates").click()
    page.wait_for_timeout(2500)
    assert polls


# --- across a sign-out or a role change (issue 15 item 3) -------------------------------------------------------------
def _watched_monitor(login_page, live_server, user, settings, query=""):
    from tests.monitoring.factories import ProctorExamExamFactory, StudentSessionFactory

    settings.MONITOR_POLL_SECONDS = 2
    exam = ProctorExamExamFactory(name="Chemistry final")
    StudentSessionFactory.create_batch(3, exam=exam)
    page = login_page(user)
    page.goto(f"{live_server.url}/monitor/{query}")
    page.wait_for_selector("#monitor-table tbody.session")
    polls = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/monitor/poll/") else None)
    return page, polls


def test_signed_out_mid_page_the_poll_stops_and_says_so_then_a_filter_change_goes_to_login(
        login_page, live_server, support, settings):
    from urllib.parse import parse_qs, urlparse

    from playwright.sync_api import expect

    from tests.conftest import PASSWORD

    page, polls = _watched_monitor(login_page, live_server, support, settings, "?show=")
    page.evaluate("window.__sameDocument = true")
    page.context.clear_cookies(name="sessionid")  # the session ended (idle timeout, signed out in another tab)

    alert = page.get_by_role("alert").filter(has_text="Signed out")
    expect(alert).to_contain_text("Signed out — sign in again", timeout=10_000)
    link = alert.get_by_role("link", name="sign in again")
    target = urlparse(link.get_attribute("href"))
    assert target.path == "/login/" and parse_qs(target.query)["next"] == ["/monitor/?show="]  # the page's URL
    assert page.evaluate("window.__sameDocument") is True  # a background poll never navigates by itself
    assert page.locator("#monitor-table tbody.session").count() == 3  # what was shown stays, no login form in it
    expect(page.locator("#monitor-poll-state")).to_have_text("Updates stopped.")
    expect(page.get_by_role("button", name="Pause updates")).to_be_disabled()
    polls.clear()
    page.wait_for_timeout(4500)  # two intervals
    assert polls == []  # polling stopped

    # A filter change (the person acts): the whole page goes to the login page, and back after signing in.
    page.locator("#id_show").select_option("attention")
    page.wait_for_url("**/login/**")
    assert parse_qs(urlparse(page.url).query)["next"] == ["/monitor/?show="]
    assert page.locator("#monitor-table").count() == 0
    page.get_by_label("Username").fill(support.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/monitor/?show=")
    page.wait_for_selector("#monitor-table tbody.session")
    polls.clear()
    page.wait_for_timeout(2500)
    assert polls  # a new page polls again


def test_a_role_change_mid_page_stops_the_poll_with_a_reload_link(login_page, live_server, coordinator, settings):
    from playwright.sync_api import expect

    page, polls = _watched_monitor(login_page, live_server, coordinator, settings)
    profile = coordinator.staff_profile
    profile.role = "instructor"  # the monitor is not open to instructors
    profile.save()

    alert = page.get_by_role("alert").filter(has_text="Your access has changed")
    expect(alert).to_be_visible(timeout=10_000)
    assert page.url.endswith("/monitor/")  # not navigated away by a background poll
    polls.clear()
    page.wait_for_timeout(4500)
    assert polls == []
    alert.get_by_role("link", name="reload the page").click()
    page.wait_for_load_state()
    expect(page.locator(".messages")).to_contain_text("Your access has changed")  # the message the server kept
    assert page.locator("#monitor-table").count() == 0  # the 403 page in the layout, not the monitor
