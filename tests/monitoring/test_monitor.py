"""The live monitor: what needs attention first, per-exam counts that expand on demand, stuck flags, new-incident
highlighting, timelines, and the poll that answers only what changed (and says only what a person must act on)."""

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


def unit_keys(html: str) -> list[str]:
    """The table's units (group headings g-…, per-exam counts c-…, rows pe-…/sp-…) in page order."""
    return re.findall(r'<tbody id="((?:g|c|pe|sp)-[^"]+)"', html)


def sections(html: str) -> dict[str, list[str]]:
    """Each group's units (rows and per-exam counts) in page order, keyed by group."""
    result: dict[str, list[str]] = {}
    current = None
    for key in unit_keys(html):
        if key.startswith("g-"):
            current = key[2:]
            result[current] = []
        else:
            result[current].append(key)
    return result


def since_of(html: str) -> str:
    return re.search(r'name="since" value="([^"]+)"', html).group(1)


def poll_after(c, html, **extra):
    return c.post(reverse("monitoring:poll"), {"have": page_versions(html), "since": since_of(html), **extra}, **HTMX)


def apply_poll(page_keys: list[str], body: str) -> list[str]:
    """What htmx does to the page's unit order with the poll's out-of-band deletes and inserts (document order)."""
    keys = list(page_keys)
    for key in deleted(body):  # a delete spares the copy this answer inserts: apply them first
        keys.remove(key)
    for match in re.finditer(r'<table hx-swap-oob="([^"]+)">(.*?)</table>', body, re.S):
        where, inner = match.group(1), match.group(2)
        new_key = re.match(r'<tbody id="([^"]+)"', inner).group(1)
        style, target = where.split(":#")
        if style == "beforebegin":
            keys.insert(keys.index(target), new_key)
        else:
            assert style == "beforeend" and target == "monitor-table"
            keys.append(new_key)
    return keys


def deleted(body: str) -> list[str]:
    return re.findall(r'<div hx-swap-oob="delete:#monitor-table tbody#([\w-]+):not\(\[data-poll=p[0-9a-f]+\]\)"></div>',
                      body)


def announced(body: str) -> str:
    match = re.search(r'<div id="monitor-announce" hx-swap-oob="innerHTML">(.*?)</div>', body, re.S)
    return match.group(1) if match else ""


@pytest.fixture
def exam():
    return ProctorExamExamFactory(name="Chemistry final")


