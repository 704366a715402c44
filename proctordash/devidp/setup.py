"""People and client registrations of the development provider, from a JSON document:

    {"clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["http://127.0.0.1:8000/oidc/callback/"],
                  "post_logout_redirect_uris": ["http://127.0.0.1:8000/login/"], "name": "ProctorDash"}],
     "people": [{"username": "olivia", "password": "...", "email": "...", "first_name": "...", "last_name": "...",
                 "claims": {"groups": ["proctoring-coordinators"], "proctordash_courses": []}}]}

Applying a document again updates what is there (idempotent), so the demo can re-run it at every start.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction
from oauth2_provider.models import Application

from proctordash.devidp.models import Person


def apply(document: dict) -> None:
    with transaction.atomic():
        for client in document.get("clients", []):
            client_add(**client)
        for person in document.get("people", []):
            person_add(**person)


def client_add(*, client_id: str, client_secret: str, redirect_uris: list[str],
               post_logout_redirect_uris: list[str] = (), name: str = "ProctorDash") -> None:
    app = Application.objects.filter(client_id=client_id).first() or Application(client_id=client_id)
    app.name = name
    app.client_secret = client_secret  # hashed on save
    app.client_type = Application.CLIENT_CONFIDENTIAL
    app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    app.redirect_uris = " ".join(redirect_uris)
    app.post_logout_redirect_uris = " ".join(post_logout_redirect_uris)
    app.algorithm = Application.RS256_ALGORITHM
    app.skip_authorization = True  # the university's own app: no consent screen
    app.save()


def person_add(*, username: str, password: str, email: str = "", first_name: str = "", last_name: str = "",
               claims: dict | None = None) -> None:
    User = get_user_model()
    user = User.objects.filter(username=username).first() or User(username=username)
    user.email, user.first_name, user.last_name = email, first_name, last_name
    user.set_password(password)
    user.save()
    Person.objects.update_or_create(user=user, defaults={"claims": claims or {}})
