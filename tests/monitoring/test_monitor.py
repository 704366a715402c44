"""The live monitor: page, filters, stuck flags, new-incident highlighting, timelines and the poll that answers
only what changed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from proctordash.monitoring import selectors
from proctordash.monitoring.models import StudentSession
from proctordash.monitoring.views import LAST_LOOK_KEY
from tests.monitoring.factories import (
    AppointmentFactory,
    IncidentFactory,
    ProctorExamExamFactory,
    StudentSessionFactory,
)

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def oob_ids(html: str) -> list[str]:
    return re.findall(r'<(?:tbody|table|div) id="([^"]+)"[^>]*hx-swap-oob="true"', html)


def page_versions(html: str) -> str:
    """What monitoring.js sends as `have`: every data-v element's id:version in page order."""
    return ",".join(f"{i}:{v}" for i, v in re.findall(r'<[^>]*\bid="([^"]+)"[^>]*\bdata-v="([^"]+)"', html))


@pytest.fixture
def exam():
    return ProctorExamExamFactory(name="Chemistry final")


def test_monitor_lists_sessions_of_open_exams_with_checks_as_text(client_for, support, exam):
    StudentSessionFactory(exam=exam, name="Grace Hopper", microphone_check="failed", mobile_check="not_started",
                          reviewed="10")
    closed = ProctorExamExamFactory(status="closed")
    StudentSessionFactory(exam=closed, name="Closed Exam Learner")
    StudentSessionFactory(exam=exam, name="Removed Learner", removed_at=timezone.now())
    response = client_for(support).get(reverse("monitoring:monitor"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Grace Hopper" in html and "Chemistry final" in html
    assert "Closed Exam Learner" not in html and "Removed Learner" not in html
    assert "✗</span> Microphone <span class=\"state\">failed</span>" in html
    assert "○</span> Mobile <span class=\"state\">not started</span>" in html
    assert "✓</span> Webcam" in html
    assert 'aria-label="System checks: 4 of 6 passed"' in html
    assert 'hx-trigger="every 15s, monitor-poll-now"' in html


def test_untrusted_names_and_comments_are_text(client_for, support, exam):
    session = StudentSessionFactory(exam=exam, name='<img src=x onerror="alert(1)">', incident_count=1)
    IncidentFactory(student_session=session, comment="<script>alert(2)</script>")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    detail = c.get(reverse("monitoring:session", args=[session.id]) + "?open=1", **HTMX).content.decode()
    assert "<script>alert(2)" not in detail and "&lt;script&gt;alert(2)" in detail


def test_filters_by_exam_and_status_and_bad_values_do_not_500(client_for, support, exam):
    other = ProctorExamExamFactory(name="Physics")
    StudentSessionFactory(exam=exam, name="In Chemistry", status="in_setup")
    StudentSessionFactory(exam=other, name="In Physics", status="exam_started")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"exam": exam.id}).content.decode()
    assert "In Chemistry" in html and "In Physics" not in html
    html = c.get(reverse("monitoring:monitor"), {"status": "exam_started"}).content.decode()
    assert "In Physics" in html and "In Chemistry" not in html
    response = c.get(reverse("monitoring:monitor"), {"exam": "999999", "status": "bogus"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert "In Physics" in html and "In Chemistry" in html  # a bad filter is ignored, not applied
    # htmx filter change answers the live region only
    fragment = c.get(reverse("monitoring:monitor"), {"exam": other.id}, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="monitor-live">') and "<html" not in fragment


def test_stuck_sessions_are_flagged(client_for, support, exam, settings):
    now = timezone.now()
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    settings.MONITOR_OVERRUN_GRACE = 600
    StudentSessionFactory(exam=exam, name="Long Setup", status="in_setup", upstream_updated_at=now - timedelta(minutes=16))
    StudentSessionFactory(exam=exam, name="Fresh Setup", status="in_setup", upstream_updated_at=now - timedelta(minutes=5))
    StudentSessionFactory(exam=exam, name="Overrun", status="exam_started", start_time=now - timedelta(minutes=75))
    StudentSessionFactory(exam=exam, name="Within grace", status="exam_started", start_time=now - timedelta(minutes=65))
    rows = {r.name: r for r in selectors.monitor_sessions(now=now)}
    assert rows["Long Setup"].flag == "In setup too long"
    assert rows["Fresh Setup"].flag == ""
    assert rows["Overrun"].flag == "Running past the 60-minute duration"
    assert rows["Within grace"].flag == ""
    # the poll's index computes the same flags in SQL, and the same versions
    index = {r.id: r for r in selectors.session_index(now=now)}
    for row in rows.values():
        assert index[row.id].flag == selectors.flag_code(row.status, row.flag)
        assert index[row.id].version == row.version
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    assert html.count("<strong>Stuck:</strong>") == 2
    assert "<strong>2</strong> look stuck" in html


def test_sp_appointments_now_and_within_the_hour_needs_proctor_first(client_for, support, settings):
    now = timezone.now()
    settings.MONITOR_NO_RECORDING_AFTER = 600
    AppointmentFactory(learner_first_name="Soon", status="Scheduled", appointment_date=now + timedelta(minutes=20))
    AppointmentFactory(learner_first_name="Needy", status="Needs Proctor", appointment_date=now + timedelta(minutes=50))
    AppointmentFactory(learner_first_name="Running", status="In Progress", appointment_date=now - timedelta(minutes=30),
                       recording_start_date=now - timedelta(minutes=29))
    AppointmentFactory(learner_first_name="NoVideo", status="Scheduled", appointment_date=now - timedelta(minutes=15))
    AppointmentFactory(learner_first_name="Later", status="Scheduled", appointment_date=now + timedelta(hours=2))
    AppointmentFactory(learner_first_name="Over", status="Scheduled", appointment_date=now - timedelta(hours=3))
    AppointmentFactory(learner_first_name="Cancelled", status="Cancelled", appointment_date=now + timedelta(minutes=5))
    rows = selectors.monitor_appointments(now=now)
    names = [r.learner_name.split()[0] for r in rows]
    assert names == ["Needy", "Running", "NoVideo", "Soon"]
    flagged = {r.learner_name.split()[0]: r.flag for r in rows}
    assert flagged["NoVideo"] == "Past its start, no recording" and flagged["Running"] == ""
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    assert html.index("Needy") < html.index("Soon")


def test_new_incidents_since_last_look_are_highlighted(client_for, support, exam):
    c = client_for(support)
    session = StudentSessionFactory(exam=exam, name="Watched", incident_count=2)
    look = timezone.now() - timedelta(minutes=10)
    IncidentFactory(student_session=session, comment="old one", first_seen_at=look - timedelta(minutes=5))
    IncidentFactory(student_session=session, comment="fresh one", first_seen_at=look + timedelta(minutes=5))
    session_store = c.session
    session_store[LAST_LOOK_KEY] = look.isoformat()
    session_store.save()
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert '<span class="badge new">1 new</span>' in html
    assert "<strong>1</strong> new incident since your last look" in html
    # the page load was a new look: a reload no longer highlights it
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert "badge new" not in html


def test_timeline_opens_in_place_with_comment_time_and_offset(client_for, support, exam):
    session = StudentSessionFactory(exam=exam, name="Timeline", incident_count=2)
    IncidentFactory(student_session=session, comment="Second person in the room", offset_time=3725)
    IncidentFactory(student_session=session, comment="Phone visible", offset_time=65)
    c = client_for(support)
    fragment = c.get(reverse("monitoring:session", args=[session.id]) + "?open=1", **HTMX).content.decode()
    assert fragment.lstrip().startswith(f'<tbody id="pe-{session.id}"')
    assert f'data-open="{session.id}"' in fragment
    assert "Second person in the room" in fragment and "at 1:02:05 into the recording" in fragment
    assert "at 1:05 into the recording" in fragment
    closed = c.get(reverse("monitoring:session", args=[session.id]) + "?open=0", **HTMX).content.decode()
    assert "data-open" not in closed and "Phone visible" not in closed
    # plain HTML: a page of its own
    page = c.get(reverse("monitoring:session", args=[session.id])).content.decode()
    assert "<html" in page and "Phone visible" in page
    assert c.get(reverse("monitoring:session", args=[999999])).status_code == 404


def test_poll_answers_204_when_nothing_changed(client_for, support, exam):
    StudentSessionFactory.create_batch(3, exam=exam)
    AppointmentFactory()
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    response = c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since}, **HTMX)
    assert response.status_code == 204, response.content.decode()[:3000]


def test_poll_swaps_only_the_changed_row(client_for, support, exam, django_assert_max_num_queries):
    sessions = StudentSessionFactory.create_batch(5, exam=exam)
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    changed = sessions[2]
    StudentSession.objects.filter(pk=changed.pk).update(status="exam_finished", content_hash="changed",
                                                        end_time=timezone.now())
    with django_assert_max_num_queries(14):  # constant: it does not grow with the rows
        response = c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since}, **HTMX)
    assert response.status_code == 200
    body = response.content.decode()
    # the status count changed, so the summary comes too; no other session row does
    assert set(oob_ids(body)) == {f"pe-{changed.pk}", "monitor-summary"}
    assert "Exam finished" in body
    for other in sessions:
        if other.pk != changed.pk:
            assert f'id="pe-{other.pk}"' not in body