# --- the page ------------------------------------------------------------------------------------------------------
def test_monitor_lists_sessions_of_open_exams_with_checks_as_one_line_of_icons(client_for, support, exam):
    StudentSessionFactory(exam=exam, name="Grace Hopper", microphone_check="failed", mobile_check="not_started")
    closed = ProctorExamExamFactory(status="closed")
    StudentSessionFactory(exam=closed, name="Closed Exam Learner")
    StudentSessionFactory(exam=exam, name="Removed Learner", removed_at=timezone.now())
    response = client_for(support).get(reverse("monitoring:monitor"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Grace Hopper" in html and "Chemistry final" in html
    assert "Closed Exam Learner" not in html and "Removed Learner" not in html
    checks = re.search(r'<td class="checks">(.*?)</td>', html).group(1)
    icons = re.findall(r'<span class="ck (\w+) k\d" role="img" aria-label="([^"]+)" title="\2">(.)</span>', checks)
    assert [(state, name, icon) for state, name, icon in icons] == [
        ("ok", "Webcam: passed", "✓"), ("bad", "Microphone: failed", "✗"), ("ok", "Speakers: passed", "✓"),
        ("ok", "Screen share: passed", "✓"), ("pending", "Mobile: not started", "○"), ("ok", "Bandwidth: passed", "✓"),
    ]
    assert "<br>" not in checks and "<li" not in checks  # one line
    assert 'hx-trigger="every 15s, monitor-poll-now"' in html


def test_untrusted_names_and_comments_are_text(client_for, support, exam):
    session = StudentSessionFactory(exam=exam, name='<img src=x onerror="alert(1)">', incident_count=1)
    IncidentFactory(student_session=session, comment="<script>alert(2)</script>")
    hostile_exam = ProctorExamExamFactory(name='"><svg onload=alert(3)>')
    StudentSessionFactory(exam=hostile_exam, status="registered")  # its name is in a per-exam count and its links
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "<svg onload" not in html and "&lt;svg onload=alert(3)&gt;" in html
    detail = c.get(reverse("monitoring:session", args=[session.id]) + "?open=1", **HTMX).content.decode()
    assert "<script>alert(2)" not in detail and "&lt;script&gt;alert(2)" in detail


def test_filters_by_exam_and_status_and_bad_values_do_not_500(client_for, support, exam):
    other = ProctorExamExamFactory(name="Physics")
    StudentSessionFactory(exam=exam, name="In Chemistry", status="in_setup")
    StudentSessionFactory(exam=other, name="In Physics", status="exam_started")
    AppointmentFactory(learner_first_name="Sparrow")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"exam": exam.id}).content.decode()
    assert "In Chemistry" in html and "In Physics" not in html
    assert "Sparrow" not in html and "not shown while an exam or status filter is set" in html
    html = c.get(reverse("monitoring:monitor"), {"status": "exam_started"}).content.decode()
    assert "In Physics" in html and "In Chemistry" not in html
    response = c.get(reverse("monitoring:monitor"), {"exam": "999999", "status": "bogus", "expand": "<x>,waiting-pe1.9e9"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert "In Physics" in html and "In Chemistry" in html and "Sparrow" in html  # a bad filter is ignored
    # htmx filter change answers the live region only
    fragment = c.get(reverse("monitoring:monitor"), {"exam": other.id}, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="monitor-live"') and "<html" not in fragment


def test_the_monitor_is_ordered_by_attention(client_for, support, exam, settings):
    """Stuck or flagged → in progress with incidents → in progress → starting within the hour; then the not-started
    and finished sessions as per-exam counts."""
    now = timezone.now()
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    settings.MONITOR_NO_RECORDING_AFTER = 600
    physics = ProctorExamExamFactory(name="Physics")
    stuck = StudentSessionFactory(exam=exam, name="Zed Stuck", status="in_setup",
                                  upstream_updated_at=now - timedelta(minutes=40))
    stuck_newer = StudentSessionFactory(exam=physics, name="Young Stuck", status="exam_not_started",
                                        upstream_updated_at=now - timedelta(minutes=20))
    noisy = StudentSessionFactory(exam=exam, name="Noisy", incident_count=3)
    noisier = StudentSessionFactory(exam=physics, name="Noisier", incident_count=5)
    calm_b = StudentSessionFactory(exam=physics, name="Calm B")
    calm_a = StudentSessionFactory(exam=exam, name="Calm A")
    setup = StudentSessionFactory(exam=exam, name="Setting Up", status="in_setup", upstream_updated_at=now)
    soon_late = StudentSessionFactory(exam=exam, name="Soon Late", status="after_check_req", start_time=None,
                                      reservation_time=now + timedelta(minutes=50))
    soon_early = StudentSessionFactory(exam=physics, name="Soon Early", status="email_sent", start_time=None,
                                       reservation_time=now + timedelta(minutes=10))
    StudentSessionFactory(exam=exam, name="Tomorrow", status="after_check_req", start_time=None,
                          reservation_time=now + timedelta(days=1))
    StudentSessionFactory(exam=exam, name="Unbooked", status="registered", start_time=None)
    StudentSessionFactory(exam=physics, name="Done", status="exam_finished", end_time=now)
    no_video = AppointmentFactory(learner_first_name="NoVideo", status="Scheduled",
                                  appointment_date=now - timedelta(minutes=15))
    needy = AppointmentFactory(learner_first_name="Needy", status="Needs Proctor",
                               appointment_date=now + timedelta(minutes=45))
    running = AppointmentFactory(learner_first_name="Running", status="In Progress",
                                 appointment_date=now - timedelta(minutes=5), recording_start_date=now)
    starting = AppointmentFactory(learner_first_name="Starting", status="Scheduled",
                                  appointment_date=now + timedelta(minutes=30))

    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    groups = sections(html)
    assert list(groups) == ["attention", "incidents", "progress", "soon", "waiting", "finished"]
    # stuck and flagged, newest first; then "Needs Proctor"
    assert groups["attention"] == [f"sp-{no_video.sid}", f"pe-{stuck_newer.pk}", f"pe-{stuck.pk}",
                                   f"sp-{needy.sid}"]
    assert groups["incidents"] == [f"pe-{noisier.pk}", f"pe-{noisy.pk}"]  # most incidents first
    # exam, then learner (the SmarterProctoring one under its exam's title)
    progress = groups["progress"]
    assert set(progress) == {f"pe-{calm_a.pk}", f"pe-{setup.pk}", f"pe-{calm_b.pk}", f"sp-{running.sid}"}
    assert progress.index(f"pe-{calm_a.pk}") < progress.index(f"pe-{setup.pk}") < progress.index(f"pe-{calm_b.pk}")
    assert groups["soon"] == [f"pe-{soon_early.pk}", f"sp-{starting.sid}", f"pe-{soon_late.pk}"]  # earliest first
    # the rest: one count per exam, no rows
    assert groups["waiting"] == [f"c-waiting-pe{exam.pk}"]
    assert groups["finished"] == [f"c-finished-pe{physics.pk}"]
    assert "Tomorrow" not in html and "Unbooked" not in html and "Done" not in html
    waiting = re.search(rf'<tbody id="c-waiting-pe{exam.pk}".*?</tbody>', html, re.S).group(0)
    assert "Chemistry final" in waiting and "<strong>2</strong> not started" in waiting
    assert "<strong>4</strong> need attention" in html


def test_not_started_and_finished_counts_expand_as_plain_links_and_with_htmx(client_for, support, exam):
    learners = [StudentSessionFactory(exam=exam, name=f"Waiting {i}", status="registered", start_time=None)
                for i in range(3)]
    StudentSessionFactory(exam=exam, name="Running one")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    bucket = re.search(rf'<tbody id="c-waiting-pe{exam.pk}".*?</tbody>', html, re.S).group(0)
    link = re.search(r'<a id="x-c-waiting-pe\d+" class="bucket-toggle" href="([^"]+)" hx-get="\1" '
                     r'hx-target="#monitor-live"[^>]*aria-expanded="false"[^>]*>Show</a>', bucket)
    assert link, bucket
    href = link.group(1).replace("&amp;", "&")
    assert f"expand=waiting-pe{exam.pk}" in href and "since=" in href

    # JavaScript off: the link is a page with that exam's sessions listed under its count
    page = c.get(href)
    assert page.status_code == 200
    expanded = page.content.decode()
    keys = sections(expanded)["waiting"]
    assert keys == [f"c-waiting-pe{exam.pk}"] + [f"pe-{s.pk}" for s in learners]
    assert f'data-expanded="waiting-pe{exam.pk}"' in expanded and ">Hide</a>" in expanded
    assert since_of(expanded) == since_of(html)  # the same look: highlights are kept

    # htmx: the same URL answers the live region
    fragment = c.get(href, **HTMX).content.decode()
    assert fragment.lstrip().startswith('<div id="monitor-live"') and "Waiting 2" in fragment

    # the poll keeps the expansion (monitoring.js sends it) and adds a newcomer in place
    newcomer = StudentSessionFactory(exam=exam, name="Waiting 1b", status="registered", start_time=None)
    body = poll_after(c, expanded, expand=f"waiting-pe{exam.pk}").content.decode()
    assert apply_poll(unit_keys(expanded), body) == unit_keys(
        c.get(href).content.decode())
    assert f'id="pe-{newcomer.pk}"' in body and f"pe-{learners[0].pk}" not in body
    assert f"c-waiting-pe{exam.pk}" in oob_ids(body)  # its count went from 3 to 4


def test_an_expanded_exam_shows_its_first_rows_and_more_on_demand(client_for, support, exam):
    StudentSession.objects.bulk_create([
        StudentSessionFactory.build(exam=exam, name=f"Learner {i:03d}", status="registered", start_time=None)
        for i in range(130)])
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"expand": f"waiting-pe{exam.pk}"}).content.decode()
    assert len(sections(html)["waiting"]) == 1 + selectors.EXPAND_STEP
    assert "showing 100 of 130, by name" in html and ">Show 30 more</a>" in html
    more = re.search(r'href="([^"]+)"[^>]*>Show 30 more</a>', html).group(1).replace("&amp;", "&")
    assert f"waiting-pe{exam.pk}.200" in more
    html = c.get(more).content.decode()
    assert len(sections(html)["waiting"]) == 1 + 130 and "Show 30 more" not in html


def test_a_group_too_large_for_the_page_is_counted_per_exam(client_for, support, exam, settings):
    settings.MONITOR_ROW_BUDGET = 5
    physics = ProctorExamExamFactory(name="Physics")
    StudentSessionFactory.create_batch(4, exam=exam, incident_count=1)  # in progress with incidents: fits
    StudentSessionFactory.create_batch(3, exam=exam)
    StudentSessionFactory.create_batch(2, exam=physics)  # in progress: 5 > what is left (1): counted per exam
    soon = StudentSessionFactory(exam=physics, status="registered", start_time=None,
                                 reservation_time=timezone.now() + timedelta(minutes=5))  # fits the last place
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    groups = sections(html)
    assert len(groups["incidents"]) == 4 and all(k.startswith("pe-") for k in groups["incidents"])
    assert groups["progress"] == [f"c-progress-pe{exam.pk}", f"c-progress-pe{physics.pk}"]
    assert "Too many to list at once: counted per exam below (2 exams)" in html
    assert groups["soon"] == [f"pe-{soon.pk}"]


def test_stuck_sessions_are_flagged(client_for, support, exam, settings):
    now = timezone.now()
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    settings.MONITOR_OVERRUN_GRACE = 600
    StudentSessionFactory(exam=exam, name="Long Setup", status="in_setup", upstream_updated_at=now - timedelta(minutes=16))
    StudentSessionFactory(exam=exam, name="Fresh Setup", status="in_setup", upstream_updated_at=now - timedelta(minutes=5))
    StudentSessionFactory(exam=exam, name="Overrun", status="exam_started", start_time=now - timedelta(minutes=75))
    StudentSessionFactory(exam=exam, name="Within grace", status="exam_started", start_time=now - timedelta(minutes=65))
    layout = selectors.monitor_layout(now=now)
    rows = {u.item.name: u.item for u in layout.units if u.kind == "session"}
    assert rows["Long Setup"].flag == "In setup too long" and rows["Long Setup"].group == "attention"
    assert rows["Fresh Setup"].flag == "" and rows["Fresh Setup"].group == "progress"
    assert rows["Overrun"].flag == "Running past the 60-minute duration" and rows["Overrun"].group == "attention"
    assert rows["Within grace"].flag == ""
    for row in rows.values():  # the database's flag (which chose the group) agrees with the Python rules
        assert row.code == selectors.flag_code(row.status, row.flag)
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    assert html.count("<strong>Stuck:</strong>") == 2
    assert "<strong>2</strong> need attention" in html


def test_group_rules_in_sql_and_python_agree(exam, settings):
    """group_expression (SQL, for thousands of rows) and group_of (Python) hold the same rules."""
    import itertools

    now = timezone.now()
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    since = now - timedelta(minutes=30)
    cases = itertools.product(
        ["registered", "after_check_req", "in_setup", "exam_not_started", "exam_started", "exam_finished", "odd"],
        [0, 2],  # incidents
        [None, now + timedelta(minutes=10), now - timedelta(minutes=40), now + timedelta(hours=3)],  # booked
        [now, now - timedelta(hours=1)],  # last change
        [False, True],  # a new incident since the last look
    )
    expected = {}
    for n, (status, incidents, booked, updated, new) in enumerate(cases):
        session = StudentSessionFactory(exam=exam, status=status, incident_count=incidents, reservation_time=booked,
                                        upstream_updated_at=updated, start_time=now - timedelta(minutes=5))
        if new:
            IncidentFactory(student_session=session, first_seen_at=now - timedelta(minutes=1))
        code = 1 if status in selectors.SETUP_STATUSES and updated < now - timedelta(minutes=15) else 0
        expected[session.pk] = selectors.group_of(status=status, code=code, new=int(new), incident_count=incidents,
                                                  reservation_time=booked, now=now)
    layout = selectors.monitor_layout(now=now, since=since, expand={(g, f"pe{exam.pk}"): 1000 for g in selectors.GROUPS})
    got = {u.item.id: u.item.group for u in layout.units if u.kind == "session"}
    assert got == expected
    assert set(got.values()) == set(selectors.GROUPS)


def test_sp_appointments_now_and_within_the_hour(client_for, support, settings):
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
    rows = {r.learner_name.split()[0]: r for r in selectors.monitor_appointments(now=now)}
    assert set(rows) == {"Needy", "Running", "NoVideo", "Soon"}
    assert (rows["NoVideo"].flag, rows["NoVideo"].group) == ("Past its start, no recording", "attention")
    assert (rows["Needy"].flag, rows["Needy"].group) == ("Needs a proctor", "attention")
    assert (rows["Running"].flag, rows["Running"].group) == ("", "progress")
    assert (rows["Soon"].flag, rows["Soon"].group) == ("", "soon")
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    assert html.index("NoVideo") < html.index("Needy") < html.index("Running") < html.index("Soon")
    assert "Recording since" in html and "No recording yet" in html


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
    assert sections(html)["attention"] == [f"pe-{session.pk}"]  # new incidents need attention
    # the page load was a new look: a reload no longer highlights it
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert "badge new" not in html
    assert sections(html)["incidents"] == [f"pe-{session.pk}"]


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
    # plain HTML: a page of its own; and the monitor with ?open= shows it open
    page = c.get(reverse("monitoring:session", args=[session.id])).content.decode()
    assert "<html" in page and "Phone visible" in page
    assert "Phone visible" in c.get(reverse("monitoring:monitor"), {"open": session.id}).content.decode()
    assert c.get(reverse("monitoring:session", args=[999999])).status_code == 404


# --- the poll ------------------------------------------------------------------------------------------------------
def test_poll_answers_204_when_nothing_changed(client_for, support, exam):
    StudentSessionFactory.create_batch(3, exam=exam)
    StudentSessionFactory.create_batch(2, exam=exam, status="registered", start_time=None)
    AppointmentFactory()
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    response = poll_after(c, html)
    assert response.status_code == 204, response.content.decode()[:3000]


def test_poll_swaps_only_the_changed_row(client_for, support, exam, django_assert_max_num_queries):
    sessions = StudentSessionFactory.create_batch(5, exam=exam)
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    changed = sessions[2]
    StudentSession.objects.filter(pk=changed.pk).update(content_hash="changed", entered_room=False)
    with django_assert_max_num_queries(10):  # constant: it does not grow with the rows
        response = poll_after(c, html)
    assert response.status_code == 200
    body = response.content.decode()
    assert oob_ids(body) == [f"pe-{changed.pk}"]
    assert "not in the room" in body and announced(body) == ""
    for other in sessions:
        if other.pk != changed.pk:
            assert f'id="pe-{other.pk}"' not in body


def test_poll_moves_a_session_between_groups_and_counts(client_for, support, exam):
    sessions = [StudentSessionFactory(exam=exam, name=f"Learner {i}") for i in range(4)]
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    done = sessions[1]
    StudentSession.objects.filter(pk=done.pk).update(status="exam_finished", content_hash="done",
                                                     end_time=timezone.now())
    body = poll_after(c, html).content.decode()
    assert deleted(body) == [f"pe-{done.pk}"]
    assert f'<table hx-swap-oob="beforeend:#monitor-table"><tbody id="c-finished-pe{exam.pk}"' in body
    assert {"g-progress", "g-finished", "monitor-summary"} <= set(oob_ids(body))
    expected = unit_keys(c.get(reverse("monitoring:monitor")).content.decode())
    assert apply_poll(unit_keys(html), body) == expected
    assert announced(body) == ""  # a session finishing is not something to act on


def test_poll_announces_a_session_that_became_stuck_and_a_new_incident(client_for, support, exam, settings):
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    now = timezone.now()
    setup = StudentSessionFactory(exam=exam, name="Ada Setup", status="in_setup", upstream_updated_at=now)
    watched = StudentSessionFactory(exam=exam, name="Grace Watched", incident_count=1)
    already = StudentSessionFactory(exam=exam, name="Old Stuck", status="in_setup",
                                    upstream_updated_at=now - timedelta(hours=1))
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert sections(html)["attention"] == [f"pe-{already.pk}"]
    # time passes: the setup takes too long; a new incident arrives for another learner
    StudentSession.objects.filter(pk=setup.pk).update(upstream_updated_at=now - timedelta(minutes=20))
    IncidentFactory(student_session=watched, comment="Phone on desk")
    StudentSession.objects.filter(pk=watched.pk).update(incident_count=2, content_hash="two")
    body = poll_after(c, html).content.decode()
    text = announced(body)
    assert "Ada Setup (Chemistry final) looks stuck: In setup too long." in text
    assert "A new incident for Grace Watched (Chemistry final)." in text
    assert "Old Stuck" not in text
    assert apply_poll(unit_keys(html), body)[:4] == ["g-attention", f"pe-{setup.pk}", f"pe-{already.pk}",
                                                     f"pe-{watched.pk}"]
    # the next poll (the page now holds those versions) says nothing again
    html = c.get(reverse("monitoring:monitor"), {"since": since_of(html)}).content.decode()
    assert poll_after(c, html).status_code == 204


def test_poll_never_announces_what_only_ticks(client_for, support, exam):
    """Counts that move, a session that starts, the freshness banner's age: none of it is read out."""
    from proctordash.sync.models import UpstreamState

    UpstreamState.objects.create(upstream="proctorexam", last_success_at=timezone.now() - timedelta(minutes=3))
    UpstreamState.objects.create(upstream="smarterproctoring", last_success_at=timezone.now() - timedelta(minutes=3))
    waiting = StudentSessionFactory(exam=exam, status="in_setup", upstream_updated_at=timezone.now())
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    StudentSession.objects.filter(pk=waiting.pk).update(status="exam_started", content_hash="started")
    StudentSessionFactory(exam=exam, status="registered", start_time=None)
    stale_banner = re.sub(r'id="monitor-freshness" data-v="([^"]+)"', 'id="monitor-freshness" data-v="-.0ld"', html)
    body = poll_after(c, stale_banner).content.decode()
    assert "monitor-freshness" in oob_ids(body)  # the banner's age is re-drawn…
    assert announced(body) == ""  # …but never spoken
    assert 'role="status"' not in body and 'role="alert"' not in body and "aria-live" not in body


def test_poll_announces_once_when_the_data_stop_refreshing(client_for, support, exam):
    from proctordash.sync.models import UpstreamState

    state = UpstreamState.objects.create(upstream="proctorexam", last_success_at=timezone.now())
    UpstreamState.objects.create(upstream="smarterproctoring", last_success_at=timezone.now())
    StudentSessionFactory(exam=exam)
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert re.search(r'id="monitor-freshness" data-v="-\.', html)
    state.last_error_at = timezone.now()
    state.last_error = "ProctorExam did not answer"
    state.save()
    body = poll_after(c, html).content.decode()
    assert announced(body) == "Warning: the ProctorExam data on this page are not being refreshed."
    html = c.get(reverse("monitoring:monitor"), {"since": since_of(html)}).content.decode()
    again = poll_after(c, html)
    assert again.status_code == 204 or announced(again.content.decode()) == ""


def test_poll_appends_a_new_session_as_one_row_and_keeps_open_timelines(client_for, support, exam):
    first = StudentSessionFactory(exam=exam, name="A first", incident_count=1)
    IncidentFactory(student_session=first, comment="Talking")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"open": first.pk}).content.decode()
    assert "Talking" in html  # plain-HTML link opens it
    newcomer = StudentSessionFactory(exam=exam, name="B newcomer")
    body = poll_after(c, html, open=str(first.pk)).content.decode()
    assert "monitor-table" not in oob_ids(body)  # not the whole table
    assert f'<table hx-swap-oob="beforebegin:#g-soon"><tbody id="pe-{newcomer.pk}"' in body
    assert "B newcomer" in body and 'class="session updated"' in body
    assert f'id="pe-{first.pk}"' not in body and "Talking" not in body  # the open row is left alone
    assert apply_poll(unit_keys(html), body) == unit_keys(
        c.get(reverse("monitoring:monitor"), {"open": first.pk}).content.decode())


