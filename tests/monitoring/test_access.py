"""Every monitoring page and fragment: coordinator and support allowed, instructors forbidden, anonymous users sent
to the login page (except /healthz, which is public and carries no personal data)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.monitoring.factories import StudentSessionFactory, SyncRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def urls():
    session = StudentSessionFactory(incident_count=0)
    run = SyncRunFactory()
    return [
        ("get", reverse("monitoring:monitor"), {}),
        ("get", reverse("monitoring:monitor"), {"HTTP_HX_REQUEST": "true"}),
        ("post", reverse("monitoring:poll"), {"HTTP_HX_REQUEST": "true"}),
        ("get", reverse("monitoring:session", args=[session.id]), {}),
        ("get", reverse("monitoring:session", args=[session.id]), {"HTTP_HX_REQUEST": "true"}),
        ("get", reverse("monitoring:readiness"), {}),
        ("get", reverse("monitoring:readiness_export"), {}),
        ("get", reverse("monitoring:health"), {}),
        ("get", reverse("monitoring:health_run", args=[run.id]), {"HTTP_HX_REQUEST": "true"}),
        ("post", reverse("monitoring:health_refresh"), {"HTTP_HX_REQUEST": "true"}),
    ]


@pytest.mark.parametrize("role", ["coordinator", "support"])
def test_staff_who_watch_may_open_everything(request, client_for, urls, role):
    client = client_for(request.getfixturevalue(role))
    for method, url, headers in urls:
        if url.startswith(reverse("monitoring:health_refresh")):
            continue  # would queue a real refresh; covered in test_health.py
        response = getattr(client, method)(url, **headers)
        assert response.status_code in (200, 204), (method, url, response.status_code)


@pytest.mark.parametrize("role", ["instructor_a", "instructor_b"])
def test_instructors_are_forbidden(request, client_for, urls, role):
    client = client_for(request.getfixturevalue(role))
    for method, url, headers in urls:
        response = getattr(client, method)(url, **headers)
        assert response.status_code == 403, (method, url, response.status_code)


def test_anonymous_users_go_to_the_login_page(client, urls):
    for method, url, headers in urls:
        response = getattr(client, method)(url, **headers)
        if headers.get("HTTP_HX_REQUEST"):  # htmx: the whole page goes to the login page (core/middleware.py)
            assert response.status_code == 401, (method, url)
            assert response["HX-Redirect"].startswith(reverse("login")), (method, url)
        else:
            assert response.status_code == 302 and response["Location"].startswith(reverse("login")), (method, url)


def test_healthz_is_public(client):
    assert client.get("/healthz").status_code == 200


def test_navigation_links_the_pages_for_watchers_only(client_for, support, instructor_a):
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    for name in ("monitoring:monitor", "monitoring:readiness", "monitoring:health"):
        assert f'href="{reverse(name)}"' in html


def test_the_navigation_says_which_page_and_which_section_you_are_in(client_for, coordinator):
    """aria-current="page" on the page's own entry; a deeper page (a bulk change under Exams, an appointment under the
    list) marks its section with aria-current="true"; the readiness board, under /monitor/, is its own entry only."""
    import re

    client = client_for(coordinator)

    def marked(path):
        html = client.get(path).content.decode()
        nav = html.split('class="mainnav"', 1)[1].split("</nav>", 1)[0]
        return re.findall(r'<a href="([^"]+)" aria-current="(page|true)">', nav)

    assert marked(reverse("monitoring:readiness")) == [(reverse("monitoring:readiness"), "page")]
    assert marked(reverse("monitoring:monitor")) == [(reverse("monitoring:monitor"), "page")]
    assert marked(reverse("exams:bulk")) == [(reverse("exams:index"), "true")]
    assert marked(reverse("appointments:review")) == [(reverse("appointments:review"), "page")]
    assert marked("/profile/") == []