def test_poll_with_new_incident_swaps_that_row_and_the_summary(client_for, support, exam):
    sessions = StudentSessionFactory.create_batch(3, exam=exam)
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    target = sessions[0]
    IncidentFactory(student_session=target, comment="Left the room")
    StudentSession.objects.filter(pk=target.pk).update(incident_count=1, content_hash="with-incident")
    body = c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since}, **HTMX).content.decode()
    assert set(oob_ids(body)) == {f"pe-{target.pk}", "monitor-summary"}
    assert '<span class="badge new">1 new</span>' in body
    assert 'class="session has-new updated"' in body


def apply_poll(page_keys: list[str], body: str) -> list[str]:
    """What htmx does to the page's row order with the poll's out-of-band deletes and inserts (document order)."""
    keys = list(page_keys)
    pattern = re.compile(r'<tbody id="([^"]+)" hx-swap-oob="delete"></tbody>|<table hx-swap-oob="([^"]+)">(.*?)</table>',
                         re.S)
    for match in pattern.finditer(body):
        if match.group(1):
            keys.remove(match.group(1))
            continue
        where, inner = match.group(2), match.group(3)
        new_key = re.match(r'<tbody id="([^"]+)"', inner).group(1)
        style, target = where.split(":#")
        if style == "beforebegin":
            keys.insert(keys.index(target), new_key)
        else:
            assert style == "beforeend" and target in ("pe-table", "sp-table")
            keys.append(new_key)
    return keys


