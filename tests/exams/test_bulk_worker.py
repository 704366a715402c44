"""Bulk change as a Celery job, with a real worker: the request returns at once and the page follows the job; a
worker SIGKILLed in the middle of the saves is replaced and the job completes without applying any change twice;
the sandbox's faults (slow, hanging, 5xx) fail single items, which are retried with one button."""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest

from proctordash.exams import services
from proctordash.exams.fields import parse_date
from proctordash.exams.models import BulkChange, BulkChangeItem, ConfigurationChange
from tests.exams.conftest import _pick
from tests.sync.conftest import Worker, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BULK = "/exams/bulk/"
STALE = 3  # BULK_JOB_STALE_AFTER for the workers and this process


@pytest.fixture
def job_settings(settings, monkeypatch):
    """A short lease, in this process and in the workers it starts; an empty task queue."""
    from proctordash.celery import app

    settings.BULK_JOB_STALE_AFTER = STALE
    monkeypatch.setenv("BULK_JOB_STALE_AFTER", str(STALE))
    app.control.purge()
    yield settings
    app.control.purge()


def puts(sandbox) -> int:
    return sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0)


def start(client, picked, **change) -> BulkChange:
    data = {"kind": "extend_close", "days": "2", **change, "configuration": [p.sid for p in picked]}
    started = time.monotonic()
    response = client.post(BULK, data)
    assert response.status_code == 302
    assert time.monotonic() - started < 2  # the request reads nothing upstream
    return BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))


def follow(client, bulk, *, timeout=90) -> None:
    """Poll the job the way the page does (htmx, every 0.5 s here) until it has nothing left to do."""
    version = ""

    def idle():
        nonlocal version
        response = client.get(f"{BULK}{bulk.pk}/progress?v={version}", HTTP_HX_REQUEST="true")
        assert response.status_code in (200, 204)
        if response.status_code == 200:
            match = re.search(r'progress\?v=([^&"]+)', response.content.decode())
            version = match.group(1) if match else version
            return 'id="bulk-poller"' not in response.content.decode()
        return False

    wait_for(idle, timeout=timeout, interval=0.5, what=f"bulk change {bulk.pk} to finish")


@pytest.fixture
def six(world, clean_sandbox, sp):
    picked = [_pick(world, skip=i) for i in range(6)]
    for p in picked:
        services.configuration_get(**p.args(), client=sp)
    return picked


def test_preview_and_apply_run_in_a_worker_the_page_follows(job_settings, client_for, coordinator, sandbox, sp, six):
    worker = Worker(concurrency=1).start()
    try:
        c = client_for(coordinator)
        closes = {p.sid: parse_date(sp.get_configuration(**p.args()).raw["examCloseDate"]) for p in six[:3]}
        bulk = start(c, six[:3])
        follow(c, bulk)
        assert set(bulk.items.values_list("status", flat=True)) == {"pending"}
        assert "Preview ready: nothing has been sent yet." in c.get(f"{BULK}{bulk.pk}/").content.decode()
        assert c.post(f"{BULK}{bulk.pk}/apply", {"confirm": "1"}).status_code == 302
        follow(c, bulk)
    finally:
        worker.stop()
    assert set(bulk.items.values_list("status", flat=True)) == {"saved"}
    for p in six[:3]:
        assert parse_date(sp.get_configuration(**p.args()).raw["examCloseDate"]) == closes[p.sid] + timedelta(days=2)
    assert "Finished: 3 changed." in c.get(f"{BULK}{bulk.pk}/").content.decode()


