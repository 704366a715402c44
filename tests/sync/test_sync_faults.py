"""Every fault the sandbox can inject leaves the cache as it was and a failed SyncRun naming the cause (run in this
process through the same services the tasks call); plus the sessions and ProctorExam passes."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from proctordash.appointments.models import Appointment, EnrollmentExamSession
from proctordash.sync.passes import appointments_refresh, sessions_refresh, sessions_refresh_request
from proctordash.sync import engine as sync
from proctordash.integrations.exceptions import UpstreamError
from proctordash.monitoring.models import Incident, ProctorExamExam, StudentSession
from proctordash.sync.models import SyncRun, UpstreamState
from proctordash.sync.passes import proctorexam_refresh, refresh_request

from tests.monitoring.staff_language import technical_leaks

from .conftest import cache_snapshot, cached_appointments, upstream_appointments

pytestmark = pytest.mark.django_db(transaction=True)

FAULTS = [
    # (fault plan for the appointments endpoint, the exception the failed run must name, what the health page says)
    ({"error_rate": 1.0, "error_statuses": [503]}, "UpstreamUnavailable",
     "SmarterProctoring had a fault on its side (it answered with error 503)"),
    ({"expired_token": 1.0}, "UpstreamAuthError", "SmarterProctoring refused the dashboard&#x27;s credentials"),
    ({"rate_limit": 1.0, "retry_after": 60}, "UpstreamRateLimited",
     "SmarterProctoring asked the dashboard to slow down"),
    # an unparsable answer is retried by the client like a 5xx; one that stays unparsable fails the run
    ({"malformed": 1.0}, "UpstreamBadResponse", "SmarterProctoring sent an answer the dashboard could not read"),
    ({"truncated": 1.0}, "UpstreamBadResponse", "SmarterProctoring sent an answer the dashboard could not read"),
    ({"hang": 1.0, "hang_seconds": 4, "times": 4}, "UpstreamUnavailable", "SmarterProctoring did not answer in"),
]


@pytest.mark.parametrize("fault,cause,sentence", FAULTS, ids=[next(iter(f)) for f, _c, _s in FAULTS])
def test_a_fault_leaves_the_cache_as_it_was_and_says_why(sandbox, sync_settings, client_for, coordinator, fault,
                                                         cause, sentence):
    good = appointments_refresh()
    assert good.outcome == SyncRun.Outcome.SUCCESS
    before = cache_snapshot()
    last_success = UpstreamState.objects.get(upstream="smarterproctoring").last_success_at
    # a row the upstream does not have: a failed pass must not mark it removed
    Appointment.objects.create(sid="AP" + "f" * 32, content_hash="x", last_seen_at=good.started_at)
    before["appointments"] = sorted(before["appointments"] + [("AP" + "f" * 32, "x", None, good.started_at)])

    sandbox.set_faults(seed=1, appointments=fault)  # seed 1: a 0.3 share first hits page 6
    with pytest.raises(UpstreamError):
        appointments_refresh()
    sandbox.set_faults()

    run = SyncRun.objects.latest()
    assert run.outcome == SyncRun.Outcome.FAILED and run.finished_at is not None
    assert run.error_summary.startswith(cause), run.error_summary
    assert run.records_removed == 0
    assert cache_snapshot() == before
    state = UpstreamState.objects.get(upstream="smarterproctoring")
    assert state.last_success_at == last_success
    assert state.last_error_at >= run.started_at and cause in state.last_error and state.consecutive_failures == 1

    # The health page says it in staff language wherever the error shows: the upstream's last error, the run's row,
    # the run's progress box (full page and the htmx partial it polls) — the raw summary stays in the database.
    assert "/v1/" in run.error_summary  # the summary does name the path: the page must not
    client = client_for(coordinator)
    page = client.get(f"/health/?run={run.pk}").content.decode()
    partial = client.get(f"/health/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert technical_leaks(page) == [] and technical_leaks(partial) == []
    card = re.search(r'(?s)aria-labelledby="up-smarterproctoring">.*?</section>', page).group(0)
    assert re.search(r"<dt>Last error</dt><dd>.*?" + re.escape(sentence), card)
    row = re.search(r'(?s)<tbody>.*?</tr>', page).group(0)  # the newest run comes first
    assert sentence in row and "Failed" in row
    assert sentence in partial


def test_a_fault_mid_pass_keeps_the_pages_already_read_and_removes_nothing(sandbox, sync_settings):
    # the first page, then the four fetchers' first pages (offsets 50-200) answer; from the sixth request on, 503
    sandbox.set_faults(appointments={"error_rate": 1.0, "error_statuses": [503], "after": 5})
    with pytest.raises(UpstreamError):
        appointments_refresh()
    run = SyncRun.objects.latest()
    # Which offset the sixth request asks for depends on the fetchers' timing (on a loaded machine a fetcher may ask
    # for offset 250 before another asks for 200): at most the first five pages can have been written.
    assert 1 <= run.pages <= 5
    assert Appointment.objects.count() == run.records_created == run.pages * 50
    assert UpstreamState.objects.get(upstream="smarterproctoring").last_success_at is None
    sandbox.set_faults()
    first_pages = list(upstream_appointments())[:run.pages * 50]
    assert sorted(Appointment.objects.values_list("sid", flat=True)) == sorted(first_pages), (
        "the writer writes pages in offset order up to the first that failed")


def test_unparsable_answers_are_retried_and_the_pass_succeeds(sandbox, sync_settings):
    """A 0.3 share of invalid JSON or cut-short bodies: the client retries each with backoff like a 5xx."""
    for kind in ("malformed", "truncated"):
        sandbox.set_faults(seed=1, appointments={kind: 0.3})
        run = appointments_refresh()
        assert run.outcome == SyncRun.Outcome.SUCCESS, run.error_summary
        assert cached_appointments() == upstream_appointments()


def test_malformed_records_are_skipped_and_reported_while_the_rest_commits(sandbox, sync_settings, client_for,
                                                                          coordinator):
    """Records without a sid, with a date that is not a date or a nested object of the wrong shape are left out;
    the run counts them and keeps the first error; every good record is written; nothing is marked removed when a
    record without a sid might be a row we hold."""
    appointments_refresh()
    ghost = Appointment.objects.create(sid="ES" + "e" * 32, content_hash="x",
                                       last_seen_at=timezone.now() - timezone.timedelta(days=1))
    Appointment.objects.update(content_hash="stale")  # every row is rewritten by the next pass
    sandbox.set_faults(seed=3, appointments={"missing_fields": 0.05, "missing_field_names": ["sid"]})
    run = appointments_refresh()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error_summary
    assert run.records_skipped > 0 and "sid" in run.skipped_first_error
    assert run.records_updated == 600 - run.records_skipped
    assert run.records_seen == 600 and run.pages == 12
    ghost.refresh_from_db()
    assert ghost.removed_at is None and "no usable sid" in run.notes
    # the health page says so, in words: in the upstream's "last completed run", in the run's row and its progress box
    assert run.skipped_first_error == "(a record without an identity): malformed Appointment: sid"  # kept for support
    client = client_for(coordinator)
    html = client.get(f"/health/?run={run.pk}").content.decode()
    last = re.search(r'(?s)<section class="card upstream[^"]*" aria-labelledby="up-smarterproctoring">.*?'
                     r'data-last-completed>(.*?)</dd>', html).group(1)
    assert f"{run.records_skipped} skipped</span> malformed record" in last and "succeeded" in last
    assert "first: an appointment without a usable ID (unreadable field: sid)" in last
    assert (f"Skipped {run.records_skipped} malformed records; first: an appointment without a usable ID "
            f"(unreadable field: sid).") in html
    assert f"{run.records_skipped} malformed records skipped (the rest was saved); first: an appointment" in html
    assert technical_leaks(html) == [] and "malformed Appointment" not in html
    sandbox.set_faults()
    # a nested object that is malformed (its sid is known): skipped, reported, the old row kept and not removed
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient
    from proctordash.sync.mappings import get

    with SmarterProctoringClient.from_settings() as client:
        page = client.appointments_page(offset=0, page_size=5, skip_bad_records=True)
    from proctordash.integrations.smarterproctoring.schemas import Appointment as Record

    raw = dict(page.results[0].raw)
    raw["enrollment"] = {**(raw.get("enrollment") or {}), "createdDate": "not a date"}
    bad = page.results[0] = Record.parse(raw, upstream="smarterproctoring", endpoint="test")
    Appointment.objects.filter(sid=bad.sid).update(content_hash="old")
    result = get("appointments").write_page(page.results)
    assert [key for key, _e in result.skipped] == [bad.sid]
    assert "enrollment.createdDate" in result.skipped[0][1] and "not a date" not in result.skipped[0][1]
    assert Appointment.objects.get(sid=bad.sid).content_hash == "old"
    assert bad.sid in result.keys


def test_removal_still_happens_when_every_malformed_record_has_a_sid(sandbox, sync_settings):
    appointments_refresh()
    ghost = Appointment.objects.create(sid="ES" + "e" * 32, content_hash="x",
                                       last_seen_at=timezone.now() - timezone.timedelta(days=1))
    # a missing status is tolerated; a date that is not one (top level) is a malformed record with its sid
    sandbox.set_faults(seed=2, appointments={"missing_fields": 0.05, "missing_field_names": ["status"]})
    run = appointments_refresh()
    ghost.refresh_from_db()
    assert run.outcome == SyncRun.Outcome.SUCCESS and ghost.removed_at is not None and run.records_removed == 1


def test_full_pass_marks_missing_rows_removed_and_brings_them_back(sandbox, sync_settings):
    appointments_refresh()
    ghost = Appointment.objects.create(sid="AP" + "e" * 32, content_hash="x",
                                       last_seen_at=timezone.now() - timezone.timedelta(days=1))
    run = appointments_refresh()
    ghost.refresh_from_db()
    assert ghost.removed_at is not None and run.records_removed == 1
    assert cached_appointments() == upstream_appointments()


def test_sessions_refresh_gives_the_enrollments_sessions(sandbox, sync_settings):
    appointments_refresh()
    appointment = Appointment.objects.exclude(enrollment_sid="").first()
    run = sessions_refresh(enrollment_sid=appointment.enrollment_sid, exam_sid=appointment.exam_sid)
    assert run.outcome == SyncRun.Outcome.SUCCESS and run.scope
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    with SmarterProctoringClient.from_settings() as client:
        truth = {s.sid for s in client.list_enrollment_exam_sessions(enrollment_sid=appointment.enrollment_sid,
                                                                     exam_sid=appointment.exam_sid)}
    rows = EnrollmentExamSession.objects.live().filter(enrollment_sid=appointment.enrollment_sid,
                                                       exam_sid=appointment.exam_sid)
    assert {r.sid for r in rows} == truth and truth
    assert all(r.course_sid == appointment.course_sid for r in rows)
    again = sessions_refresh(enrollment_sid=appointment.enrollment_sid, exam_sid=appointment.exam_sid)
    assert (again.records_created, again.records_updated) == (0, 0)
    # sessions refreshes do not claim the whole upstream is fresh
    assert UpstreamState.objects.get(upstream="smarterproctoring").last_success_at == SyncRun.objects.get(
        kind=SyncRun.Kind.APPOINTMENTS_FULL).started_at


def test_sessions_refresh_request_rejects_bad_sids_and_queues_once(sandbox, sync_settings):
    with pytest.raises(ValueError, match="enrollment_sid"):
        sessions_refresh_request(enrollment_sid="EN123", exam_sid="EX" + "a" * 32)
    first = sessions_refresh_request(enrollment_sid="EN" + "a" * 32, exam_sid="EX" + "b" * 32)
    second = sessions_refresh_request(enrollment_sid="EN" + "a" * 32, exam_sid="EX" + "b" * 32)
    other = sessions_refresh_request(enrollment_sid="EN" + "c" * 32, exam_sid="EX" + "b" * 32)
    assert first.pk == second.pk != other.pk
    assert first.outcome == SyncRun.Outcome.QUEUED
    with pytest.raises(ValueError):
        refresh_request(kind="nonsense")


def test_proctorexam_refresh_caches_open_exams_sessions_and_incidents(sandbox, sync_settings):
    from proctordash.integrations.proctorexam.client import ProctorExamClient

    run = proctorexam_refresh()
    assert run.outcome == SyncRun.Outcome.SUCCESS, run.error_summary
    with ProctorExamClient.from_settings() as client:
        open_ids = {e.id for e in client.list_exams(status="open")}
    assert set(ProctorExamExam.objects.filter(status="open").values_list("id", flat=True)) == open_ids
    assert StudentSession.objects.filter(exam_id__in=open_ids).count() == run.records_seen - len(open_ids)
    assert StudentSession.objects.exists() and run.records_expected
    # seen and expected count the same things (open exams + their sessions): the health page's "n of m" is 100 %
    assert run.records_seen == run.records_expected == len(open_ids) + StudentSession.objects.filter(
        exam_id__in=open_ids).count()
    assert Incident.objects.count() == sum(StudentSession.objects.values_list("incident_count", flat=True))
    assert UpstreamState.objects.get(upstream="proctorexam").last_success_at == run.started_at


def test_proctorexam_fault_leaves_the_monitor_data(sandbox, sync_settings):
    proctorexam_refresh()
    sessions = sorted(StudentSession.objects.values_list("id", "content_hash", "removed_at"))
    sandbox.set_faults(pe_student_sessions={"expired_token": 1.0})
    with pytest.raises(UpstreamError):
        proctorexam_refresh()
    run = SyncRun.objects.latest()
    assert run.outcome == SyncRun.Outcome.FAILED and "UpstreamAuthError" in run.error_summary
    assert sorted(StudentSession.objects.values_list("id", "content_hash", "removed_at")) == sessions


def test_already_running_is_refused_without_a_trace(sandbox, sync_settings):
    keeper = sync.LockKeeper("appointments", "999:token", 30)
    assert keeper.acquire()
    try:
        with pytest.raises(sync.AlreadyRunning):
            appointments_refresh()
    finally:
        keeper.release()
    assert not SyncRun.objects.exists()


def test_incremental_checks_a_missing_row_before_removing_it(sandbox, sync_settings):
    from datetime import timedelta

    from proctordash.sync.passes import incremental_window

    appointments_refresh()
    after, before = incremental_window()
    inside = after + (before - after) / 2
    real = Appointment.objects.live().exclude(appointment_date__gte=after, appointment_date__lt=before).exclude(
        appointment_date=None).exclude(learner_sid="").first()
    real_date = real.appointment_date
    # the cache believes this real appointment is inside the window (as if rescheduled out of it since)
    Appointment.objects.filter(pk=real.pk).update(appointment_date=inside, content_hash="stale",
                                                  last_seen_at=timezone.now() - timedelta(1))
    # and a row the upstream never had, for a learner and exam it does have
    ghost = Appointment.objects.create(sid="AP" + "d" * 32, exam_sid=real.exam_sid, learner_sid=real.learner_sid,
                                       appointment_date=inside, content_hash="x",
                                       last_seen_at=timezone.now() - timedelta(1))
    run = appointments_refresh(incremental=True)
    real.refresh_from_db()
    ghost.refresh_from_db()
    assert ghost.removed_at is not None
    assert real.removed_at is None and real.appointment_date == real_date
    assert run.records_removed == 1


def test_sync_upstream_command(sandbox, sync_settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    call_command("sync_upstream", "appointments", "--incremental", stdout=out)
    assert "Appointments (incremental)" in out.getvalue() and "success" in out.getvalue()
    call_command("sync_upstream", "sessions", "--limit", "2", stdout=out)
    assert out.getvalue().count("Enrollment exam sessions") == 2
    sandbox.set_faults(proctorexam={"error_rate": 1.0})
    err = StringIO()
    with pytest.raises(CommandError, match="proctorexam"):
        call_command("sync_upstream", "proctorexam", stdout=out, stderr=err)
    assert "UpstreamUnavailable" in err.getvalue() or "Unavailable" in err.getvalue()


def test_beat_schedule_comes_from_the_settings():
    from django.conf import settings

    from proctordash.celery import app

    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["appointments-full"]["schedule"] == settings.SYNC_APPOINTMENTS_FULL_INTERVAL
    assert schedule["appointments-incremental"]["kwargs"] == {"incremental": True}
    assert schedule["proctorexam"]["schedule"] == settings.SYNC_PROCTOREXAM_INTERVAL
    app.loader.import_default_modules()
    for entry in schedule.values():
        assert entry["task"] in app.tasks


def test_an_unknown_enrollment_fails_its_run_but_not_the_upstreams_health(sandbox, sync_settings):
    from proctordash.integrations.exceptions import UpstreamNotFound

    with pytest.raises(UpstreamNotFound):
        sessions_refresh(enrollment_sid="EN" + "0" * 32, exam_sid="EX" + "0" * 32)
    run = SyncRun.objects.get()
    assert run.outcome == SyncRun.Outcome.FAILED and "UpstreamNotFound" in run.error_summary
    assert not UpstreamState.objects.filter(upstream="smarterproctoring", consecutive_failures__gt=0).exists()
