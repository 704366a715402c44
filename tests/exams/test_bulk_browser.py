"""Bulk change in Debian's Chromium: pick two configurations, preview before → after, apply, see each outcome.
Screenshots (bulk-pick, bulk-preview, bulk-result) go to $EXAMS_SCREENSHOT_DIR (default: the run directory)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from proctordash.exams import services
from tests.exams.conftest import _pick
from tests.exams.test_browser import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pick_preview_apply(login_page, live_server, coordinator, clean_sandbox, sp, world):
    picked = [_pick(world, skip=i) for i in range(2)]
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
    expect(page.locator("tr.bulk-item")).to_have_count(2)
    expect(page.locator("table.diff th", has_text="Exam closes")).to_have_count(2)
    shot(page, "bulk-preview")
    before = {p.sid: sp.get_configuration(**p.args()).raw["examCloseDate"] for p in picked}
    page.get_by_role("button", name="Apply to 2 configurations").click()
    expect(page.locator('tr.bulk-item[data-status="saved"]')).to_have_count(2)
    expect(page.get_by_test_id("bulk-counts")).to_contain_text("2 saved")
    shot(page, "bulk-result")
    for p in picked:
        assert sp.get_configuration(**p.args()).raw["examCloseDate"] != before[p.sid]
