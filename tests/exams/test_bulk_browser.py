"""Bulk change in Debian's Chromium, with a real Celery worker: pick two configurations, follow the preview job,
confirm the open exams, apply, follow the saves; the rows name exam and course in words; the same page works with
JavaScript off. Screenshots (bulk-pick, bulk-preview, bulk-result) go to $EXAMS_SCREENSHOT_DIR (default: the run
directory)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from proctordash.exams import services
from tests.exams.conftest import _pick
from tests.exams.test_browser import shot
from tests.exams.test_history import cache_names
from tests.sync.conftest import Worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture
def worker(settings, monkeypatch):
    from proctordash.celery import app

    settings.BULK_JOB_STALE_AFTER = 3
    monkeypatch.setenv("BULK_JOB_STALE_AFTER", "3")
    app.control.purge()
    w = Worker(concurrency=1).start()
    yield w
    w.stop()
    app.control.purge()


def test_pick_preview_apply(login_page, live_server, coordinator, clean_sandbox, sp, world, worker):
    picked = [_pick(world, skip=i) for i in range(2)]
    cache_names(world, picked)
    for p in picked:
        services.configuration_get(**p.args(), client=sp)
    page = login_page(coordinator)
    page.goto(live_server.url + "/exams/")
    page.get_by_test_id("bulk-link").click()
    for p in picked:
        box = page.locator(f'input[name="configuration"][value="{p.sid}"]')
        box.locator("xpath=ancestor::details").evaluate("d => d.open = true")
        box.check()
    page.get_by_label("Extend the exam close date").check()
    page.get_by_label("Days to add to the close date").fill("2")
    page.get_by_label("Reason (kept in each configuration's history)").fill("Snow day")
    shot(page, "bulk-pick")
    page.get_by_role("button", name="Preview the change").click()
    expect(page.get_by_role("heading", name="Extend the exam close date by 2 days")).to_be_visible()
    # the preview runs in the worker; htmx polls and swaps in the finished job
    expect(page.locator("#bulk-status-h")).to_contain_text("Preview ready: nothing has been sent yet.", timeout=30_000)
    expect(page.locator("tr.bulk-item")).to_have_count(2)
    expect(page.locator("table.diff th", has_text="Exam closes")).to_have_count(2)
    for p in picked:  # rows name the exam and the course in words
        row = page.locator("tr.bulk-item", has=page.locator(f'a[href*="{p.sid}"]'))
        expect(row.locator("td.names a")).to_have_text(world.exams[p.exam_sid]["title"])
        expect(row.locator(".course-name")).to_contain_text(world.courses[p.course_sid]["title"])
    shot(page, "bulk-preview")
    before = {p.sid: sp.get_configuration(**p.args()).raw["examCloseDate"] for p in picked}
    confirm_all = page.get_by_label("Also apply to the")
    if confirm_all.count():
        confirm_all.check()
    page.get_by_role("button", name="Apply to 2 configurations").click()
    expect(page.locator("#bulk-status-h")).to_contain_text("Finished: 2 changed.", timeout=30_000)
    expect(page.locator('tr.bulk-item[data-status="saved"]')).to_have_count(2)
    expect(page.get_by_test_id("bulk-counts")).to_contain_text("2 changed")
    expect(page.get_by_test_id("changed-list")).to_contain_text(world.exams[picked[0].exam_sid]["title"])
    # focus went to the job's status when it finished (keyboard and screen-reader users hear how it ended)
    page.wait_for_function("document.activeElement && document.activeElement.id === 'bulk-status-h'", timeout=5000)  # focus moves after the swap settles
    shot(page, "bulk-result")
    for p in picked:
        assert sp.get_configuration(**p.args()).raw["examCloseDate"] != before[p.sid]


def test_without_javascript_the_page_refreshes_itself(browser, live_server, coordinator, clean_sandbox, sp, world,
                                                      worker):
    from tests.conftest import PASSWORD

    picked = [_pick(world, skip=i) for i in range(2)]
    for p in picked:
        services.configuration_get(**p.args(), client=sp)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(coordinator.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(live_server.url + "/exams/bulk/")
    for p in picked:
        page.locator(f'input[name="configuration"][value="{p.sid}"]').check(force=True)
    page.get_by_label("Set attempts allowed").check()
    page.get_by_label("Attempts allowed", exact=True).fill("6")
    page.get_by_role("button", name="Preview the change").click()
    # the noscript refresh reloads the page until the preview is ready
    expect(page.locator("#bulk-status-h")).to_contain_text("Preview ready: nothing has been sent yet.", timeout=30_000)
    confirm_all = page.get_by_label("Also apply to the")
    if confirm_all.count():
        confirm_all.check()
    page.get_by_role("button", name="Apply to 2 configurations").click()
    expect(page.locator("#bulk-status-h")).to_contain_text("Finished: 2 changed.", timeout=30_000)
    for p in picked:
        assert sp.get_configuration(**p.args()).raw["attempts"] == 6
    context.close()
