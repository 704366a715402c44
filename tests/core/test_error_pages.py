"""400, 403, 404 and 500 pages in the dashboard's layout with staff-language messages — in the demo too (DJANGO_DEBUG
on does not mean Django's debug pages) — and what htmx requests get across a sign-out or a role change."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests
from django.test import Client
from django.urls import reverse

from tests import harness
from tests.core.test_settings import ROOT, run_settings

pytestmark = pytest.mark.django_db

TECHNICAL = ("Traceback", "URLconf", "Django", "DEBUG = True", "Http404", "PermissionDenied", "resolver")


def assert_staff_page(body: str, heading: str):
    assert f"<h1>{heading}</h1>" in body
    assert 'aria-label="Main"' in body or "Sign in" in body  # the layout (navigation when signed in)
    for word in TECHNICAL:
        assert word not in body, word


def test_404_in_the_layout_for_staff(client_for, coordinator):
    response = client_for(coordinator).get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert_staff_page(body, "Page not found")
    assert 'aria-label="Main"' in body and "cora" in body


def test_403_names_the_role_and_what_to_do(client_for, instructor_a):
    response = client_for(instructor_a).get(reverse("monitoring:monitor"))
    assert response.status_code == 403
    body = response.content.decode()
    assert_staff_page(body, "Not allowed")
    assert "You are signed in as ian (Instructor)" in body and "nothing was changed" in body


def test_400_in_the_layout(client_for, coordinator):
    fields = {f"f{i}": "x" for i in range(2000)}  # more than DATA_UPLOAD_MAX_NUMBER_FIELDS: TooManyFieldsSent
    response = client_for(coordinator).post(reverse("profile"), fields)
    assert response.status_code == 400
    body = response.content.decode()
    assert_staff_page(body, "This request could not be understood")
    assert 'aria-label="Main"' in body


def test_400_for_a_host_the_layout_cannot_serve_is_still_a_page(client):
    response = client.get("/login/", HTTP_HOST="attacker.example")  # DisallowedHost → 400
    assert response.status_code == 400
    body = response.content.decode()
    assert "<h1>This request could not be understood</h1>" in body and "attacker.example" not in body


def test_stale_form_is_a_403_that_says_so(coordinator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(coordinator)
    response = client.post(reverse("logout"))
    assert response.status_code == 403
    body = response.content.decode()
    assert_staff_page(body, "This page had expired")
    assert "Nothing was changed" in body


@pytest.mark.parametrize("debug_pages,expected", [(None, "False"), ("true", "True")])
def test_demo_settings_keep_djangos_debug_pages_off_unless_asked(tmp_path, debug_pages, expected):
    env = {"DJANGO_DEBUG": "true", "PROCTORDASH_VAR_DIR": str(tmp_path)}
    if debug_pages:
        env["DJANGO_DEBUG_PAGES"] = debug_pages
    result = run_settings(env, "from django.conf import settings as s; print(s.DEBUG, s.DEVELOPMENT)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [expected, "True"]


@pytest.mark.slow
def test_the_demo_server_serves_the_dashboards_404_and_its_static_files(tmp_path):
    """`manage.py runserver` with the demo's environment (DJANGO_DEBUG=true): an unknown address gets the dashboard's
    404 page, not Django's debug page; static files are still served from static/."""
    port = harness._free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_DEBUG")}
    env.update({"DJANGO_DEBUG": "true", "PROCTORDASH_VAR_DIR": str(tmp_path)})
    log = open(tmp_path / "runserver.log", "wb")
    process = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(base + "/login/", timeout=2)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "runserver.log").read_text())
                time.sleep(0.2)
        missing = requests.get(base + "/static-and-nothing/", timeout=10)
        assert missing.status_code == 404
        assert "<h1>Page not found</h1>" in missing.text
        assert "URLconf" not in missing.text and "Django" not in missing.text
        css = requests.get(base + "/static/css/proctordash.css", timeout=10)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    finally:
        process.terminate()
        process.wait(10)
        log.close()


# --- htmx across a sign-out or a role change ------------------------------------------------------------------------
def test_signed_out_htmx_request_gets_hx_redirect_to_login_with_the_pages_url(client):
    response = client.get("/appointments/?status=Closed", HTTP_HX_REQUEST="true",
                          HTTP_HX_CURRENT_URL="http://testserver/appointments/?status=Scheduled&q=ada")
    assert response.status_code == 401
    assert response["HX-Redirect"] == "/login/?next=/appointments/%3Fstatus%3DScheduled%26q%3Dada"
    assert response["HX-Trigger"] == "proctordash:signed-out"
    assert "<form" not in response.content.decode()  # never a login page inside a panel


def test_hx_current_url_of_another_site_is_not_used(client):
    response = client.get("/appointments/?status=Closed", HTTP_HX_REQUEST="true",
                          HTTP_HX_CURRENT_URL="https://attacker.example/phish")
    assert response["HX-Redirect"] == "/login/?next=/appointments/%3Fstatus%3DClosed"


def test_signed_out_htmx_post_returns_to_the_page_not_the_endpoint(client):
    response = client.post("/monitor/poll/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/monitor/")
    assert response.status_code == 401 and response["HX-Redirect"] == "/login/?next=/monitor/"


def test_plain_requests_keep_the_ordinary_login_redirect(client):
    response = client.get("/appointments/?status=Closed")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/appointments/%3Fstatus%3DClosed"


def test_htmx_403_after_a_role_change_reloads_the_page_with_a_message(client_for, coordinator):
    client = client_for(coordinator)
    profile = coordinator.staff_profile
    profile.role = "instructor"  # the role changed while the monitor was open
    profile.save()
    response = client.post("/monitor/poll/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/monitor/")
    assert response.status_code == 403
    assert response["HX-Redirect"] == "/monitor/" and response["HX-Trigger"] == "proctordash:forbidden"
    page = client.get("/monitor/")  # what htmx then loads
    assert page.status_code == 403
    body = page.content.decode()
    assert "Your access has changed" in body and "You are signed in as cora (Instructor)" in body