def test_poll_inserts_a_new_session_before_its_right_neighbour(client_for, support, exam):
    later_exam = ProctorExamExamFactory(name="Zoology")
    a = StudentSessionFactory(exam=exam, name="Ada")
    c_ = StudentSessionFactory(exam=exam, name="Curie")
    z = StudentSessionFactory(exam=later_exam, name="Aaron")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    assert sections(html)["progress"] == [f"pe-{a.pk}", f"pe-{c_.pk}", f"pe-{z.pk}"]
    b = StudentSessionFactory(exam=exam, name="Babbage")
    body = poll_after(c, html).content.decode()
    assert f'<table hx-swap-oob="beforebegin:#pe-{c_.pk}"><tbody id="pe-{b.pk}"' in body
    reloaded = c.get(reverse("monitoring:monitor")).content.decode()
    assert unit_keys(reloaded) == apply_poll(unit_keys(html), body)


def test_poll_deletes_a_session_that_left_and_handles_mixed_changes(client_for, support, exam,
                                                                     django_assert_max_num_queries):
    sessions = [StudentSessionFactory(exam=exam, name=f"Learner {i:02d}") for i in range(8)]
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    gone, renamed, changed = sessions[1], sessions[3], sessions[6]
    StudentSession.objects.filter(pk=gone.pk).update(removed_at=timezone.now())
    StudentSession.objects.filter(pk=renamed.pk).update(name="Learner 99", content_hash="renamed")
    StudentSession.objects.filter(pk=changed.pk).update(content_hash="changed", entered_room=False)
    arrived = StudentSessionFactory(exam=exam, name="Learner 04b")
    with django_assert_max_num_queries(10):  # the same constant as a poll that only swaps rows
        response = poll_after(c, html)
    body = response.content.decode()
    assert f"pe-{gone.pk}" in deleted(body)
    assert "monitor-table" not in oob_ids(body)
    assert set(oob_ids(body)) == {f"pe-{changed.pk}"}  # as many in progress as before: counts unchanged
    expected = unit_keys(c.get(reverse("monitoring:monitor")).content.decode())
    assert apply_poll(unit_keys(html), body) == expected  # the renamed row moved, the new one fits in
    assert f'id="pe-{arrived.pk}"' in body
    for session in sessions:
        if session.pk not in {gone.pk, renamed.pk, changed.pk}:
            assert f'id="pe-{session.pk}"' not in body


