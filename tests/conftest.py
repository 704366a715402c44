"""Shared fixtures: the cast of users, the upstream sandbox over HTTP, and Playwright on Debian's Chromium."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests import harness

ROOT = Path(__file__).resolve().parent.parent
COURSE_A = "CU" + "a" * 32
COURSE_B = "CU" + "b" * 32
PASSWORD = "correct-horse-battery-staple"

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# --- the cast ------------------------------------------------------------------------------------------------------
def _staff(username: str, role: str, courses: list[str] | None = None):
    from proctordash.accounts.services import staff_add
    from django.contrib.auth import get_user_model

    staff_add(username=username, role=role, courses=courses or [], password=PASSWORD)
    return get_user_model().objects.get(username=username)


@pytest.fixture
def coordinator(db):
    return _staff("cora", "coordinator")


@pytest.fixture
def instructor_a(db):
    return _staff("ian", "instructor", [COURSE_A])


@pytest.fixture
def instructor_b(db):
    return _staff("ines", "instructor", [COURSE_B])


@pytest.fixture
def support(db):
    return _staff("sam", "support")


def sign_in(client, username: str, password: str) -> bool:
    """Sign in through the real login form (django-axes needs the request, so client.login() is not used)."""
    response = client.post("/login/", {"username": username, "password": password})
    return response.status_code == 302 and response["Location"] != "/login/"


@pytest.fixture
def client_for(client):
    """client_for(user) → a test client logged in as that user."""

    def login(user):
        client.force_login(user)
        return client

    return login


# --- the upstream sandbox ------------------------------------------------------------------------------------------
class Sandbox:
    """The sandbox process and its control endpoint (/_sandbox/...)."""

    def __init__(self, url: str, process: subprocess.Popen):
        self.url = url
        self.process = process

    def control(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.url}/_sandbox/{path.lstrip('/')}", timeout=30, **kwargs)
        response.raise_for_status()
        return response

    def set_faults(self, **faults):
        return self.control("POST", "faults", json=faults)

    def reset(self):
        return self.control("POST", "reset")

    def advance_clock(self, seconds: float):
        return self.control("POST", "clock", json={"advance_seconds": seconds})


SANDBOX_APPOINTMENTS = int(os.environ.get("TEST_SANDBOX_APPOINTMENTS", "600"))
SANDBOX_SEED = 42


@pytest.fixture(scope="session")
def sandbox():
    """The upstream sandbox as a separate process on the loopback port the settings already point at."""
    log = open(harness.RUN_DIR / "sandbox.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runsandbox", "--host", "127.0.0.1", "--port", str(harness.SANDBOX_PORT),
         "--seed", str(SANDBOX_SEED), "--appointments", str(SANDBOX_APPOINTMENTS)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{harness.SANDBOX_URL}/_sandbox/health", timeout=1).ok:
                break
        except (requests.ConnectionError, requests.Timeout):  # a busy machine may be slow to answer the first call
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"sandbox did not start; see {harness.RUN_DIR / 'sandbox.log'}")
        time.sleep(0.1)
    yield Sandbox(harness.SANDBOX_URL, process)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


# --- Playwright on Debian's Chromium -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_FLAGS}


@pytest.fixture
def login_page(page, live_server):
    """login_page(user) → a Playwright page signed in through the real login form."""

    def login(user):
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page

    return login
