"""Fixtures for the exams tests: configurations picked from the sandbox's seeded world (same seed, same SIDs), a
client for reading the sandbox directly, and a sandbox put back to its seed state after each test."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import SANDBOX_APPOINTMENTS, SANDBOX_SEED, _staff


@dataclass
class Picked:
    course_sid: str
    exam_sid: str
    sid: str

    @property
    def url(self) -> str:
        return f"/courses/{self.course_sid}/exams/{self.exam_sid}/configurations/{self.sid}/"

    def args(self) -> dict:
        return {"course_sid": self.course_sid, "exam_sid": self.exam_sid, "configuration_sid": self.sid}


@pytest.fixture(scope="session")
def world():
    from proctordash.sandbox.data import generate

    return generate(seed=SANDBOX_SEED, appointments=SANDBOX_APPOINTMENTS, anchor=time.time())


def _when(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _pick(world, *, per_student=False, locked=False, online=True, skip=0) -> Picked:
    found = 0
    for sid, cfg in world.configurations.items():
        exam = world.exams[cfg["examSid"]]
        if bool(cfg["enrollmentSid"]) != per_student or bool(cfg["locked"]) != locked:
            continue
        if online and not cfg.get("password"):
            continue
        if not per_student and not (cfg.get("examOpenDate") and cfg.get("examCloseDate") and cfg.get("duration")):
            continue
        if found < skip:
            found += 1
            continue
        return Picked(exam["courseSid"], cfg["examSid"], sid)
    raise LookupError("no such configuration in the sandbox world")


@pytest.fixture(scope="session")
def cfg(world) -> Picked:
    return _pick(world)


@pytest.fixture(scope="session")
def other_cfg(world) -> Picked:
    return _pick(world, skip=1)


@pytest.fixture(scope="session")
def locked_cfg(world) -> Picked:
    return _pick(world, locked=True, online=False)


@pytest.fixture(scope="session")
def student_cfg(world) -> Picked:
    return _pick(world, per_student=True, online=False)


@pytest.fixture
def sp(sandbox):
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    client = SmarterProctoringClient.from_settings()
    yield client
    client.close()


def settle_window(client, picked: Picked) -> None:
    """Move a picked configuration's window a month ahead: the seeded exams are all open around now, and an open
    exam (or one opening within 24 h) asks for a confirmation on every save. The guard rails are tested on purpose
    with windows set by those tests."""
    from proctordash.core.timezones import to_utc_z
    from proctordash.exams.fields import put_body

    raw = client.get_configuration(**picked.args()).raw
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(days=30)
    client.update_configuration(**picked.args(), body=put_body(raw) | {
        "examOpenDate": to_utc_z(start), "examCloseDate": to_utc_z(start + timedelta(days=7)),
        "scheduleOpenDate": to_utc_z(start - timedelta(days=14)),
        "scheduleCloseDate": to_utc_z(start + timedelta(days=6))})


@pytest.fixture
def clean_sandbox(sandbox, world):
    """The sandbox in its seed state with no faults, before and after the test; the picked configurations'
    windows a month ahead (settle_window)."""
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    sandbox.set_faults()
    sandbox.reset()
    with SmarterProctoringClient.from_settings() as client:
        for picked in (_pick(world), _pick(world, skip=1), _pick(world, skip=2)):
            settle_window(client, picked)
    yield sandbox
    sandbox.set_faults()
    sandbox.reset()


@pytest.fixture
def instructor_of(db):
    """instructor_of(course_sid) → an instructor assigned to that course only."""

    def make(course_sid: str, username: str = "ivy"):
        return _staff(username, "instructor", [course_sid])

    return make


def form_data(html: str) -> dict:
    """The fields of the first configuration/create form in a page, as a browser would submit them (checked
    checkboxes only; the default 'save' action)."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.data: dict[str, list[str]] = {}
            self.in_form = False
            self.textarea = None
            self.select = None
            self.select_first = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "form" and a.get("id") in ("config-form-el", "create-form-el"):
                self.in_form = True
            if not self.in_form:
                return
            name = a.get("name")
            if tag == "input" and name and a.get("type") not in ("submit", "button"):
                if a.get("type") == "checkbox":
                    if "checked" in a:
                        self.data.setdefault(name, []).append(a.get("value", "on"))
                else:
                    self.data.setdefault(name, []).append(a.get("value") or "")
            elif tag == "textarea" and name:
                self.textarea = name
                self.data.setdefault(name, []).append("")
            elif tag == "select" and name:
                self.select = name
                self.select_first = None
            elif tag == "option" and self.select:
                if self.select_first is None:
                    self.select_first = a.get("value", "")
                if "selected" in a:
                    self.data[self.select] = [a.get("value", "")]

        def handle_endtag(self, tag):
            if tag == "form":
                self.in_form = False
            if tag == "textarea":
                self.textarea = None
            if tag == "select" and self.select:
                self.data.setdefault(self.select, [self.select_first or ""])
                self.select = None

        def handle_data(self, data):
            if self.textarea:
                self.data[self.textarea][-1] += data.lstrip("\n") if not self.data[self.textarea][-1] else data

    p = P()
    p.feed(html)
    return {k: v if len(v) > 1 else v[0] for k, v in p.data.items()}