def test_counts_have_thousands_separators(client_for, support, exam):
    """The summary, the per-exam counts and the live region's sentence write 1,234, not 1234."""
    StudentSession.objects.bulk_create([StudentSessionFactory.build(exam=exam, name=f"Waiting {i:04d}",
                                                                    status="registered", start_time=None)
                                        for i in range(1234)])
    StudentSession.objects.bulk_create([StudentSessionFactory.build(exam=exam, name=f"Running {i:04d}")
                                        for i in range(1001)])
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    summary = re.search(r'(?s)<div id="monitor-summary".*?</div>', html).group(0)
    assert "<strong>1,234</strong> not started" in summary and "<strong>1,001</strong> in progress" in summary
    assert "ProctorExam: 2,235 sessions in 1 open exam" in summary
    assert 'data-announce="0 need attention, 1,001 in progress' in html
    assert "<strong>1,234</strong> not started" in html.split("monitor-table", 1)[1]  # the exam's count in the table
    assert not re.search(r"\b(1234|1001|2235)\b", re.sub(r'(id|href|hx-\w+|data-v)="[^"]*"', "", html))


def test_poll_sends_the_whole_table_when_many_rows_arrive(client_for, support, exam, settings):
    settings.MONITOR_ROW_BUDGET = 1000
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    StudentSession.objects.bulk_create([StudentSessionFactory.build(exam=exam, name=f"Many {i:03d}")
                                        for i in range(250)])
    body = poll_after(c, html).content.decode()
    assert "monitor-table" in oob_ids(body) and body.count('<tbody id="pe-') == 250


