"""A real browser (Debian's Chromium through Playwright) signs in and sees the navigation for its role."""

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_coordinator_signs_in_and_sees_role_navigation(login_page, coordinator):
    page = login_page(coordinator)
    nav = page.get_by_role("navigation", name="Main")
    assert page.locator(".username").inner_text() == "cora"
    assert page.locator(".role-badge").inner_text() == "Coordinator"
    labels = nav.get_by_role("link").all_inner_texts()
    # Every installed page a coordinator may open is in the navigation.
    from proctordash.accounts.context_processors import navigation_for

    assert labels == [item["label"] for item in navigation_for(coordinator)]


def test_wrong_password_shows_error_and_keeps_username(page, live_server, coordinator):
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("cora")
    page.get_by_label("Password").fill("wrong-password-here")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("Username").input_value() == "cora"