def pe_keys(html: str) -> list[str]:
    return re.findall(r'<tbody id="(pe-\d+)"', html)


def poll_after(c, html, **extra):
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    return c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since, **extra}, **HTMX)


def test_poll_appends_a_new_session_as_one_row_and_keeps_open_timelines(client_for, support, exam):
    first = StudentSessionFactory(exam=exam, name="A first", incident_count=1)
    IncidentFactory(student_session=first, comment="Talking")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor") + f"?open={first.pk}").content.decode()
    assert "Talking" in html  # plain-HTML link opens it
    newcomer = StudentSessionFactory(exam=exam, name="B newcomer")
    body = poll_after(c, html, open=str(first.pk)).content.decode()
    assert "pe-table" not in oob_ids(body)  # not the whole table
    assert f'<table hx-swap-oob="beforeend:#pe-table"><tbody id="pe-{newcomer.pk}"' in body
    assert "B newcomer" in body and 'class="session updated"' in body
    assert f'id="pe-{first.pk}"' not in body and "Talking" not in body  # the open row is left alone
    assert apply_poll(pe_keys(html), body) == [f"pe-{first.pk}", f"pe-{newcomer.pk}"]


def test_poll_inserts_a_new_session_before_its_right_neighbour(client_for, support, exam):
    later_exam = ProctorExamExamFactory(name="Zoology")
    a = StudentSessionFactory(exam=exam, name="Ada")
    c_ = StudentSessionFactory(exam=exam, name="Curie")
    z = StudentSessionFactory(exam=later_exam, name="Aaron")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert pe_keys(html) == [f"pe-{a.pk}", f"pe-{c_.pk}", f"pe-{z.pk}"]
    b = StudentSessionFactory(exam=exam, name="Babbage")
    body = poll_after(c, html).content.decode()
    assert f'<table hx-swap-oob="beforebegin:#pe-{c_.pk}"><tbody id="pe-{b.pk}"' in body
    assert apply_poll(pe_keys(html), body) == [f"pe-{a.pk}", f"pe-{b.pk}", f"pe-{c_.pk}", f"pe-{z.pk}"]
    # the browser now holds what a full load shows: the next poll has nothing to say
    reloaded = c.get(reverse("monitoring:monitor")).content.decode()
    assert pe_keys(reloaded) == apply_poll(pe_keys(html), body)


