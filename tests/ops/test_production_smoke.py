"""Production smoke test: the deployment of docs/deploy.md, started locally, serves every page to a signed-in user.

gunicorn (2 workers) + a Celery worker + Celery beat, DJANGO_DEBUG=false with every production variable set (secrets
generated), on a real PostgreSQL and a real Redis (see tests/ops/stack.py for which), against the sandbox. The HTTPS
redirect, HSTS and Secure cookies stay on: requests carry the TLS proxy's X-Forwarded-Proto header.
"""

from __future__ import annotations

import re

import pytest
import requests

from .stack import Stack, StackUnavailable, wait_until

pytestmark = [pytest.mark.slow]

FAST_BEAT = {  # beat's first full pass 10 s after it starts (the settings' minimum), so the test sees beat → worker
    "SYNC_APPOINTMENTS_FULL_INTERVAL": "10",
    "SYNC_APPOINTMENTS_INCREMENTAL_INTERVAL": "30",
    "SYNC_PROCTOREXAM_INTERVAL": "5",
}


def test_production_configuration_serves_every_page():
    stack = Stack(env=FAST_BEAT)
    try:
        try:
            stack.start()
        except StackUnavailable as exc:
            pytest.skip(f"production stack unavailable: {exc}")
        stack.staff_add("cora", "coordinator")

        # --- the first sync comes from beat through the worker, not from the test ---
        wait_until(lambda: stack.successful_runs("appointments_full") and stack.successful_runs("proctorexam"),
                   timeout=60, interval=0.5, what="beat's first full appointments pass and ProctorExam pass")
        cached = stack.sql("SELECT count(*) FROM appointments_appointment WHERE removed_at IS NULL")[0][0]
        assert cached == stack.appointments

        # --- plain HTTP without the proxy is sent to HTTPS; the load balancer's probe is not ---
        plain = requests.get(stack.base_url + "/appointments/", allow_redirects=False, timeout=10)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://127.0.0.1")
        probe = requests.get(stack.base_url + "/healthz", allow_redirects=False, timeout=10)
        assert probe.status_code == 200 and probe.json()["status"] == "ok", probe.text

        # --- sign in over HTTP with CSRF; the cookies are Secure and HttpOnly ---
        client = stack.client()
        client.get("/login/")
        client.sign_in("cora")
        session_cookie = next(c for c in client.cookies if c.name == "sessionid")
        assert session_cookie.secure and session_cookie.has_nonstandard_attr("HttpOnly")

        assert client.get("/").headers["Location"] == "/appointments/"  # home sends staff to their first page
        home = client.get("/", follow=True)
        assert home.status_code == 200 and home.url.endswith("/appointments/")
        nav = re.search(r'<nav class="mainnav".*?</nav>', home.text, re.S).group(0)
        nav_paths = re.findall(r'href="([^"]+)"', nav)
        assert len(nav_paths) == 7, nav_paths  # a coordinator sees every entry of the navigation

        sid = stack.sql("SELECT sid FROM appointments_appointment WHERE raw ? 'examConfiguration' "
                        "AND removed_at IS NULL ORDER BY sid LIMIT 1")[0][0]
        detail = client.get(f"/appointments/{sid}/")
        assert detail.status_code == 200, detail.text[:500]
        edit = re.search(r'href="(/courses/[^"]+/configurations/[^"]+/)"', detail.text)
        assert edit, "the detail page links to its exam configuration"

        pages = [*nav_paths, "/appointments/?status=Scheduled&sort=-appointmentDate", f"/appointments/{sid}/",
                 edit.group(1), "/appointments/export.csv?status=Scheduled", "/monitor/readiness/export.csv",
                 "/appointments/learners/?q=a", "/profile/"]
        for path in pages:
            answer = client.get(path)
            assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
            if "text/html" in answer.headers["Content-Type"]:
                assert "Content-Security-Policy" in answer.headers, path
                assert answer.headers["X-Frame-Options"] == "DENY", path
                assert "max-age=31536000" in answer.headers["Strict-Transport-Security"], path

        # --- whitenoise serves collectstatic's hashed files with far-future caching ---
        css = re.search(r'href="(/static/css/proctordash\.[0-9a-f]{12}\.css)"', home.text)
        assert css, "stylesheet under a hashed name (CompressedManifestStaticFilesStorage)"
        static = client.get(css.group(1))
        assert static.status_code == 200 and "max-age=315360000" in static.headers["Cache-Control"]

        # --- an htmx fragment and a POST through CSRF work too ---
        fragment = client.get("/appointments/?status=Scheduled", headers={"HX-Request": "true"})
        assert fragment.status_code == 200 and "<html" not in fragment.text
        token = client.csrf_token("/health/")
        refresh = client.post("/health/refresh/", data={"kind": "proctorexam", "csrfmiddlewaretoken": token})
        assert refresh.status_code in (200, 302, 303), refresh.text[:300]

        errors = stack.server_errors()
        assert not errors, "\n".join(errors[:20])
        assert not stack.secrets_in_logs()
    finally:
        survivors = stack.stop(check=False)
    assert not survivors, f"processes left behind: {survivors}"