def test_poll_inserts_and_removes_appointment_rows(client_for, support):
    now = timezone.now()
    early = AppointmentFactory(status="Scheduled", appointment_date=now + timedelta(minutes=10))
    late = AppointmentFactory(status="Scheduled", appointment_date=now + timedelta(minutes=40))
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    middle = AppointmentFactory(status="Scheduled", appointment_date=now + timedelta(minutes=30))
    type(early).objects.filter(pk=early.pk).update(status="Cancelled")
    body = poll_after(c, html).content.decode()
    assert deleted(body) == [f"sp-{early.sid}"]
    assert f'<table hx-swap-oob="beforebegin:#sp-{late.sid}"><tbody id="sp-{middle.sid}"' in body
    assert "monitor-table" not in oob_ids(body)


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


def test_unit_change_plan_keeps_the_group_headings_in_place():
    import random

    from proctordash.monitoring.views import unit_change_plan

    rng = random.Random(11)
    heads = ["g-attention", "g-incidents", "g-progress", "g-soon", "g-waiting", "g-finished"]
    for _ in range(400):
        universe = [f"pe-{i}" for i in range(rng.randint(0, 25))]

        def layout():
            rows = rng.sample(universe, rng.randint(0, len(universe)))
            cuts = sorted(rng.randint(0, len(rows)) for _ in heads[1:])
            keys = []
            bounds = [0] + cuts + [len(rows)]
            for i, head in enumerate(heads):
                keys.append(head)
                keys.extend(rows[bounds[i]:bounds[i + 1]])
            return keys

        have, want = layout(), layout()
        plan = unit_change_plan(have, want)
        if plan is None:
            continue
        assert not set(plan.deleted) & set(heads) and not plan.inserted & set(heads)  # headings never move
        keys = [k for k in have if k not in plan.deleted]
        for key, before in plan.inserts:
            keys.insert(keys.index(before) if before else len(keys), key)
        assert keys == want, (have, want, plan)
    assert unit_change_plan(["g-attention", "pe-1"], ["g-attention", "g-progress", "pe-1"]) is None


