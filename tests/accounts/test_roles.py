"""Role enforcement: every role on a protected view (allowed, forbidden, anonymous → login)."""

import pytest
from django.contrib.auth import get_user_model
from django.http import Http404
from django.urls import reverse

from proctordash.accounts import permissions
from tests.conftest import COURSE_A, COURSE_B

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_login(client):
    for url in (reverse("home"), reverse("profile")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("who", ["coordinator", "instructor_a", "support"])
def test_every_role_reaches_its_profile(request, client_for, who):
    user = request.getfixturevalue(who)
    response = client_for(user).get(reverse("profile"))
    assert response.status_code == 200
    assert user.username in response.content.decode()


def test_account_without_role_is_forbidden(client_for):
    user = get_user_model().objects.create_user("norole", password="x" * 12)
    assert client_for(user).get(reverse("profile")).status_code == 403


def test_course_visibility(coordinator, instructor_a, support):
    assert permissions.visible_course_sids(coordinator) is permissions.ALL
    assert permissions.visible_course_sids(support) is permissions.ALL
    assert permissions.visible_course_sids(instructor_a) == {COURSE_A}
    assert permissions.can_edit_course(coordinator, COURSE_B)
    assert permissions.can_edit_course(instructor_a, COURSE_A)
    assert not permissions.can_edit_course(instructor_a, COURSE_B)
    assert not permissions.can_edit_course(support, COURSE_A)
    assert permissions.can_trigger_refresh(support) and not permissions.can_trigger_refresh(instructor_a)
    with pytest.raises(Http404):
        permissions.require_course_view(instructor_a, COURSE_B)


def test_profile_time_zone_is_validated_and_kept(client_for, instructor_a):
    client = client_for(instructor_a)
    response = client.post(reverse("profile"), {"time_zone": "Mars/Base"})
    assert response.status_code == 200
    body = response.content.decode()
    assert "Select a valid choice" in body and "time zone" in body
    response = client.post(reverse("profile"), {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    instructor_a.staff_profile.refresh_from_db()
    assert instructor_a.staff_profile.time_zone == "Asia/Tokyo"


def test_login_is_throttled_after_repeated_failures(client, coordinator, settings):
    """django-axes locks the username+address pair after LOGIN_FAILURE_LIMIT wrong passwords; even the right
    password is then refused with the lock-out page."""
    from tests.conftest import PASSWORD

    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": "cora", "password": "wrong-guess-123"})
        assert response.status_code in (200, 429)
    response = client.post(reverse("login"), {"username": "cora", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_security_headers_on_every_page(client):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
