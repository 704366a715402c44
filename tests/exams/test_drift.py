"""Active drift detection against the sandbox: which configurations are read, within what budget, a change made in
the vendor's own screens recorded once as "outside" and e-mailed once, our own saves never mistaken for it, and an
upstream in trouble ending the run early without recording anything false."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from proctordash.core.timezones import to_utc_z
from proctordash.exams import drift, services
from proctordash.exams.fields import put_body
from proctordash.exams.models import CachedConfiguration, ConfigurationChange
from tests.exams.conftest import _pick

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_drift_lock():
    from django.core.cache import cache

    cache.delete(drift.LOCK_KEY)
    yield
    cache.delete(drift.LOCK_KEY)


def opening_in(sp, picked, *, days: float):
    """Move the configuration's window so that it opens in `days` days (as the vendor's screen would)."""
    now = timezone.now()
    raw = sp.get_configuration(**picked.args()).raw
    sp.update_configuration(**picked.args(), body=put_body(raw | {
        "examOpenDate": to_utc_z(now + timedelta(days=days)), "examCloseDate": to_utc_z(now + timedelta(days=days + 20))}))


def appointment_for(picked, *, days: float, sid_digit: str):
    from proctordash.appointments.models import Appointment

    Appointment.objects.create(sid="ES" + sid_digit * 32, exam_sid=picked.exam_sid, course_sid=picked.course_sid,
                               configuration_sid=picked.sid, appointment_date=timezone.now() + timedelta(days=days),
                               content_hash="x", last_seen_at=timezone.now())


def config_requests(sandbox) -> int:
    return sandbox.control("GET", "health").json()["requests"].get("configuration", 0)


@pytest.fixture
def coming(world, clean_sandbox, sp):
    """Five configurations: two opening within 14 days, one sat (appointment) within 14 days, one opening in 30 days,
    one with its only appointment 20 days away. All read once into the cache (the reference)."""
    picked = [_pick(world, skip=i) for i in range(5)]
    opening_in(sp, picked[0], days=2)
    opening_in(sp, picked[1], days=10)
    opening_in(sp, picked[3], days=30)
    opening_in(sp, picked[4], days=30)
    opening_in(sp, picked[2], days=-5)  # open already; sat within the window
    appointment_for(picked[2], days=3, sid_digit="1")
    appointment_for(picked[4], days=20, sid_digit="2")
    for p in picked:
        services.configuration_get(**p.args(), client=sp)
    return picked


def test_candidates_are_the_exams_coming_up_least_recently_read_first(coming):
    now = timezone.now()
    found = drift.drift_candidates(days=14, now=now)
    assert {c.sid for c in found} == {coming[0].sid, coming[1].sid, coming[2].sid}
    # least recently read first: reading one moves it to the end of the rotation
    CachedConfiguration.objects.filter(sid=coming[0].sid).update(fetched_at=now)
    CachedConfiguration.objects.filter(sid=coming[1].sid).update(fetched_at=now - timedelta(hours=2))
    CachedConfiguration.objects.filter(sid=coming[2].sid).update(fetched_at=now - timedelta(hours=1))
    assert [c.sid for c in drift.drift_candidates(days=14, now=now)] == [coming[1].sid, coming[2].sid, coming[0].sid]
    assert {c.sid for c in drift.drift_candidates(days=31, now=now)} == {p.sid for p in coming}


def test_a_change_made_outside_is_recorded_once_and_emailed_once(coming, sp, sandbox, world):
    from tests.exams.test_history import cache_names

    cache_names(world, coming)
    target = coming[1]
    raw = sp.get_configuration(**target.args()).raw
    sp.update_configuration(**target.args(), body=put_body(raw | {"attempts": 9, "studentNotes": "Bring ID <b>now</b>"}))
    run = drift.drift_check(days=14, client=sp, confirm_delay=0)
    assert (run.candidates, run.read, run.failed, run.changed_outside, run.notified) == (3, 3, 0, 1, 1)
    change = ConfigurationChange.objects.get(source="outside")
    assert change.configuration_sid == target.sid and change.notified_at is not None
    assert {d["key"] for d in change.diff} == {"attempts", "studentNotes"}
    assert change.reason.startswith("Noticed by ProctorDash's periodic check; changed at the vendor ")
    # the vendor's edit time in the dashboard's zone, as a person reads dates (never the raw ISO value)
    assert change.reason.endswith(("CST", "CDT")) and "T" not in change.reason.rsplit("vendor ", 1)[1][:11]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "[ProctorDash] 1 exam configuration changed outside ProctorDash"
    assert world.exams[target.exam_sid]["title"] in message.body
    assert "Attempts allowed" in message.body and "→ 9" in message.body
    assert f"/configurations/{target.sid}/" in message.body
    assert raw.get("password") not in message.body if raw.get("password") else True
    # the next runs: nothing new, nothing recorded or sent again
    run = drift.drift_check(days=14, client=sp, confirm_delay=0)
    assert (run.changed_outside, run.notified) == (0, 0)
    assert ConfigurationChange.objects.filter(source="outside").count() == 1 and len(mail.outbox) == 1
    # and the history filter shows it as a change made outside
    assert drift.drift_last_run()["changed_outside"] == 0


def test_the_budget_bounds_each_run_and_runs_rotate(coming, sp, sandbox):
    before = config_requests(sandbox)
    first = drift.drift_check(days=31, max_calls=2, client=sp, confirm_delay=0)
    assert first.read == 2 and first.stopped == "budget of 2 calls used"
    assert config_requests(sandbox) - before == 2
    second = drift.drift_check(days=31, max_calls=2, client=sp, confirm_delay=0)
    third = drift.drift_check(days=31, max_calls=2, client=sp, confirm_delay=0)
    assert config_requests(sandbox) - before == 6
    # five candidates, two per run: after three runs every one was read at least once
    read_at = dict(CachedConfiguration.objects.filter(sid__in=[p.sid for p in coming]).values_list("sid",
                                                                                                   "fetched_at"))
    assert all(at >= timezone.now() - timedelta(minutes=1) for at in read_at.values())
    assert second.read == 2 and third.read == 2
    # the time budget too
    assert drift.drift_check(days=31, max_seconds=0.0001, client=sp, confirm_delay=0).stopped.startswith("budget of")


def test_our_own_save_landing_between_read_and_record_is_not_drift(coming, sp, coordinator):
    """A save here PUTs, then stores its copy. A drift read that falls between the two sees a difference that is
    ours: it is only recorded if nobody stored a newer copy after the read."""
    target = coming[0]
    loaded = services.configuration_get(**target.args(), client=sp)
    fetched_at = CachedConfiguration.objects.get(sid=target.sid).fetched_at
    new = dict(loaded.values, attempts=(loaded.values.get("attempts") or 1) + 3)
    raw = sp.get_configuration(**target.args()).raw
    sp.update_configuration(**target.args(), body=put_body(raw | {"attempts": new["attempts"]}))  # the PUT lands
    read = dict(sp.get_configuration(**target.args()).raw)  # the drift check reads now
    candidate = next(c for c in drift.drift_candidates(days=14) if c.sid == target.sid)
    services.configuration_store(raw=read, course_sid=target.course_sid, exam_sid=target.exam_sid,
                                 detect_drift=False)  # ... and the save stores its copy
    assert drift._record_if_still_outside(read, candidate, fetched_at) is False
    assert not ConfigurationChange.objects.filter(source="outside").exists()
    # a real outside change (nobody stored in between) is recorded
    fetched_at = CachedConfiguration.objects.get(sid=target.sid).fetched_at
    sp.update_configuration(**target.args(), body=put_body(read | {"attempts": 1}))
    read = dict(sp.get_configuration(**target.args()).raw)
    assert drift._record_if_still_outside(read, candidate, fetched_at) is True
    assert ConfigurationChange.objects.filter(source="outside").count() == 1


def test_an_upstream_in_trouble_ends_the_run_and_records_nothing_false(coming, sp, clean_sandbox):
    clean_sandbox.set_faults(configuration={"error_rate": 1.0, "error_statuses": [503]})
    run = drift.drift_check(days=31, client=sp, confirm_delay=0)
    assert run.read == 0 and run.failed == 5 and run.stopped == "SmarterProctoring failed five times in a row"
    assert run.errors and "server error (HTTP 503)" in run.errors[0]
    clean_sandbox.set_faults(configuration={"rate_limit": 1.0, "retry_after": 60})
    run = drift.drift_check(days=31, client=sp, confirm_delay=0)
    assert run.read == 0 and "rate limited" in run.stopped
    assert not ConfigurationChange.objects.filter(source="outside").exists()


def test_a_failed_email_is_sent_by_the_next_run(coming, sp, settings):
    target = coming[2]
    raw = sp.get_configuration(**target.args()).raw
    sp.update_configuration(**target.args(), body=put_body(raw | {"duration": 181}))
    # a mail server that refuses connections (nothing listens on that loopback port)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    run = drift.drift_check(days=14, client=sp, confirm_delay=0)
    assert run.changed_outside == 1 and run.notified == 0
    assert ConfigurationChange.objects.get(source="outside").notified_at is None  # un-claimed
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert drift.drift_check(days=14, client=sp, confirm_delay=0).notified == 1
    assert len(mail.outbox) == 1 and ConfigurationChange.objects.get(source="outside").notified_at is not None


def test_old_outside_changes_are_not_emailed(db):
    ConfigurationChange.objects.create(configuration_sid="EC" + "1" * 32, exam_sid="EX" + "1" * 32,
                                       course_sid="CU" + "1" * 32, source="outside", diff=[])
    ConfigurationChange.objects.filter(source="outside").update(created_at=timezone.now() - timedelta(days=8))
    assert drift.drift_notify() == 0 and len(mail.outbox) == 0


def test_a_second_run_at_once_does_nothing(coming, sp, sandbox):
    from django.core.cache import cache

    cache.add(drift.LOCK_KEY, "running", 60)
    before = config_requests(sandbox)
    assert drift.drift_check(days=14, client=sp).stopped == "another drift check was still running"
    assert config_requests(sandbox) == before


def test_the_beat_entry_and_task():
    from django.conf import settings

    from proctordash.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["exams-check-drift"]
    assert entry["schedule"] == settings.DRIFT_CHECK_INTERVAL and settings.DRIFT_CHECK_DAYS == 14
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_periodic_task_runs_in_a_real_worker(world, clean_sandbox, sp, settings, monkeypatch):
    from proctordash.celery import app
    from proctordash.exams.tasks import check_drift_task
    from tests.sync.conftest import Worker

    picked = _pick(world, skip=4)
    opening_in(sp, picked, days=4)
    services.configuration_get(**picked.args(), client=sp)
    raw = sp.get_configuration(**picked.args()).raw
    sp.update_configuration(**picked.args(), body=put_body(raw | {"permittedCalculator": not raw["permittedCalculator"]}))
    monkeypatch.setenv("DRIFT_CONFIRM_DELAY", "0")
    app.control.purge()
    worker = Worker(concurrency=1).start()
    try:
        result = check_drift_task.delay().get(timeout=90)
    finally:
        worker.stop()
    assert result["changed_outside"] == 1 and result["read"] >= 1
    change = ConfigurationChange.objects.get(source="outside")
    assert change.configuration_sid == picked.sid and change.notified_at is not None
    assert [d["key"] for d in change.diff] == ["permittedCalculator"]