def test_poll_deletes_a_session_that_left_and_handles_mixed_changes(client_for, support, exam,
                                                                     django_assert_max_num_queries):
    sessions = [StudentSessionFactory(exam=exam, name=f"Learner {i:02d}") for i in range(8)]
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    gone, renamed, changed = sessions[1], sessions[3], sessions[6]
    StudentSession.objects.filter(pk=gone.pk).update(removed_at=timezone.now())
    StudentSession.objects.filter(pk=renamed.pk).update(name="Learner 99", content_hash="renamed")
    StudentSession.objects.filter(pk=changed.pk).update(status="exam_finished", content_hash="changed")
    arrived = StudentSessionFactory(exam=exam, name="Learner 04b")
    with django_assert_max_num_queries(14):  # the same constant as a poll that only swaps rows
        response = poll_after(c, html)
    body = response.content.decode()
    assert f'<tbody id="pe-{gone.pk}" hx-swap-oob="delete"></tbody>' in body
    assert "pe-table" not in oob_ids(body)
    assert set(oob_ids(body)) == {f"pe-{changed.pk}", "monitor-summary"}  # the changed row is swapped in place
    expected = pe_keys(c.get(reverse("monitoring:monitor")).content.decode())
    assert apply_poll(pe_keys(html), body) == expected  # the renamed row moved to its new place, the new one fits in
    untouched = [s for s in sessions if s.pk not in {gone.pk, renamed.pk, changed.pk}]
    for session in untouched:
        assert f'id="pe-{session.pk}"' not in body


def test_poll_sends_the_whole_table_when_the_last_session_leaves_or_the_first_arrives(client_for, support, exam):
    only = StudentSessionFactory(exam=exam, name="Only one")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    StudentSession.objects.filter(pk=only.pk).update(removed_at=timezone.now())
    body = poll_after(c, html).content.decode()
    assert "pe-table" in oob_ids(body) and "No student sessions in open exams" in body
    html = c.get(reverse("monitoring:monitor")).content.decode()
    StudentSessionFactory(exam=exam, name="First again")
    body = poll_after(c, html).content.decode()
    assert "pe-table" in oob_ids(body) and "First again" in body


