"""Hostile payloads from the sandbox: its seeded world carries names, titles, notes and incident comments that are
markup (`<script>…`, `"><img onerror=…>`) or spreadsheet formulas (`=HYPERLINK(…)`, `+SUM…`, `-2+3+cmd…`, `@SUM…`).
After a real sync they must be shown as text on every page and fragment that shows them, neutralised in every CSV,
and never rendered as markup in the alert e-mails."""

from __future__ import annotations

import csv
import io
from html.parser import HTMLParser

import pytest
from django.core import mail
from django.db.models import Q
from django.utils import timezone

from proctordash.sandbox.data import HOSTILE

pytestmark = pytest.mark.django_db(transaction=True)

MARKUP = [h for h in HOSTILE if "<" in h]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and not a.get("src"):
            self.problems.append("inline <script>")
        if tag == "img" and a.get("src") == "x":
            self.problems.append("injected <img src=x>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler")
            if name in ("href", "src", "hx-get", "hx-post") and (value or "").strip().lower().startswith("javascript:"):
                self.problems.append(f"<{tag} {name}=javascript:…>")


def assert_inert(html: str, where: str) -> None:
    parser = _Elements()
    parser.feed(html)
    assert parser.problems == [], f"{where}: {parser.problems}"
    for payload in MARKUP:
        assert payload not in html, f"{where}: {payload!r} written as markup"


def assert_shown_as_text(html: str, payload: str, where: str) -> None:
    from django.utils.html import escape

    assert escape(payload) in html, f"{where}: {payload!r} not shown (escaped) as text"


def assert_formula_safe(body: str, where: str) -> int:
    """Every cell that a spreadsheet would run as a formula starts with an apostrophe; returns the guarded cells."""
    guarded = 0
    for row in csv.reader(io.StringIO(body.lstrip("\ufeff"))):
        for cell in row:
            assert not cell.startswith(FORMULA_START), f"{where}: formula cell {cell!r}"
            guarded += cell.startswith("'") and cell[1:].startswith(FORMULA_START)
    return guarded


@pytest.fixture
def synced(sandbox):
    """The sandbox's seeded world, synced into our cache through the real services."""
    from proctordash.sync.passes import appointments_refresh
    from proctordash.sync import engine as sync
    from proctordash.sync.passes import proctorexam_refresh

    sandbox.set_faults()
    sandbox.reset()
    client = sync.redis_client()
    for key in client.scan_iter(f"{sync.KEY_PREFIX}*"):
        client.delete(key)
    appointments_refresh()
    proctorexam_refresh()


@pytest.fixture
def planted(synced):
    """The seeded world draws its hostile strings at random (with the test seed, the appointments carry only some of
    them), so every payload is also planted in the cache, in every text column the pages and the export show."""
    from tests.appointments.factories import AppointmentFactory
    from tests.conftest import COURSE_A

    return [AppointmentFactory(course_sid=COURSE_A, learner_first_name=payload, learner_last_name=HOSTILE[i - 1],
                               exam_title=HOSTILE[i - 2], course_title=HOSTILE[i - 3], learner_email=f"h{i}@example.edu")
            for i, payload in enumerate(HOSTILE)]


def _hostile_appointments():
    from proctordash.appointments.models import Appointment

    q = Q()
    for payload in HOSTILE:
        q |= Q(learner_first_name=payload) | Q(learner_last_name=payload) | Q(exam_title=payload) | Q(course_title=payload)
    return Appointment.objects.live().filter(q)


def test_appointment_pages_show_hostile_upstream_text_as_text(planted, client_for, coordinator):
    client = client_for(coordinator)
    synced_rows = list(_hostile_appointments().exclude(sid__in=[p.sid for p in planted]).order_by("sid")[:5])
    assert synced_rows, "the seeded world lost its hostile records"
    rows = synced_rows + planted
    shown = 0
    for row in rows:
        payloads = [v for v in (row.learner_first_name, row.learner_last_name, row.exam_title, row.course_title)
                    if v in HOSTILE]
        pages = {
            # when=all: the list's default starts today, and the hostile rows may be in the past
            "list": client.get("/appointments/", {"learnerSid": row.learner_sid, "when": "all"}),
            "list fragment": client.get("/appointments/", {"learnerSid": row.learner_sid, "when": "all"},
                                        HTTP_HX_REQUEST="true"),
            "course filter": client.get("/appointments/", {"courseSid": row.course_sid, "when": "all"}),
            "detail": client.get(f"/appointments/{row.sid}/"),
            "sessions fragment": client.get(f"/appointments/{row.sid}/sessions/", HTTP_HX_REQUEST="true"),
            "lookup": client.get("/appointments/learners/", {"q": row.learner_email or row.learner_sid}),
        }
        for name, response in pages.items():
            assert response.status_code == 200, name
            html = response.content.decode()
            assert_inert(html, f"{name} of {row.sid}")
            if name in ("list", "list fragment", "detail"):
                for payload in payloads:
                    assert_shown_as_text(html, payload, f"{name} of {row.sid}")
                    shown += 1
    assert shown
    review = client.get("/appointments/review/").content.decode()
    assert_inert(review, "review queue")


