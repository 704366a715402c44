"""Property-based tests (hypothesis) over every form's POST data: a valid form as the page renders it, with one to
three of its fields (management fields included) replaced by random or adversarial values, or a hand-made POST.

For each: never a 500; a rejected submission changes nothing (the sandbox's configuration and its write counters,
our database) and names the rejected field beside it (`err-<name>` slot marked `data-invalid`, or the field's own
error line)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.exams.conftest import form_data
from tests.hostile.test_query_properties import dates, integers, nasty_text

pytestmark = pytest.mark.django_db

FORM_PROPERTY = settings(max_examples=35, deadline=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

values = st.one_of(nasty_text, integers, dates, st.sampled_from(["on", "off", "true", "[]", "{}", "{\"a\": [1, {}]}",
                                                                  "null", "javascript:alert(1)", "http://", "https://x"]))


def counters(sandbox) -> dict:
    return sandbox.control("GET", "health").json()["requests"]


def invalid_slots(html: str) -> dict[str, str]:
    """The field error slots that show an error: html name → message text."""
    found = {}
    for m in re.finditer(r'<p class="field-error-slot" id="err-([^"]+)" data-for="[^"]*" data-invalid>(.*?)</p>', html, re.S):
        found[m.group(1)] = re.sub("<[^>]+>", "", m.group(2)).strip()
    return found


def mutate(draw, base: dict, *, extra_names=()) -> tuple[dict, set[str]]:
    names = sorted({*base, *extra_names} - {"base", "csrfmiddlewaretoken"})
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
    data = dict(base)
    for name in chosen:
        data[name] = draw(values)
    return data, set(chosen)


# --- exam configuration edit -------------------------------------------------------------------------------------
@pytest.fixture
def config_case(client_for, coordinator, clean_sandbox, sp, cfg):
    from proctordash.exams.fields import put_body

    client = client_for(coordinator)
    state = {}

    def reload():
        state["base"] = form_data(client.get(cfg.url).content.decode())
        state["upstream"] = put_body(sp.get_configuration(**cfg.args()).raw)

    reload()
    return client, state, reload


@FORM_PROPERTY
@given(data=st.data())
def test_configuration_edit_rejects_cleanly(config_case, clean_sandbox, sp, cfg, data):
    from proctordash.exams.fields import put_body
    from proctordash.exams.models import ConfigurationChange

    client, state, reload = config_case
    post, changed = mutate(data.draw, state["base"], extra_names=["slots-0-capacity", "slots-0-start_time",
                                                                  "attachments-0-url", "action"])
    before = counters(clean_sandbox).get("configuration_update", 0)
    history = ConfigurationChange.objects.filter(source="dashboard").count()
    headers = data.draw(st.sampled_from([{}, {"HTTP_HX_REQUEST": "true"}]))
    response = client.post(cfg.url, post, **headers)
    assert response.status_code in (200, 302), (changed, response.status_code)
    if response.status_code == 302 or "HX-Redirect" in response:  # accepted and saved: start again from the seed
        clean_sandbox.reset()
        reload()
        return
    html = response.content.decode()
    # nothing half-applied: no write reached the sandbox, its configuration is as it was, no history row
    assert counters(clean_sandbox).get("configuration_update", 0) == before, changed
    assert put_body(sp.get_configuration(**cfg.args()).raw) == state["upstream"]
    assert ConfigurationChange.objects.filter(source="dashboard").count() == history
    if post.get("action", "save") in ("save", "reapply") and "Nothing was saved" in html:
        slots = invalid_slots(html)
        assert slots, f"rejected {changed} without naming a field"
        assert all(slots.values()), slots


# --- exam create ---------------------------------------------------------------------------------------------------
@pytest.fixture
def create_case(client_for, coordinator, clean_sandbox, cfg):
    from tests.exams.test_create import filled

    client = client_for(coordinator)
    return client, filled(client, cfg.course_sid)


@FORM_PROPERTY
@given(data=st.data())
def test_exam_create_rejects_cleanly(create_case, clean_sandbox, cfg, data):
    from proctordash.exams.models import ExamCreation

    client, base = create_case
    post, changed = mutate(data.draw, base, extra_names=["slots-0-capacity", "action"])
    post.pop("action", None) if post.get("action") in ("resend", "check") else None
    created = ExamCreation.objects.filter(status="created").count()
    before = counters(clean_sandbox).get("create_exam", 0)
    response = client.post(f"/courses/{cfg.course_sid}/exams/new", post)
    assert response.status_code in (200, 302), (changed, response.status_code)
    if response.status_code == 302:
        return
    html = response.content.decode()
    if "Nothing was sent" in html:  # refused by our own checks: the upstream never heard of it
        assert counters(clean_sandbox).get("create_exam", 0) == before
        assert ExamCreation.objects.filter(status="created").count() == created
        slots = invalid_slots(html)
        assert slots and all(slots.values()), f"rejected {changed} without naming a field"


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.one_of(st.sampled_from(["duration", "exam_open_date", "slots-0-capacity", "title", "url"]), nasty_text),
       value=values)
def test_inline_validation_fragments_never_fail(client_for, coordinator, cfg, field, value):
    client = client_for(coordinator)
    for url in (cfg.url + "validate", f"/courses/{cfg.course_sid}/exams/new/validate"):
        response = client.post(url, {"_field": field, field: value}, HTTP_HX_REQUEST="true")
        # 400: Django's own guard against absurd multipart field names; never a 500
        assert response.status_code in (200, 400), (url, field, value)


# --- profile time zone ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zone=st.one_of(nasty_text, st.sampled_from(["Europe/Amsterdam", "UTC", "Mars/Olympus", "../../etc/passwd",
                                                    "europe/amsterdam", "America/Chicago\x00"])))
def test_profile_time_zone(client_for, instructor_a, zone):
    import zoneinfo

    from proctordash.accounts.models import StaffProfile

    client = client_for(instructor_a)
    StaffProfile.objects.filter(user=instructor_a).update(time_zone="Asia/Tokyo")
    response = client.post("/profile/", {"time_zone": zone})
    assert response.status_code in (200, 302)
    saved = StaffProfile.objects.get(user=instructor_a).time_zone
    if response.status_code == 302:
        assert saved == zone and (zone == "" or zone in zoneinfo.available_timezones())
    else:
        assert saved == "Asia/Tokyo", "a rejected time zone was half-applied"
        assert 'id="time_zone-error"' in response.content.decode()


# --- saved views ---------------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=nasty_text, query=nasty_text, shared=st.sampled_from(["on", "", "yes", "\x00"]))
def test_saved_view_save(client_for, coordinator, name, query, shared):
    from urllib.parse import parse_qsl

    from proctordash.appointments.forms import FILTER_KEYS
    from proctordash.appointments.models import SavedView

    client = client_for(coordinator)
    count = SavedView.objects.count()
    response = client.post("/appointments/views/", {"name": name, "query_string": query, "shared": shared})
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    stripped = name.strip()
    if not stripped or len(stripped) > 100 or "\x00" in stripped:
        assert SavedView.objects.count() == count
        html = page.content.decode()
        # the refusal names the box and says why, and says nothing was saved
        assert "Name:" in html and "nothing was saved" in html
        if not stripped:
            assert "needs a name" in html
        elif "\x00" in stripped:
            assert "NUL characters" in html
        else:
            assert "at most 100 characters" in html
    for view in SavedView.objects.all():
        assert all(k in FILTER_KEYS for k, _ in parse_qsl(view.query_string))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pk=st.integers(min_value=0, max_value=2**63))
def test_saved_view_delete_of_anything_else_is_404(client_for, coordinator, pk):
    response = client_for(coordinator).post(f"/appointments/views/{pk}/delete/")
    assert response.status_code == 404


# --- health refresh trigger and monitor poll -----------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=nasty_text, htmx=st.booleans())
def test_health_refresh_refuses_unknown_kinds(client_for, coordinator, kind, htmx):
    from proctordash.monitoring.forms import REFRESH_KINDS
    from proctordash.sync.models import SyncRun

    if kind in {k for k, _ in REFRESH_KINDS}:
        return
    runs = SyncRun.objects.count()
    response = client_for(coordinator).post("/health/refresh/", {"kind": kind}, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
    assert response.status_code == 200
    html = response.content.decode()
    assert SyncRun.objects.count() == runs, "a refused kind queued a run"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', html, re.S)
    assert error and error.group(1).strip(), "the refusal does not say what is wrong with the kind"
    if not htmx:  # a plain form post (no JavaScript) gets the whole page back, not a bare fragment
        assert "<html" in html


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exam=values, status=values, have=values, open_=st.lists(values, max_size=3), since=values)
def test_monitor_poll_and_filters_never_fail(client_for, coordinator, exam, status, have, open_, since):
    client = client_for(coordinator)
    response = client.post("/monitor/poll/", {"exam": exam, "status": status, "have": have, "open": open_,
                                              "since": since}, HTTP_HX_REQUEST="true")
    assert response.status_code in (200, 204)
    response = client.get("/monitor/", {"exam": exam, "status": status, "open": open_, "since": since},
                          HTTP_HX_REQUEST="true")
    assert response.status_code == 200