def test_poll_inserts_and_removes_appointment_rows(client_for, support):
    now = timezone.now()
    early = AppointmentFactory(status="Scheduled", appointment_date=now + timedelta(minutes=10))
    late = AppointmentFactory(status="Scheduled", appointment_date=now + timedelta(minutes=40))
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    needy = AppointmentFactory(status="Needs Proctor", appointment_date=now + timedelta(minutes=30))
    type(early).objects.filter(pk=early.pk).update(status="Cancelled")
    body = poll_after(c, html).content.decode()
    assert f'<tbody id="sp-{early.sid}" hx-swap-oob="delete"></tbody>' in body
    assert f'<table hx-swap-oob="beforebegin:#sp-{late.sid}"><tbody id="sp-{needy.sid}"' in body
    assert "sp-table" not in oob_ids(body)


def test_set_change_plan_reproduces_the_server_order():
    import random

    from proctordash.monitoring.views import set_change_plan

    rng = random.Random(7)
    for _ in range(300):
        universe = [f"pe-{i}" for i in range(rng.randint(1, 30))]
        have = rng.sample(universe, rng.randint(1, len(universe)))
        want = rng.sample(universe, rng.randint(1, len(universe)))
        plan = set_change_plan(have, want)
        if plan is None:
            continue
        keys = [k for k in have if k not in plan.deleted]
        for key, before in plan.inserts:
            keys.insert(keys.index(before) if before else len(keys), key)
        assert keys == want, (have, want, plan)
    assert set_change_plan(["pe-1"], []) is None and set_change_plan([], ["pe-1"]) is None
    # a move costs one row, not the rows around it
    plan = set_change_plan(["pe-1", "pe-2", "pe-3", "pe-4"], ["pe-2", "pe-3", "pe-4", "pe-1"])
    assert plan.deleted == ["pe-1"] and plan.inserts == [("pe-1", None)]


def test_poll_keeps_the_filters(client_for, support, exam):
    other = ProctorExamExamFactory(name="Physics")
    StudentSessionFactory(exam=exam, name="Chem learner")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"exam": exam.id}).content.decode()
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    StudentSessionFactory(exam=other, name="Physics learner")
    response = c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since, "exam": exam.id}, **HTMX)
    assert response.status_code == 204


def test_poll_without_htmx_redirects_to_the_page(client_for, support):
    response = client_for(support).post(reverse("monitoring:poll"))
    assert response.status_code == 302 and response["Location"] == reverse("monitoring:monitor")


def test_monitor_page_query_count_does_not_grow_with_rows(client_for, support, exam, django_assert_max_num_queries):
    StudentSessionFactory.create_batch(40, exam=exam)
    AppointmentFactory.create_batch(10)
    c = client_for(support)
    with django_assert_max_num_queries(16):
        assert c.get(reverse("monitoring:monitor")).status_code == 200


def test_page_index_built_from_rows_matches_the_polls_index(exam, settings):
    """The full page derives its summary and row versions from the rows it built (index_of); the poll reads them
    with session_index. Both must agree row for row, stuck flags and new-incident counts included, or every first
    poll would re-send rows (or the summary) that did not change."""
    now = timezone.now()
    other = ProctorExamExamFactory(name="Algebra", raw={"duration": 30})
    StudentSessionFactory(exam=exam, name="Setup Stuck", status="in_setup",
                          upstream_updated_at=now - timedelta(seconds=settings.MONITOR_SETUP_STUCK_AFTER + 60))
    StudentSessionFactory(exam=other, name="Overrun", status="exam_started", start_time=now - timedelta(hours=2))
    fine = StudentSessionFactory(exam=other, name="fine", status="exam_started", start_time=now, incident_count=2)
    IncidentFactory(student_session=fine, first_seen_at=now - timedelta(minutes=1))
    StudentSessionFactory(exam=exam, name="Done", status="exam_finished")
    exams = selectors.open_exams()

    def light(rows):
        return [(r.id, r.key, r.version, r.order, r.status, r.flag, r.new, r.incidents) for r in rows]

    for status in ("", "exam_started", "in_setup"):
        filters = {"status": status, "since": now - timedelta(hours=1), "open_ids": {fine.id}, "now": now,
                   "exams": exams}
        index = selectors.session_index(**filters)
        assert light(selectors.index_of(selectors.monitor_sessions(**filters))) == light(index)
    assert sorted(r.flag for r in selectors.session_index(exams=exams, now=now)) == [0, 0, 1, 2]