def test_a_job_survives_a_worker_sigkill_and_never_applies_a_change_twice(job_settings, client_for, coordinator,
                                                                          sandbox, sp, six):
    c = client_for(coordinator)
    closes = {p.sid: parse_date(sp.get_configuration(**p.args()).raw["examCloseDate"]) for p in six}
    killed = Worker(concurrency=1).start()
    try:
        bulk = start(c, six)
        follow(c, bulk)
        # slow saves, so the kill lands in the middle of them (maybe during one)
        sandbox.set_faults(configuration_update={"latency": 0.8})
        before = puts(sandbox)
        c.post(f"{BULK}{bulk.pk}/apply", {"confirm": "1"})
        wait_for(lambda: bulk.items.filter(status="saved").count() >= 2, timeout=60, what="two saves")
        killed.kill()
    finally:
        killed.stop()
    done_at_kill = bulk.items.filter(status="saved").count()
    assert done_at_kill < 6, "the worker finished before it could be killed"
    assert BulkChange.objects.get(pk=bulk.pk).runner != ""  # the dead worker's lease is still there
    sandbox.set_faults()
    page = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Applying:" in page
    fresh = Worker(concurrency=1).start()
    try:
        follow(c, bulk, timeout=120)  # the page's poll sends the job again once the dead lease is stale
    finally:
        fresh.stop()
    items = list(bulk.items.all())
    assert {i.status for i in items} == {"saved"}, [(i.status, i.message) for i in items]
    for p in six:  # each configuration's close date moved by exactly 2 days: never twice
        assert parse_date(sp.get_configuration(**p.args()).raw["examCloseDate"]) == closes[p.sid] + timedelta(days=2)
    assert puts(sandbox) - before == 6  # one PUT per configuration, none repeated
    assert ConfigurationChange.objects.filter(bulk=bulk, source="bulk").count() == 6  # one history row each
    assert all(i.attempts == 1 for i in items)
    assert "Finished: 6 changed." in c.get(f"{BULK}{bulk.pk}/").content.decode()


def test_slow_hanging_and_failing_upstream_fail_single_items_that_are_retried(job_settings, client_for, coordinator,
                                                                             sandbox, sp, six):
    c = client_for(coordinator)
    worker = Worker(concurrency=1).start()
    try:
        bulk = start(c, six[:4], kind="attempts", attempts="8")
        follow(c, bulk)
        # every save slow; two answered 503 each time they are tried (the client retries them, then gives up)
        sandbox.set_faults(configuration_update={"latency": 0.3, "error_rate": 1.0, "error_statuses": [503],
                                                 "times": 2 * (1 + int(os.environ.get("UPSTREAM_RETRIES", "3")))})
        c.post(f"{BULK}{bulk.pk}/apply", {"confirm": "1"})
        follow(c, bulk)
        statuses = sorted(bulk.items.values_list("status", flat=True))
        assert statuses == ["failed", "failed", "saved", "saved"], list(bulk.items.values_list("status", "message", "attempts"))
        failed = bulk.items.filter(status="failed")
        assert all("server error (HTTP 503)" in i.message for i in failed)
        html = c.get(f"{BULK}{bulk.pk}/").content.decode()
        assert "Retry the 2 failed" in html and "Finished: 2 changed, 2 failed." in html
        # a hang on the next save: the client gives up after its read timeout, the item fails, the job goes on
        sandbox.set_faults(configuration_update={"hang": 1.0, "hang_seconds": 5, "times": 1})
        c.post(f"{BULK}{bulk.pk}/apply", {"action": "retry_failed"})
        follow(c, bulk, timeout=120)
        sandbox.set_faults()
        statuses = sorted(bulk.items.values_list("status", flat=True))
        assert statuses.count("saved") >= 3
        if "failed" in statuses:  # the hung one: retried once more, it goes through
            c.post(f"{BULK}{bulk.pk}/apply", {"action": "retry_failed"})
            follow(c, bulk)
    finally:
        worker.stop()
        sandbox.set_faults()
    assert set(bulk.items.values_list("status", flat=True)) == {"saved"}
    for p in six[:4]:
        assert sp.get_configuration(**p.args()).raw["attempts"] == 8
    assert ConfigurationChange.objects.filter(bulk=bulk).count() == 4
    assert BulkChangeItem.objects.filter(bulk=bulk, attempts__gt=1).count() == 2