def test_poll_keeps_the_filters(client_for, support, exam):
    other = ProctorExamExamFactory(name="Physics")
    StudentSessionFactory(exam=exam, name="Chem learner")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"exam": exam.id}).content.decode()
    StudentSessionFactory(exam=other, name="Physics learner")
    response = poll_after(c, html, exam=exam.id)
    assert response.status_code == 204


def test_poll_without_htmx_redirects_to_the_page(client_for, support):
    response = client_for(support).post(reverse("monitoring:poll"))
    assert response.status_code == 302 and response["Location"] == reverse("monitoring:monitor")


def test_monitor_page_query_count_does_not_grow_with_rows(client_for, support, exam, django_assert_max_num_queries):
    StudentSessionFactory.create_batch(40, exam=exam)
    StudentSessionFactory.create_batch(40, exam=exam, status="registered", start_time=None)
    AppointmentFactory.create_batch(10)
    c = client_for(support)
    # session, user, profile, open exams, group counts, appointments, listed rows, the expanded exam's rows, new
    # incidents, freshness, and the session's write of the new look (3 statements)
    with django_assert_max_num_queries(13):
        assert c.get(reverse("monitoring:monitor"), {"expand": f"waiting-pe{exam.pk}"}).status_code == 200


def test_the_first_page_stays_small_with_thousands_of_sessions(client_for, support, exam):
    """Not a timing test: what the page holds. 6,000 sessions in 12 exams, most of them not started: the page lists
    what needs a person and counts the rest per exam, within the issue's 600 KB (element count: benchmarks/)."""
    now = timezone.now()
    exams = [exam] + [ProctorExamExamFactory(name=f"Exam {i:02d}") for i in range(11)]
    statuses = ["registered"] * 12 + ["email_sent"] * 3 + ["exam_finished"] * 3 + ["exam_started", "in_setup"]
    StudentSession.objects.bulk_create([
        StudentSessionFactory.build(exam=exams[i % 12], status=statuses[i % len(statuses)],
                                    upstream_updated_at=now, incident_count=i % 7 == 0,
                                    reservation_time=now + timedelta(minutes=i % 300))
        for i in range(6000)], batch_size=1000)
    html = client_for(support).get(reverse("monitoring:monitor")).content.decode()
    rows = [k for k in unit_keys(html) if k.startswith(("pe-", "sp-"))]
    assert len(rows) <= selectors.ROW_BUDGET
    assert len(unit_keys(html)) <= selectors.ROW_BUDGET + 6 + 12 * 6
    assert len(html.encode()) < 600_000
    assert "Too many to list at once" in html


