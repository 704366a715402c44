"""Sign-in through the university's OpenID Connect provider: the real flow against the development provider
(proctordash/devidp, a separate process: discovery, authorization code with PKCE, token exchange, JWKS, userinfo),
driven here with Django's test client on our side and HTTP on the provider's. Nothing of the exchange is mocked."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from proctordash.accounts.models import CourseAssignment, OidcIdentity, StaffProfile
from tests.accounts.conftest import GROUPS, callback_path
from tests.conftest import COURSE_A, COURSE_B, PASSWORD

pytestmark = pytest.mark.django_db


def start(client, next_url: str | None = None) -> str:
    url = reverse("oidc_authentication_init") + (f"?next={next_url}" if next_url else "")
    response = client.get(url)
    assert response.status_code == 302, response.content[:500]
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == ["proctordash-test"] and query["code_challenge_method"] == ["S256"]
    assert query["nonce"] and query["state"] and query["scope"] == ["openid email profile"]
    return location


def sign_in(client, idp, username: str, next_url: str | None = None):
    back = idp.sign_in_at_provider(start(client, next_url), username)
    return client.get(callback_path(back))


def test_coordinator_signs_in_with_role_from_groups(client, oidc_on):
    response = sign_in(client, oidc_on, "olivia", next_url="/profile/")
    assert response.status_code == 302 and response["Location"] == "/profile/"
    user = get_user_model().objects.get(oidc_identity__subject__isnull=False, username="olivia")
    assert user.staff_profile.role == "coordinator"
    assert not user.has_usable_password()  # never a local password for a university account
    assert user.email == "olivia@example.edu"
    page = client.get("/profile/")
    assert page.status_code == 200 and "Coordinator" in page.content.decode()
    assert "oidc_id_token" in client.session


def test_instructor_gets_exactly_the_course_sids_of_the_claim(client, oidc_on):
    assert sign_in(client, oidc_on, "ivan").status_code == 302
    user = get_user_model().objects.get(username="ivan")
    assert user.staff_profile.role == "instructor"
    assert set(CourseAssignment.objects.filter(user=user).values_list("course_sid", flat=True)) == {COURSE_A}


def test_role_and_courses_follow_the_claims_at_every_sign_in(client, oidc_on):
    sign_in(client, oidc_on, "ivan")
    user = get_user_model().objects.get(username="ivan")
    client.post(reverse("logout"))
    oidc_on.update_person("ivan", groups=[GROUPS["instructor"]], proctordash_courses=f"{COURSE_B}, {COURSE_A}")
    sign_in(client, oidc_on, "ivan")
    assert set(CourseAssignment.objects.filter(user=user).values_list("course_sid", flat=True)) == {COURSE_A, COURSE_B}
    client.post(reverse("logout"))
    oidc_on.update_person("ivan", groups=[GROUPS["support"]], proctordash_courses=[COURSE_A])
    sign_in(client, oidc_on, "ivan")
    user.refresh_from_db()
    assert user.staff_profile.role == "support"
    assert not CourseAssignment.objects.filter(user=user).exists()  # courses are an instructor's only
    assert OidcIdentity.objects.filter(user=user).count() == 1 and get_user_model().objects.filter(username__startswith="ivan").count() == 1


@pytest.mark.parametrize("username", ["stu", "nogroups"])
def test_unknown_or_missing_group_gets_the_no_access_page_and_no_role(client, oidc_on, username):
    response = sign_in(client, oidc_on, username)
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>No access to ProctorDash</h1>" in body
    assert f"You signed in as {username} at Example University" in body
    assert "_auth_user_id" not in client.session
    assert not StaffProfile.objects.filter(user__username=username).exists()


def test_losing_the_group_takes_the_role_away(client, oidc_on):
    sign_in(client, oidc_on, "sue")
    user = get_user_model().objects.get(username="sue")
    assert user.staff_profile.role == "support"
    client.post(reverse("logout"))
    oidc_on.update_person("sue", groups=["staff"])
    response = sign_in(client, oidc_on, "sue")
    assert response.status_code == 403
    assert not StaffProfile.objects.filter(user=user).exists()


def test_a_university_account_never_takes_over_a_local_account_of_the_same_name(client, oidc_on):
    from proctordash.accounts.services import staff_add

    staff_add(username="olivia", role="support", courses=[], password=PASSWORD)
    local = get_user_model().objects.get(username="olivia")
    sign_in(client, oidc_on, "olivia")
    linked = OidcIdentity.objects.get().user
    assert linked.pk != local.pk and linked.username == "olivia-2"
    local.staff_profile.refresh_from_db()
    assert local.staff_profile.role == "support" and local.has_usable_password()


def test_wrong_audience_is_refused(client, oidc_on):
    oidc_on.set_faults(aud="some-other-application")
    response = sign_in(client, oidc_on, "olivia")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>Sign-in not completed</h1>" in body and "meant for another application" in body
    assert "_auth_user_id" not in client.session and not OidcIdentity.objects.exists()


def test_expired_token_is_refused(client, oidc_on):
    oidc_on.set_faults(expired=True)
    response = sign_in(client, oidc_on, "olivia")
    assert response.status_code == 403
    assert "had already expired" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_token_of_another_issuer_is_refused(client, oidc_on):
    oidc_on.set_faults(iss="https://login.example.com/other-tenant")
    response = sign_in(client, oidc_on, "olivia")
    assert response.status_code == 403 and "could not be verified" in response.content.decode()


def test_wrong_nonce_is_refused(client, oidc_on):
    oidc_on.set_faults(nonce="replayed-nonce")
    response = sign_in(client, oidc_on, "olivia")
    assert response.status_code == 403 and "_auth_user_id" not in client.session


def test_tampered_state_is_refused(client, oidc_on):
    back = oidc_on.sign_in_at_provider(start(client), "olivia")
    tampered = back.replace("state=", "state=x")
    response = client.get(callback_path(tampered))
    assert response.status_code == 400
    assert "could not be matched to one started in this browser" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_callback_cannot_be_replayed(client, oidc_on):
    back = oidc_on.sign_in_at_provider(start(client), "olivia")
    assert client.get(callback_path(back)).status_code == 302
    client.post(reverse("logout"))
    assert client.get(callback_path(back)).status_code == 400


def test_another_browsers_callback_is_refused(client, oidc_on):
    from django.test import Client

    back = oidc_on.sign_in_at_provider(start(Client()), "olivia")  # started elsewhere (login CSRF)
    response = client.get(callback_path(back))
    assert response.status_code == 400 and "_auth_user_id" not in client.session


def test_provider_error_answer_is_a_clear_page(client, oidc_on):
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get(f"/oidc/callback/?error=access_denied&state={state}")
    assert response.status_code == 403 and "access denied" in response.content.decode()


def test_provider_down_is_a_clear_page_not_a_500(client, oidc_on, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9/o"  # nothing listens there
    from proctordash.accounts import oidc

    oidc.forget_provider()
    response = client.get(reverse("oidc_authentication_init"))
    assert response.status_code == 503
    assert "<h1>University sign-in unavailable</h1>" in response.content.decode()


def test_sign_out_ends_the_providers_session_too(client, oidc_on):
    sign_in(client, oidc_on, "olivia")
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == oidc_on.issuer + "/logout/"
    query = parse_qs(location.query)
    assert query["post_logout_redirect_uri"] == ["http://testserver/login/"] and query["id_token_hint"]
    assert "_auth_user_id" not in client.session


def test_local_sign_in_is_kept_as_break_glass_and_can_be_switched_off(client, oidc_on, settings, coordinator):
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with Example University" in page and "Sign in with a local account" in page
    ok = client.post(reverse("login"), {"username": "cora", "password": PASSWORD})
    assert ok.status_code == 302
    client.post(reverse("logout"))
    settings.LOCAL_LOGIN_ENABLED = False
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with Example University" in page and 'name="password"' not in page
    refused = client.post(reverse("login"), {"username": "cora", "password": PASSWORD})
    assert refused.status_code == 403 and "_auth_user_id" not in client.session
    assert "switched off" in refused.content.decode()
    # Django's admin login uses the same backends: closed too
    admin = client.post("/admin/login/", {"username": "cora", "password": PASSWORD})
    assert "_auth_user_id" not in client.session and admin.status_code == 200


def test_without_oidc_the_login_page_is_the_password_form(client):
    page = client.get(reverse("login")).content.decode()
    assert "Sign in with" not in page and 'name="password"' in page
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