def test_configuration_notes_and_exam_pages(synced, client_for, coordinator):
    from proctordash.appointments.models import Appointment, Exam

    client = client_for(coordinator)
    html = client.get("/exams/").content.decode()
    assert_inert(html, "exams index")
    hostile_exam = Exam.objects.filter(title__in=HOSTILE).first()
    if hostile_exam is not None:
        assert_shown_as_text(html, hostile_exam.title, "exams index")
    # configurations whose student/proctor notes are hostile: the detail page and the edit page show them as text
    checked = 0
    for row in Appointment.objects.live().exclude(configuration_sid="").order_by("sid").iterator():
        cfg = (row.raw or {}).get("examConfiguration") or {}
        notes = [cfg.get(k) for k in ("studentNotes", "proctorNotes") if cfg.get(k) in HOSTILE]
        if not notes or cfg.get("enrollmentSid"):
            continue
        for url in (f"/appointments/{row.sid}/",
                    f"/courses/{row.course_sid}/exams/{row.exam_sid}/configurations/{cfg['sid']}/"):
            response = client.get(url)
            assert response.status_code == 200, url
            page = response.content.decode()
            assert_inert(page, url)
            for note in notes:
                if url.startswith("/courses/"):  # the edit page shows it inside its textarea, as text
                    assert_shown_as_text(page, note, url)
        checked += 1
        if checked >= 3:
            break
    assert checked, "no configuration with hostile notes in the seeded world"


def test_monitor_timeline_and_readiness(synced, client_for, coordinator):
    from proctordash.monitoring.models import Incident, StudentSession

    client = client_for(coordinator)
    for url in ("/monitor/", "/monitor/readiness/?days=14", "/health/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), url)
    sessions = list(StudentSession.objects.filter(
        Q(name__in=HOSTILE) | Q(incidents__comment__in=HOSTILE)).distinct().order_by("id")[:8])
    assert sessions, "the seeded world has no hostile ProctorExam names or incident comments"
    for session in sessions:
        comments = list(Incident.objects.filter(student_session=session, comment__in=HOSTILE)
                        .values_list("comment", flat=True))
        plain = client.get(f"/monitor/sessions/{session.id}/")
        assert plain.status_code == 200
        html = plain.content.decode()
        assert_inert(html, f"session page {session.id}")
        for comment in comments:
            assert_shown_as_text(html, comment, f"session page {session.id}")
        if session.name in HOSTILE:
            assert_shown_as_text(html, session.name, f"session page {session.id}")
        fragment = client.get(f"/monitor/sessions/{session.id}/", HTTP_HX_REQUEST="true")
        if fragment.status_code == 200:  # only live sessions have a row in the monitor
            assert_inert(fragment.content.decode(), f"timeline fragment {session.id}")
        else:
            assert fragment.status_code == 404
    poll = client.post("/monitor/poll/", {"have": ""}, HTTP_HX_REQUEST="true")
    assert poll.status_code in (200, 204)
    assert_inert(poll.content.decode(), "monitor poll")


def test_csv_exports_neutralise_formulas(planted, client_for, coordinator):
    client = client_for(coordinator)
    response = client.get("/appointments/export.csv")
    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode("utf-8")
    assert_formula_safe(body, "appointments export")
    cells = {cell for row in csv.reader(io.StringIO(body.lstrip("\ufeff"))) for cell in row}
    for payload in HOSTILE:  # every payload is in the export, as inert text
        assert (("'" + payload) if payload.startswith(FORMULA_START) else payload) in cells, payload
    readiness = client.get("/monitor/readiness/export.csv?days=14")
    assert readiness.status_code == 200
    assert_formula_safe(readiness.content.decode("utf-8"), "readiness contacts")


def test_readiness_csv_guard_with_hostile_learners(client_for, coordinator):
    """The readiness contacts export with hostile learners for certain (the seeded world may hold none in the window)."""
    from proctordash.core.spreadsheet import inert_cell

    for payload in HOSTILE:
        safe = inert_cell(payload)
        assert not safe.startswith(FORMULA_START)
        assert safe.lstrip("'") == payload


def test_alert_emails_are_plain_text_with_hostile_error_text(db, settings):
    from proctordash.monitoring.alerts import alerts_check
    from proctordash.sync.models import UpstreamState

    settings.UPSTREAM_ALERT_AFTER = 0
    settings.SUPPORT_EMAIL = "support@example.edu"
    now = timezone.now()
    hostile = "<html><body><script>alert(1)</script><img src=x onerror=alert(2)> =HYPERLINK(\"x\")\r\nBcc: evil@x</body></html>"
    UpstreamState.objects.update_or_create(upstream="smarterproctoring", defaults={
        "last_error": hostile, "last_error_at": now, "last_success_at": now - timezone.timedelta(hours=1),
        "consecutive_failures": 3, "alert_open_since": None})
    assert alerts_check(now=now)
    assert mail.outbox
    for message in mail.outbox:
        assert not getattr(message, "alternatives", None), "an HTML part would render the upstream's markup"
        assert message.content_subtype == "plain"
        assert "\n" not in message.subject and "\r" not in message.subject
        assert "evil@x" not in "".join(message.recipients())
        headers = message.message().as_string().split("\n\n", 1)[0]
        assert "Bcc: evil" not in headers
