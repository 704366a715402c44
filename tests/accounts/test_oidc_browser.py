"""The university sign-in in a real browser (Debian's Chromium) against the development provider running as its own
process: redirect, sign-in at the provider, callback, role and course scope applied, sign-out at both ends — and the
bad cases, each a clear refusal page."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.appointments.factories import AppointmentFactory, CourseFactory
from tests.conftest import COURSE_A, COURSE_B

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def appointments(db):
    CourseFactory(sid=COURSE_A, title="Biology 101")
    CourseFactory(sid=COURSE_B, title="Chemistry 200")
    soon = timezone.now() + timedelta(hours=2)
    return {
        "mine": AppointmentFactory(learner_first_name="Ada", learner_last_name="Lovelace", course_sid=COURSE_A,
                                   course_title="Biology 101", appointment_date=soon),
        "other": AppointmentFactory(learner_first_name="Alan", learner_last_name="Turing", course_sid=COURSE_B,
                                    course_title="Chemistry 200", appointment_date=soon),
    }


def university_sign_in(page, idp, username: str):
    """Click "Sign in with …" on our page, then sign in on the provider's own page."""
    page.get_by_role("link", name="Sign in with Example University").click()
    page.wait_for_url(f"{idp.base}/**")
    expect(page.get_by_role("heading", name="Example University")).to_be_visible()
    page.get_by_label("University username").fill(username)
    page.get_by_label("University password").fill(idp.people[username].password)
    page.get_by_role("button", name="Continue").click()


def test_instructor_signs_in_sees_own_course_only_and_signs_out_everywhere(page, live_server, oidc_on, appointments):
    page.goto(f"{live_server.url}/appointments/")
    page.wait_for_url("**/login/?next=/appointments/")
    university_sign_in(page, oidc_on, "ivan")

    page.wait_for_url(f"{live_server.url}/appointments/")  # back through the callback to the page asked for
    expect(page.locator(".role-badge")).to_have_text("Instructor")
    expect(page.locator(".username")).to_have_text("ivan")
    body = page.locator("#results")
    expect(body).to_contain_text("Ada Lovelace")
    expect(body).not_to_contain_text("Alan Turing")  # course scope from the courses claim
    response = page.goto(f"{live_server.url}/appointments/{appointments['other'].sid}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server.url}/login/")  # through the provider's end_session endpoint and back
    # the provider's session ended too: signing in again asks for the university password again
    page.get_by_role("link", name="Sign in with Example University").click()
    page.wait_for_url(f"{oidc_on.base}/accounts/login/**")
    expect(page.get_by_label("University password")).to_be_visible()


def test_coordinator_gets_the_coordinators_pages(page, live_server, oidc_on, appointments):
    page.goto(f"{live_server.url}/login/")
    university_sign_in(page, oidc_on, "olivia")
    page.wait_for_url(f"{live_server.url}/appointments/")
    expect(page.locator(".role-badge")).to_have_text("Coordinator")
    expect(page.locator("#results")).to_contain_text("Alan Turing")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Live monitor")).to_be_visible()


@pytest.mark.parametrize(
    "case,heading,words,status",
    [
        ("unknown_group", "No access to ProctorDash", "not in any of the groups that give access", 403),
        ("wrong_audience", "Sign-in not completed", "meant for another application", 403),
        ("expired", "Sign-in not completed", "had already expired", 403),
        ("tampered_state", "Sign-in not completed", "could not be matched to one started in this browser", 400),
    ],
)
def test_bad_sign_ins_are_clear_refusals(page, live_server, oidc_on, case, heading, words, status):
    username = "stu" if case == "unknown_group" else "olivia"
    if case == "wrong_audience":
        oidc_on.set_faults(aud="another-application")
    elif case == "expired":
        oidc_on.set_faults(expired=True)
    statuses = []
    page.on("response", lambda r: statuses.append(r.status) if "/oidc/callback/" in r.url else None)
    if case == "tampered_state":
        # The provider's redirect to our callback cannot be routed (Playwright routes only the first request of a
        # redirect chain), so the sign-in form's POST is: it is sent to the provider as the browser would, the
        # chain is followed to the callback URL, and the browser is sent there with the state changed.
        def tamper(route):
            if route.request.method != "POST":
                return route.continue_()
            answer = route.fetch(max_redirects=0)
            cookie = "; ".join(h["value"].split(";", 1)[0] for h in answer.headers_array
                               if h["name"].lower() == "set-cookie")
            authorize = page.request.get(oidc_on.base + answer.headers["location"], max_redirects=0,
                                         headers={"Cookie": cookie})
            callback = urlsplit(authorize.headers["location"])
            query = parse_qs(callback.query)
            forged = f"{live_server.url}/oidc/callback/?code={query['code'][0]}&state=forged{query['state'][0]}"
            route.fulfill(status=302, headers={"Location": forged})

        page.route(f"{oidc_on.base}/accounts/login/**", tamper)
    page.goto(f"{live_server.url}/login/")
    university_sign_in(page, oidc_on, username)
    page.wait_for_url("**/oidc/callback/**")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(words)
    assert statuses == [status]
    # not signed in: the dashboard sends this browser to the sign-in page
    page.goto(f"{live_server.url}/appointments/")
    page.wait_for_url("**/login/?next=/appointments/")


@pytest.mark.parametrize("width", [1366, 390])
def test_sign_in_and_refusal_pages_are_accessible_at_both_widths(page, live_server, oidc_on, width):
    from tests.a11y.test_accessibility import axe_violations

    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/login/")
    page.get_by_text("Sign in with a local account").click()  # the folded break-glass form, opened
    expect(page.get_by_label("Password")).to_be_visible()
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    university_sign_in(page, oidc_on, "stu")
    expect(page.get_by_role("heading", name="No access to ProctorDash")).to_be_visible()
    assert axe_violations(page) == []
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.goto(f"{live_server.url}/no-such-page/")
    assert axe_violations(page) == []