def test_session_rows_read_without_the_orm_have_the_orms_values(exam):
    """monitor_sessions reads with a plain cursor: its datetimes must be the ORM's (aware, UTC, microseconds kept)
    and entered_room a bool or None, or times on the page and the stuck flags would shift."""
    started = timezone.now().replace(microsecond=123456) - timedelta(minutes=5)
    a = StudentSessionFactory(exam=exam, start_time=started, end_time=None, entered_room=True)
    b = StudentSessionFactory(exam=exam, start_time=None, entered_room=None)
    c = StudentSessionFactory(exam=exam, start_time=started, entered_room=False)
    rows = {r.id: r for r in selectors.monitor_sessions()}
    for session in (a, b, c):
        orm = StudentSession.objects.get(pk=session.pk)
        row = rows[session.pk]
        assert (row.start_time, row.end_time, row.entered_room) == (orm.start_time, orm.end_time, orm.entered_room)
        assert row.entered_room is orm.entered_room
    assert rows[a.pk].start_time.utcoffset() == timedelta(0)


def test_the_freshness_banner_version_changes_when_refreshes_pause():
    """The poll re-renders the banner only when its version changes: a pause must change it within the minute."""
    import dataclasses

    from proctordash.sync.freshness import Freshness
    from proctordash.monitoring.views import freshness_banner_version

    now = timezone.now()
    running = [Freshness("proctorexam", "ProctorExam", "fresh", now), Freshness("smarterproctoring", "x", "fresh", now)]
    paused = [dataclasses.replace(f, paused="Redis unreachable (connection refused)") for f in running]
    assert freshness_banner_version(running, now=now) == freshness_banner_version(list(running), now=now)
    assert freshness_banner_version(paused, now=now) != freshness_banner_version(running, now=now)


def test_show_needs_attention_keeps_stuck_sessions_and_new_incidents_and_the_poll_follows(client_for, support, exam,
                                                                                         settings):
    now = timezone.now()
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    StudentSessionFactory(exam=exam, name="Long Setup", status="in_setup", upstream_updated_at=now - timedelta(minutes=16))
    calm = StudentSessionFactory(exam=exam, name="Calm Learner", status="exam_started", start_time=now)
    noisy = StudentSessionFactory(exam=exam, name="Noisy Learner", status="exam_started", start_time=now)
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"show": "attention"}).content.decode()
    assert "Long Setup" in html and "Calm Learner" not in html and "Noisy Learner" not in html
    assert '<option value="attention" selected>' in html
    assert "<strong>1</strong> session in 1 open exam" in html  # the summary counts what is shown

    # an incident arrives for one session: the next poll adds that row, and only that row
    since = re.search(r'name="since" value="([^"]+)"', html).group(1)
    IncidentFactory(student_session=noisy, comment="Phone on desk")
    StudentSession.objects.filter(pk=noisy.pk).update(incident_count=1, content_hash="with-incident")
    body = c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since, "show": "attention"},
                  **HTMX).content.decode()
    assert "Noisy Learner" in body and "Calm Learner" not in body and f"pe-{calm.pk}" not in body

    # a bad value is named beside the field and ignored, never a 500
    response = c.get(reverse("monitoring:monitor"), {"show": "everything!"})
    assert response.status_code == 200 and "Calm Learner" in response.content.decode()
    assert "Select a valid choice" in response.content.decode()
