"""Walks the whole URL configuration: every view must send an anonymous visitor to the login page, except the few
that are public on purpose. A new view without protection fails here."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Public on purpose: the login page and the university sign-in (start, callback), the load balancers' health
# check, and Django's own admin (it has its own login).
PUBLIC = {"login", "healthz", "oidc_authentication_init", "oidc_callback",
          "metrics"}  # a bearer token or an allow-list, never a session (tests/ops/test_metrics.py)
PUBLIC_PREFIXES = ("admin/", "static/", "_sandbox/")

FAKE_VALUES = {
    "course": "CU" + "c" * 32, "exam": "EX" + "e" * 32, "configuration": "EC" + "f" * 32,
    "enrollment": "EN" + "d" * 32, "sid": "AP" + "a" * 32, "pk": "1", "id": "1",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _fake_path(route: str) -> str:
    def value(match):
        name = match.group(2)
        if match.group(1) == "uuid":
            return "00000000-0000-4000-8000-000000000000"
        for key, fake in FAKE_VALUES.items():
            if key in name.lower():
                return fake
        return "1" if match.group(1) == "int" else "x"

    path = re.sub(r"<(?:(\w+):)?(\w+)>", value, route)
    path = path.lstrip("^").rstrip("$").replace("\\Z", "")
    return "/" + path


def all_routes():
    return [(route, p) for route, p in _walk(get_resolver().url_patterns)
            if not route.startswith(PUBLIC_PREFIXES) and p.name not in PUBLIC]


@pytest.mark.django_db
@pytest.mark.parametrize("route,pattern", all_routes(), ids=[r for r, _ in all_routes()])
def test_anonymous_is_sent_to_login(client, route, pattern):
    path = _fake_path(route)
    for method in ("get", "post"):
        response = getattr(client, method)(path)
        assert response.status_code == 302, f"{method.upper()} {path} answered {response.status_code}"
        assert response["Location"].startswith("/login/"), f"{method.upper()} {path} → {response['Location']}"


def test_the_walk_finds_the_views():
    names = {p.name for _, p in all_routes()}
    assert {"home", "profile", "logout"} <= names
