"""WCAG 2.1 AA: every page (and its main states) passes axe-core with no serious or critical violation.

axe-core comes from the npm registry (tests/vendor/axe-core-*.min.js, MPL-2.0) and is evaluated in the page through
the DevTools protocol, which the page's Content-Security-Policy does not govern (the pages themselves allow no inline
script)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_SOURCE = next(Path(__file__).resolve().parents[1].joinpath("vendor").glob("axe-core-*.min.js")).read_text()
BLOCKING = {"serious", "critical"}


def axe_violations(page) -> list[dict]:
    page.evaluate(AXE_SOURCE)
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


def test_login_page(page, live_server):
    page.goto(f"{live_server.url}/login/")
    assert axe_violations(page) == []


def test_login_page_with_errors(page, live_server, coordinator):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("cora")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").wait_for()
    assert axe_violations(page) == []


def test_every_page_in_the_navigation(login_page, live_server, coordinator):
    from proctordash.accounts.context_processors import navigation_for

    page = login_page(coordinator)
    failures = {}
    for item in navigation_for(coordinator) + [{"url": "/profile/"}]:
        page.goto(f"{live_server.url}{item['url']}")
        page.wait_for_load_state("networkidle")
        violations = axe_violations(page)
        if violations:
            failures[item["url"]] = violations
    assert failures == {}


# --- every page and its main states, over real (synced) data -------------------------------------------------------
def _check(page, label: str, failures: dict) -> None:
    page.wait_for_load_state("networkidle")
    violations = axe_violations(page)
    if violations:
        failures[label] = violations


def test_pages_and_states_with_real_data(synced, login_page, live_server, coordinator, cfg):
    from proctordash.appointments.models import Appointment

    page = login_page(coordinator)
    base = live_server.url
    row = Appointment.objects.live().exclude(learner_last_name="").order_by("sid").first()
    failures: dict = {}
    for label, url in [
        ("appointments filtered", "/appointments/?status=Scheduled&sort=-appointmentDate"),
        ("appointments field error", "/appointments/?appointmentAfter=not-a-date&courseSid=CU123"),
        ("appointment detail", f"/appointments/{row.sid}/"),
        ("review queue", "/appointments/review/"),
        ("learner lookup", f"/appointments/learners/?q={row.learner_last_name}"),
        ("exams index", "/exams/"),
        ("configuration", cfg.url),
        ("create exam", f"/courses/{cfg.course_sid}/exams/new"),
        ("readiness", "/monitor/readiness/?days=14"),
        ("health", "/health/"),
        ("profile", "/profile/"),
    ]:
        page.goto(base + url)
        _check(page, label, failures)
        if label == "configuration":  # the form with errors (submitted, answered in place)
            page.fill("#id_duration", "0")
            page.get_by_role("button", name="Save configuration").click()
            page.locator("[data-invalid]").first.wait_for()
            _check(page, "configuration with errors", failures)
    # the monitor with an incident timeline open
    page.goto(base + "/monitor/")
    toggle = page.locator('a[aria-controls^="timeline-"]').first
    toggle.click()
    page.locator(".timeline-row").first.wait_for()
    _check(page, "monitor with an open timeline", failures)
    assert failures == {}


def test_configuration_conflict_view(clean_sandbox, sp, login_page, live_server, coordinator, cfg):
    page = login_page(coordinator)
    page.goto(live_server.url + cfg.url)
    current = sp.get_configuration(**cfg.args())
    sp.update_configuration(**cfg.args(), body=current.update_body(duration=(current.raw.get("duration") or 60) + 5))
    page.fill("#id_attempts", "3")
    page.get_by_role("button", name="Save configuration").click()
    page.get_by_test_id("conflict").wait_for()
    assert axe_violations(page) == []
