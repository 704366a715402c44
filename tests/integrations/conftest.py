"""Fixtures for the client tests: clients built from settings, a clean fault plan around every test that uses the
sandbox, and a leak check that searches everything a test logged or raised for the tokens and the secret key."""

from __future__ import annotations

import logging
import os
import traceback
from contextlib import contextmanager

import pytest

from proctordash.integrations import recording

SECRET_VARIABLES = ("SMARTERPROCTORING_TOKEN", "PROCTOREXAM_TOKEN", "PROCTOREXAM_SECRET_KEY")


def secret_values() -> list[str]:
    return [os.environ[name] for name in SECRET_VARIABLES if os.environ.get(name)]


class LeakCheck:
    """Collects what a test raised or printed; after the test, none of it may contain a secret."""

    def __init__(self):
        self.objects: list[object] = []

    def add(self, *objects: object) -> None:
        self.objects.extend(objects)

    @contextmanager
    def raises(self, exc_type):
        with pytest.raises(exc_type) as info:
            yield info
        self.add(info.value)

    def texts(self):
        for obj in self.objects:
            yield repr(obj)
            yield str(obj)
            if isinstance(obj, BaseException):
                yield "".join(traceback.format_exception(obj))  # includes the chained requests/urllib3 errors
                yield repr(getattr(obj, "__dict__", {}))


@pytest.fixture(autouse=True)
def leakcheck(caplog):
    caplog.set_level(logging.DEBUG)
    check = LeakCheck()
    yield check
    haystack = "\n".join([caplog.text, *(r.getMessage() for r in caplog.records), *check.texts()])
    for secret in secret_values():
        assert secret not in haystack, "a token or the secret key leaked into a log line, repr or exception"


@pytest.fixture(autouse=True)
def _recording_available():
    # A test that takes Redis away leaves the recorder paused; every test starts with it live.
    recording._down_until = 0.0
    yield
    recording._down_until = 0.0


@pytest.fixture
def faults(sandbox):
    """The sandbox with no faults before and after the test; `faults.set(...)` sets a plan."""
    sandbox.set_faults()
    yield sandbox
    sandbox.set_faults()


@pytest.fixture
def sp(sandbox, leakcheck):
    from proctordash.integrations.smarterproctoring import SmarterProctoringClient

    client = SmarterProctoringClient.from_settings()
    leakcheck.add(client)
    yield client
    client.close()


@pytest.fixture
def pe(sandbox, leakcheck):
    from proctordash.integrations.proctorexam import ProctorExamClient

    client = ProctorExamClient.from_settings()
    leakcheck.add(client)
    yield client
    client.close()
