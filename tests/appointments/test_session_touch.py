"""The session engine (proctordash/core/sessions.py) keeps the idle expiry sliding without a write per request."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone


def _row(client) -> Session:
    return Session.objects.get(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value)


def test_an_unchanged_session_is_touched_at_most_once_a_minute(client_for, coordinator):
    client = client_for(coordinator)
    age = timedelta(seconds=settings.SESSION_COOKIE_AGE)
    assert client.get("/appointments/").status_code == 200

    recent = timezone.now() + age - timedelta(seconds=20)  # saved 20 s ago: no write needed
    Session.objects.filter(pk=_row(client).pk).update(expire_date=recent)
    assert client.get("/appointments/").status_code == 200
    assert _row(client).expire_date == recent

    stale = timezone.now() + age - timedelta(seconds=120)  # saved 2 min ago: the expiry moves to now + age
    Session.objects.filter(pk=_row(client).pk).update(expire_date=stale)
    before = timezone.now()
    assert client.get("/appointments/").status_code == 200
    assert before + age - timedelta(seconds=5) <= _row(client).expire_date <= timezone.now() + age


def test_a_changed_session_is_always_saved(client_for, coordinator):
    from django.contrib.sessions.backends.base import SessionBase
    from importlib import import_module

    client = client_for(coordinator)
    client.get("/appointments/")
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    recent = timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE) - timedelta(seconds=5)
    Session.objects.filter(session_key=key).update(expire_date=recent)
    store = import_module(settings.SESSION_ENGINE).SessionStore(key)
    assert isinstance(store, SessionBase) and store.get("_auth_user_id")  # loaded
    store.save()  # unchanged, touched 5 s ago: skipped
    assert _row(client).expire_date == recent
    store["note"] = "kept"
    store.save()  # changed: written, expiry refreshed
    assert _row(client).expire_date > recent
    assert import_module(settings.SESSION_ENGINE).SessionStore(key)["note"] == "kept"


def test_an_idle_session_still_ends(client_for, coordinator):
    client = client_for(coordinator)
    client.get("/appointments/")
    Session.objects.filter(pk=_row(client).pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/appointments/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
