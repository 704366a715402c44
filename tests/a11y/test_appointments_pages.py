"""The appointment screens (list, one appointment, review queue, learner lookup and learner page) over real synced
data, at 1366×900 and at 390 px wide: axe-core clean under the WCAG 2.2 AA rules (target size included), no
horizontal page scroll, and every landmark named (issue 14 item 4, issue 15 item 2)."""

from __future__ import annotations

import pytest

from tests.a11y.test_accessibility import AXE_SOURCE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG22 = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
WIDTHS = [(1366, 900), (390, 844)]


def violations(page) -> list[dict]:
    page.evaluate(AXE_SOURCE)
    result = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG22)
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"][:5]]}
            for v in result["violations"]]


UNNAMED_LANDMARKS = """() => {
  const sel = 'nav, [role=search], [role=region], section[aria-label], section[aria-labelledby], aside, form[aria-label]';
  return Array.from(document.querySelectorAll(sel)).filter(el => {
    const name = el.getAttribute('aria-label') || (el.getAttribute('aria-labelledby') || '').split(' ')
      .map(id => (document.getElementById(id) || {}).textContent || '').join(' ');
    return !name.trim();
  }).map(el => el.outerHTML.slice(0, 100));
}"""


def pages_to_check(synced_world) -> list[tuple[str, str]]:
    from proctordash.appointments.models import Appointment

    row = Appointment.objects.live().exclude(learner_last_name="").exclude(learner_email="").order_by("sid").first()
    return [
        ("appointments", "/appointments/"),
        ("appointments past, filtered", "/appointments/?when=past&status=Closed&sort=-learner"),
        ("appointments field error", "/appointments/?appointmentAfter=not-a-date&courseSid=CU123"),
        ("appointment detail", f"/appointments/{row.sid}/"),
        ("review queue", "/appointments/review/"),
        ("learner lookup", f"/appointments/learners/?q={row.learner_last_name}"),
        ("learner page", f"/appointments/learners/person/?email={row.learner_email}"),
    ]


def test_appointment_pages_at_both_widths(synced, login_page, live_server, coordinator):
    page = login_page(coordinator)
    failures: dict = {}
    for width, height in WIDTHS:
        page.set_viewport_size({"width": width, "height": height})
        for label, url in pages_to_check(synced):
            response = page.goto(live_server.url + url)
            assert response.status == 200, (label, response.status)
            page.wait_for_load_state("networkidle")
            key = f"{label} @{width}"
            found = violations(page)
            if found:
                failures[key] = found
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            if scroll_width > width:
                failures[key + " width"] = scroll_width
            unnamed = page.evaluate(UNNAMED_LANDMARKS)
            if unnamed:
                failures[key + " unnamed landmarks"] = unnamed
    assert failures == {}, __import__("json").dumps(failures, indent=1)