def test_the_freshness_banner_version_changes_when_refreshes_pause():
    """The poll re-renders the banner only when its version changes: a pause must change it within the minute."""
    import dataclasses

    from proctordash.monitoring.views import freshness_banner_version
    from proctordash.sync.freshness import Freshness

    now = timezone.now()
    running = [Freshness("proctorexam", "ProctorExam", "fresh", now), Freshness("smarterproctoring", "x", "fresh", now)]
    paused = [dataclasses.replace(f, paused="Redis unreachable (connection refused)") for f in running]
    assert freshness_banner_version(running, now=now) == freshness_banner_version(list(running), now=now)
    assert freshness_banner_version(paused, now=now) != freshness_banner_version(running, now=now)
    assert freshness_banner_version(running, now=now).startswith("-.")
    assert freshness_banner_version(paused, now=now).startswith("ps.")


def test_show_needs_attention_keeps_stuck_sessions_and_new_incidents_and_the_poll_follows(client_for, support, exam,
                                                                                         settings):
    now = timezone.now()
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    StudentSessionFactory(exam=exam, name="Long Setup", status="in_setup", upstream_updated_at=now - timedelta(minutes=16))
    calm = StudentSessionFactory(exam=exam, name="Calm Learner", status="exam_started", start_time=now)
    noisy = StudentSessionFactory(exam=exam, name="Noisy Learner", status="exam_started", start_time=now)
    StudentSessionFactory(exam=exam, name="Not Yet", status="registered", start_time=None)
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor"), {"show": "attention"}).content.decode()
    assert "Long Setup" in html and "Calm Learner" not in html and "Noisy Learner" not in html
    assert list(sections(html)) == ["attention"]
    assert '<option value="attention" selected>' in html

    # an incident arrives for one session: the next poll adds that row, and only that row, and says so
    IncidentFactory(student_session=noisy, comment="Phone on desk")
    StudentSession.objects.filter(pk=noisy.pk).update(incident_count=1, content_hash="with-incident")
    body = poll_after(c, html, show="attention").content.decode()
    assert "Noisy Learner" in body and "Calm Learner" not in body and f"pe-{calm.pk}" not in body
    assert "A new incident for Noisy Learner" in announced(body)

    # a bad value is named beside the field and ignored, never a 500
    response = c.get(reverse("monitoring:monitor"), {"show": "everything!"})
    assert response.status_code == 200 and "Calm Learner" in response.content.decode()
    assert "Select a valid choice" in response.content.decode()


