"""The development OpenID Connect provider (proctordash/devidp) as a separate process, with a cast of university
people, and the settings that point the dashboard at it."""

from __future__ import annotations

import copy
import json
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests import harness
from tests.conftest import COURSE_A, ROOT

GROUPS = {"coordinator": "proctoring-coordinators", "instructor": "proctoring-instructors",
          "support": "proctoring-support"}
CONTROL_TOKEN = "devidp-control-" + secrets.token_hex(8)


@dataclass
class Person:
    username: str
    password: str
    claims: dict


def _people() -> dict[str, Person]:
    def person(username, **claims):
        return Person(username, "uni-" + secrets.token_urlsafe(12), claims)

    return {
        "olivia": person("olivia", groups=[GROUPS["coordinator"], "staff"]),
        "ivan": person("ivan", groups=[GROUPS["instructor"]], proctordash_courses=[COURSE_A, "not-a-course"]),
        "sue": person("sue", groups=["staff", GROUPS["support"]]),
        "stu": person("stu", groups=["students"]),  # no group that maps to a role
        "nogroups": person("nogroups"),  # no groups claim at all
    }


class DevIdp:
    def __init__(self, process: subprocess.Popen, people: dict[str, Person]):
        self.process = process
        self.issuer = harness.DEVIDP_ISSUER
        self.base = self.issuer.rsplit("/o", 1)[0]
        self.people = people

    def control(self, name: str, body: dict | None = None) -> dict:
        response = requests.post(f"{self.base}/_devidp/{name}", json=body or {}, timeout=30,
                                 headers={"X-Devidp-Control": CONTROL_TOKEN})
        response.raise_for_status()
        return response.json()

    def set_faults(self, **faults) -> None:
        self.control("faults", faults)

    def update_person(self, username: str, **claims) -> None:
        person = self.people[username]
        person.claims = claims
        self.control("setup", {"people": [_person_doc(person)]})

    def sign_in_at_provider(self, authorize_url: str, username: str, password: str | None = None) -> str:
        """What a browser does at the provider: follow the authorization request to its login form, sign in, and
        return the URL the provider sends the browser back to (our callback with code and state)."""
        password = password or self.people[username].password
        session = requests.Session()
        response = session.get(authorize_url, allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text[:500]
        login_url = urljoin(authorize_url, response.headers["Location"])
        form = session.get(login_url, timeout=30)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        next_value = re.search(r'name="next" value="([^"]*)"', form.text).group(1).replace("&amp;", "&")
        response = session.post(login_url, data={"username": username, "password": password, "next": next_value,
                                                 "csrfmiddlewaretoken": token},
                                headers={"Referer": login_url}, allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text[:500]
        response = session.get(urljoin(login_url, response.headers["Location"]), allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text[:500]
        return response.headers["Location"]


def _person_doc(person: Person) -> dict:
    return {"username": person.username, "password": person.password, "email": f"{person.username}@example.edu",
            "first_name": person.username.title(), "last_name": "Example", "claims": person.claims}


@pytest.fixture(scope="session")
def devidp(live_server):
    """The provider on its pre-allocated loopback port, registered for the test client and the live server."""
    people = _people()
    callbacks = ["http://testserver/oidc/callback/", f"{live_server.url}/oidc/callback/"]
    logouts = ["http://testserver/login/", f"{live_server.url}/login/"]
    config = {
        "clients": [{"client_id": harness.TEST_ENVIRONMENT["OIDC_CLIENT_ID"],
                     "client_secret": harness.TEST_ENVIRONMENT["OIDC_CLIENT_SECRET"],
                     "redirect_uris": callbacks, "post_logout_redirect_uris": logouts}],
        "people": [_person_doc(p) for p in people.values()],
    }
    state = harness.RUN_DIR / "devidp"
    state.mkdir(exist_ok=True)
    config_path = state / "config.json"
    config_path.touch(mode=0o600)
    config_path.write_text(json.dumps(config))
    log = open(harness.RUN_DIR / "devidp.log", "wb")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("DJANGO_", "OIDC_"))}
    env["DEVIDP_CONTROL_TOKEN"] = CONTROL_TOKEN
    process = subprocess.Popen(
        [sys.executable, "-m", "proctordash.devidp", "--host", "127.0.0.1", "--port", str(harness.DEVIDP_PORT),
         "--config", str(config_path), "--state-dir", str(state)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    idp = DevIdp(process, people)
    deadline = time.monotonic() + 90
    while True:
        try:
            if requests.get(f"{idp.issuer}/.well-known/openid-configuration", timeout=2).ok:
                break
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"devidp did not start; see {harness.RUN_DIR / 'devidp.log'}")
        time.sleep(0.2)
    yield idp
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture
def oidc_on(settings, devidp):
    """The dashboard signs in through the development provider (local password sign-in stays on)."""
    from proctordash.accounts import oidc

    settings.OIDC_ENABLED = True
    settings.OIDC_ISSUER = devidp.issuer
    settings.OIDC_COORDINATOR_GROUPS = [GROUPS["coordinator"]]
    settings.OIDC_INSTRUCTOR_GROUPS = [GROUPS["instructor"]]
    settings.OIDC_SUPPORT_GROUPS = [GROUPS["support"]]
    settings.OIDC_PROVIDER_NAME = "Example University"
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)  # as settings.py does when OIDC_ISSUER is set
    policy["DIRECTIVES"]["form-action"].append(devidp.base)
    settings.CONTENT_SECURITY_POLICY = policy
    oidc.forget_provider()
    devidp.set_faults()
    yield devidp
    devidp.set_faults()
    oidc.forget_provider()


def callback_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"
