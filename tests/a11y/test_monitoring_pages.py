"""The monitoring screens (live monitor and its states, one session, readiness board, health) over real synced data,
at 1366×900 and at 390 px wide (issue 15 items 1 and 2): axe-core clean under the WCAG 2.2 AA rules — every
violation, whatever its impact —, no horizontal page scroll and nothing wider than the window, every landmark named,
and any box that scrolls sideways reachable by keyboard and labelled."""

from __future__ import annotations

import json

import pytest

from tests.a11y.test_appointments_pages import UNNAMED_LANDMARKS, WIDTHS, violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Elements that scroll sideways (their content is wider than they are) must be focusable and have a name.
UNREACHABLE_SCROLL_BOXES = """() => Array.from(document.querySelectorAll('body *')).filter(el => {
  const style = getComputedStyle(el);
  return ['auto', 'scroll'].includes(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
}).filter(el => !(el.tabIndex >= 0 && (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))))
  .map(el => el.outerHTML.slice(0, 120))"""

# Nothing on the page reaches past the right edge of the window (a cut-off column is as bad as a page scroll).
WIDER_THAN_WINDOW = """() => {
  const limit = document.documentElement.clientWidth + 1;
  return Array.from(document.querySelectorAll('main *, header *')).filter(el => {
    if (el.closest('.table-scroll')) return false;  // inside a box that scrolls by itself
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > limit;
  }).slice(0, 5).map(el => el.outerHTML.slice(0, 100));
}"""


def check(page, key: str, failures: dict, width: int) -> None:
    page.wait_for_load_state("networkidle")
    found = violations(page)
    if found:
        failures[key] = found
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        failures[key + " page width"] = scroll_width
    for name, script in (("unnamed landmarks", UNNAMED_LANDMARKS), ("scroll boxes", UNREACHABLE_SCROLL_BOXES),
                         ("wider than the window", WIDER_THAN_WINDOW)):
        found = page.evaluate(script)
        if found:
            failures[f"{key} {name}"] = found


def test_monitoring_pages_at_both_widths(synced, login_page, live_server, support, settings):
    from proctordash.monitoring.models import StudentSession
    from proctordash.sync.models import SyncRun

    settings.MONITOR_POLL_SECONDS = 300  # no poll in the middle of a check
    session = StudentSession.objects.filter(removed_at__isnull=True, incident_count__gt=1).order_by("id").first()
    run = SyncRun.objects.order_by("-pk").first()
    page = login_page(support)
    failures: dict = {}
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        for label, url in [
            ("monitor", "/monitor/"),
            ("monitor, needs attention only", "/monitor/?show=attention"),
            ("monitor, bad filter", "/monitor/?status=bogus&exam=1"),
            ("session", f"/monitor/sessions/{session.id}/"),
            ("readiness", "/monitor/readiness/"),
            ("readiness, 14 days", "/monitor/readiness/?days=14"),
            ("readiness, bad days", "/monitor/readiness/?days=forty"),
            ("health", "/health/"),
            ("health with a run", f"/health/?run={run.pk}"),
        ]:
            response = page.goto(live_server.url + url)
            assert response.status == 200, (label, response.status)
            check(page, f"{label} @{width}", failures, width)

        # the monitor's states: an exam's count expanded, a timeline open, a readiness exam's learners open
        page.goto(live_server.url + "/monitor/")
        page.locator("a.bucket-toggle").first.click()
        page.locator("tbody.bucket.expanded").first.wait_for()
        toggle = page.locator('a[aria-controls^="timeline-"]').first
        if toggle.count():
            toggle.click()
            page.locator(".timeline-row").first.wait_for()
        check(page, f"monitor, expanded and a timeline open @{width}", failures, width)
        page.goto(live_server.url + "/monitor/readiness/?days=14")
        page.locator("table.readiness summary").first.click()
        check(page, f"readiness, learners open @{width}", failures, width)
    assert failures == {}, json.dumps(failures, indent=1)


def test_monitor_signed_out_alert_is_clean(synced, login_page, live_server, support, settings):
    """The alert that replaces the updates after a sign-out is itself accessible (role alert, a named link)."""
    settings.MONITOR_POLL_SECONDS = 2
    page = login_page(support)
    failures: dict = {}
    page.goto(live_server.url + "/monitor/")
    page.context.clear_cookies(name="sessionid")
    page.get_by_role("alert").filter(has_text="Signed out").wait_for(timeout=10_000)
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        check(page, f"monitor signed out @{width}", failures, width)
    assert failures == {}, json.dumps(failures, indent=1)