def test_expand_tokens_are_parsed_strictly():
    assert selectors.parse_expand(["waiting-pe12", "finished-pe3.250,progress-sp.5", "soon-pe9.99999"]) == {
        ("waiting", "pe12"): 100, ("finished", "pe3"): 250, ("progress", "sp"): 100, ("soon", "pe9"): 1000}
    assert selectors.parse_expand(["<script>", "waiting-pe", "waiting-pe1;drop", "nope-pe1", "waiting-sp1"]) == {}
    assert len(selectors.parse_expand([",".join(f"waiting-pe{i}" for i in range(50))])) == selectors.MAX_EXPANSIONS


def test_attention_larger_than_the_page_lists_its_newest_and_counts_the_rest(client_for, support, exam, settings):
    settings.MONITOR_ROW_BUDGET = 3
    settings.MONITOR_SETUP_STUCK_AFTER = 900
    now = timezone.now()
    physics = ProctorExamExamFactory(name="Physics")
    stuck = [StudentSessionFactory(exam=exam if i % 2 else physics, name=f"Stuck {i}", status="in_setup",
                                   upstream_updated_at=now - timedelta(minutes=20 + i)) for i in range(5)]
    StudentSessionFactory(exam=exam, name="Running fine")
    c = client_for(support)
    html = c.get(reverse("monitoring:monitor")).content.decode()
    groups = sections(html)
    # the three newest troubles listed; the two oldest counted under their exams (Chemistry: #3, Physics: #4)
    assert groups["attention"][:3] == [f"pe-{s.pk}" for s in stuck[:3]]
    assert groups["attention"][3:] == [f"c-attention-pe{exam.pk}", f"c-attention-pe{physics.pk}"]
    assert "the newest 3 here, the rest counted per exam below (2 exams)" in html
    assert "<h2>Needs attention <span class=\"count\">5</span>" in html
    assert groups["progress"] == [f"c-progress-pe{exam.pk}"]  # the budget is spent
    # expanding an exam's rest shows only rows not already listed
    expanded = c.get(reverse("monitoring:monitor"), {"expand": f"attention-pe{exam.pk}",
                                                     "since": since_of(html)}).content.decode()
    keys = sections(expanded)["attention"]
    assert keys.count(f"pe-{stuck[3].pk}") == 1 and len(keys) == len(set(keys))
    assert keys.index(f"c-attention-pe{exam.pk}") + 1 == keys.index(f"pe-{stuck[3].pk}")
    # and the poll agrees with the page
    assert poll_after(c, expanded, expand=f"attention-pe{exam.pk}").status_code == 204
