"""Login throttling keys on the real client address (DJANGO_PROXY_COUNT, proctordash/core/clientip.py): behind a
proxy an attacker locks out only itself, and without a proxy a forged X-Forwarded-For changes nothing."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import reverse

from proctordash.core.clientip import client_ip
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"  # the reverse proxy as gunicorn sees it
ATTACKER = "203.0.113.66"
USER = "198.51.100.7"


@pytest.mark.parametrize(
    "count,remote,xff,expected",
    [
        (0, USER, "", USER),
        (0, USER, "192.0.2.99", USER),  # no proxy: the header is whatever the client wrote
        (1, PROXY, USER, USER),
        (1, PROXY, f"192.0.2.99, {USER}", USER),  # forged left part, the proxy appended the real peer
        (2, PROXY, f"192.0.2.99, {USER}, 10.0.0.4", USER),
        (2, PROXY, USER, PROXY),  # fewer hops than proxies: trust nothing the request says
        (1, PROXY, "not-an-address", PROXY),
        (1, PROXY, "[2001:db8::7]:51000", "2001:db8::7"),
        (1, PROXY, "198.51.100.7:443", USER),
    ],
)
def test_client_ip(settings, count, remote, xff, expected):
    settings.PROXY_COUNT = count
    meta = {"REMOTE_ADDR": remote}
    if xff:
        meta["HTTP_X_FORWARDED_FOR"] = xff
    assert client_ip(RequestFactory().get("/", **meta)) == expected


def _attempt(client, password, *, remote, xff=None):
    extra = {"REMOTE_ADDR": remote}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return client.post(reverse("login"), {"username": "cora", "password": password}, **extra)


def _lock_out(client, *, remote, xff=None, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        assert _attempt(client, "wrong-guess-123", remote=remote, xff=xff).status_code in (200, 429)
    assert _attempt(client, PASSWORD, remote=remote, xff=xff).status_code == 429


def test_behind_a_proxy_the_attacker_locks_out_only_itself(client, coordinator, settings):
    from django.test import Client

    settings.PROXY_COUNT = 1
    # The attacker rotates a forged left part; the proxy appends the address it really saw.
    for i in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, "wrong-guess-123", remote=PROXY, xff=f"192.0.2.{i}, {ATTACKER}")
    assert _attempt(client, PASSWORD, remote=PROXY, xff=f"192.0.2.200, {ATTACKER}").status_code == 429
    # The real user, through the same proxy, signs in.
    response = _attempt(Client(), PASSWORD, remote=PROXY, xff=USER)
    assert response.status_code == 302 and response["Location"] != reverse("login")


def test_without_a_proxy_a_forged_header_changes_nothing(client, coordinator, settings):
    from django.test import Client

    settings.PROXY_COUNT = 0
    # Every attempt claims a different address; the lock still falls on the socket's peer.
    for i in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, "wrong-guess-123", remote=ATTACKER, xff=f"192.0.2.{i}")
    assert _attempt(client, PASSWORD, remote=ATTACKER, xff=USER).status_code == 429
    # Another machine is not affected, whatever header it sends.
    assert _attempt(Client(), PASSWORD, remote=USER, xff=ATTACKER).status_code == 302


def test_the_lock_is_recorded_against_the_client_address(client, coordinator, settings):
    from axes.models import AccessAttempt

    settings.PROXY_COUNT = 1
    _lock_out(client, remote=PROXY, xff=f"192.0.2.1, {ATTACKER}", settings=settings)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
