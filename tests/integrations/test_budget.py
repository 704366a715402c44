"""The request budget (core.http.upstream_budget): every upstream call inside it shares one total deadline, retries
and backoff included, against the sandbox's hang and error faults over HTTP."""

from __future__ import annotations

import time

import pytest

from proctordash.core.http import BudgetExhausted, budget_remaining, upstream_budget
from proctordash.integrations.exceptions import UpstreamUnavailable

pytestmark = pytest.mark.django_db


@pytest.fixture
def faults(sandbox):
    sandbox.set_faults()
    sandbox.reset()
    yield sandbox
    sandbox.set_faults()
    sandbox.reset()  # wakes any request still hanging


def requests_to(sandbox, endpoint: str) -> int:
    return sandbox.control("GET", "health").json()["requests"].get(endpoint, 0)


def some_configuration():
    import time as _time

    from proctordash.sandbox.data import generate
    from tests.conftest import SANDBOX_APPOINTMENTS, SANDBOX_SEED

    world = generate(seed=SANDBOX_SEED, appointments=SANDBOX_APPOINTMENTS, anchor=_time.time())
    sid, cfg = next(iter(world.configurations.items()))
    return {"course_sid": world.exams[cfg["examSid"]]["courseSid"], "exam_sid": cfg["examSid"],
            "configuration_sid": sid}


@pytest.fixture(scope="module")
def target():
    return some_configuration()


@pytest.fixture
def sp():
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    with SmarterProctoringClient.from_settings() as client:
        yield client


def test_a_hanging_upstream_is_given_up_on_at_the_budget_retries_included(faults, sp, target):
    faults.set_faults(configuration={"hang": 1.0, "hang_seconds": 30})
    before = requests_to(faults, "configuration")
    started = time.monotonic()
    with upstream_budget(2), pytest.raises(UpstreamUnavailable) as caught:
        sp.get_configuration(**target)
    elapsed = time.monotonic() - started
    assert elapsed < 2.6, elapsed  # without the budget: 3 s read timeout × (1 + 3 retries) + backoff
    assert "timed out" in str(caught.value)
    assert requests_to(faults, "configuration") - before >= 1


def test_retries_stop_when_the_next_backoff_would_overrun_the_budget(faults, sp, target, settings):
    settings.UPSTREAM_RETRIES = 10
    faults.set_faults(configuration={"error_rate": 1.0, "error_statuses": [503]})
    before = requests_to(faults, "configuration")
    started = time.monotonic()
    with upstream_budget(1.2), pytest.raises(UpstreamUnavailable) as caught:
        sp.get_configuration(**target)
    assert time.monotonic() - started < 1.5
    assert caught.value.status == 503  # the last answer goes back, mapped as usual
    tries = requests_to(faults, "configuration") - before
    assert 2 <= tries < 11  # some quick retries, not all ten


def test_outside_a_budget_nothing_changes(faults, sp, target):
    assert budget_remaining() is None
    faults.set_faults(configuration={"error_rate": 1.0, "error_statuses": [503], "times": 2})
    assert sp.get_configuration(**target).raw["sid"] == target["configuration_sid"]  # retried through


def test_a_call_with_the_budget_spent_is_never_sent(faults, sp, target):
    """A POST that cannot be sent in time fails before it leaves: the caller knows it was not created."""
    from proctordash.exams.services import _never_sent

    before = requests_to(faults, "create_exam")
    with upstream_budget(1):
        time.sleep(1.0)
        with pytest.raises(UpstreamUnavailable) as caught:
            sp.create_exam(course_sid=target["course_sid"], body={"title": "never sent"})
    assert isinstance(caught.value.__cause__, BudgetExhausted)
    assert _never_sent(caught.value)
    assert requests_to(faults, "create_exam") == before


def test_nested_budgets_keep_the_tighter_deadline():
    with upstream_budget(10):
        with upstream_budget(1):
            assert budget_remaining() <= 1
        assert 9 < budget_remaining() <= 10
        with upstream_budget(60):
            assert budget_remaining() <= 10
    assert budget_remaining() is None


def test_the_budget_decorates_a_view_like_function(settings):
    settings.UPSTREAM_REQUEST_BUDGET = 3

    @upstream_budget()
    def view():
        return budget_remaining()

    assert 2 < view() <= 3
    assert budget_remaining() is None


def test_proctorexam_calls_share_the_budget_too(faults):
    from proctordash.integrations.proctorexam.client import ProctorExamClient

    faults.set_faults(proctorexam={"hang": 1.0, "hang_seconds": 30})
    started = time.monotonic()
    with ProctorExamClient.from_settings() as client, upstream_budget(1.5), pytest.raises(UpstreamUnavailable):
        list(client.list_exams())
    assert time.monotonic() - started < 2.2
