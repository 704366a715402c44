"""The change history: filters (source, user, exam, course, date) over changes made through the form, a bulk change,
exam creation and outside ProctorDash (drift), all made for real against the sandbox; rows name exam and course."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from proctordash.core.timezones import dashboard_zone
from proctordash.exams import bulk as bulk_services
from proctordash.exams import services
from proctordash.exams.fields import put_body, values_of
from proctordash.exams.models import ConfigurationChange
from tests.exams.conftest import _pick

pytestmark = pytest.mark.django_db

HISTORY = "/exams/history/"


def cache_names(world, picked):
    """The exam and course rows the appointment sync would have written for these configurations."""
    from proctordash.appointments.models import Course, Exam

    for p in picked:
        exam = world.exams[p.exam_sid]
        course = world.courses[p.course_sid]
        Exam.objects.update_or_create(sid=p.exam_sid, defaults={"course_sid": p.course_sid, "title": exam["title"]})
        Course.objects.update_or_create(sid=p.course_sid, defaults={"title": course["title"],
                                                                    "code": course.get("code") or ""})


@pytest.fixture
def every_path(world, clean_sandbox, sp, coordinator, instructor_of):
    """One change of each kind, made the way users make them: a form save by an instructor, a bulk change by the
    coordinator, and a change in the vendor's own screens noticed on the next read."""
    form_cfg, bulk_cfg, outside_cfg = (_pick(world, skip=i) for i in range(3))
    cache_names(world, [form_cfg, bulk_cfg, outside_cfg])
    for p in (form_cfg, bulk_cfg, outside_cfg):
        services.configuration_get(**p.args(), client=sp)  # in the cache: the reference for drift
    # 1. the configuration form (an instructor of that course)
    ian = instructor_of(form_cfg.course_sid, "ivan")
    loaded = services.configuration_get(**form_cfg.args(), client=sp)
    new = dict(loaded.values, attempts=(loaded.values.get("attempts") or 1) + 1)
    outcome = services.configuration_update(user=ian, **form_cfg.args(), base_hash=services.F_.values_hash(
        loaded.values), base_values=loaded.values, new_values=new, reason="Form save", client=sp)
    assert outcome.kind == "saved"
    # 2. a bulk change (coordinator)
    groups = bulk_services.bulk_candidates(user=coordinator)
    targets = bulk_services.targets_of(groups, courses=[], offerings=[], configurations=[bulk_cfg.sid])
    bulk = bulk_services.bulk_start(user=coordinator, change={"kind": "duration", "minutes": 77}, targets=targets,
                                    reason="Bulk save", enqueue=False)
    bulk_services.bulk_run(bulk_id=bulk.pk, client=sp)  # the worker's preview
    bulk_services.bulk_apply_request(bulk=bulk, user=coordinator, confirm_all=True, enqueue=False)
    bulk_services.bulk_run(bulk_id=bulk.pk, client=sp)  # the worker's saves
    assert bulk.items.get().status == "saved"
    # 3. outside ProctorDash: the vendor's screen, noticed when the configuration is read again
    raw = sp.get_configuration(**outside_cfg.args()).raw
    sp.update_configuration(**outside_cfg.args(), body=put_body(raw | {"studentNotes": "Changed by the vendor"}))
    assert services.configuration_get(**outside_cfg.args(), client=sp).drift is not None
    return {"form": form_cfg, "bulk": bulk_cfg, "outside": outside_cfg, "ian": ian, "bulk_change": bulk}


def sids_in(html: str, picked) -> set[str]:
    """Which of the three changes' configurations the page links to."""
    return {name for name in ("form", "bulk", "outside") if f"configurations/{picked[name].sid}/" in html}


def test_each_source_filter_shows_exactly_its_changes(client_for, coordinator, every_path):
    c = client_for(coordinator)
    assert sids_in(c.get(HISTORY).content.decode(), every_path) == {"form", "bulk", "outside"}
    assert sids_in(c.get(HISTORY + "?source=dashboard").content.decode(), every_path) == {"form"}
    html = c.get(HISTORY + "?source=bulk").content.decode()
    assert sids_in(html, every_path) == {"bulk"}
    assert "Bulk change" in html and f"/exams/bulk/{every_path['bulk_change'].pk}/" in html
    assert ConfigurationChange.objects.get(source="bulk").bulk_id == every_path["bulk_change"].pk
    html = c.get(HISTORY + "?source=outside").content.decode()
    assert sids_in(html, every_path) == {"outside"} and "Changed by the vendor" in html


def test_user_exam_course_and_date_filters(client_for, coordinator, every_path):
    c = client_for(coordinator)
    assert sids_in(c.get(HISTORY + "?user=ivan").content.decode(), every_path) == {"form"}
    assert sids_in(c.get(HISTORY + "?user=cora").content.decode(), every_path) == {"bulk"}
    outside = every_path["outside"]
    assert sids_in(c.get(HISTORY + f"?exam={outside.exam_sid}").content.decode(), every_path) == {"outside"}
    bulk = every_path["bulk"]
    html = c.get(HISTORY + f"?course={bulk.course_sid}&source=bulk").content.decode()
    assert sids_in(html, every_path) == {"bulk"}
    today = timezone.now().astimezone(dashboard_zone()).date()
    assert sids_in(c.get(HISTORY + f"?since={today}&until={today}").content.decode(), every_path) == \
        {"form", "bulk", "outside"}
    tomorrow = today + timedelta(days=1)
    assert sids_in(c.get(HISTORY + f"?since={tomorrow}").content.decode(), every_path) == set()
    assert sids_in(c.get(HISTORY + f"?until={today - timedelta(days=1)}").content.decode(), every_path) == set()
    # a change is on the day it was made in the dashboard's zone: moving it to just before local midnight today
    # keeps it in "today", one second earlier is yesterday
    from datetime import datetime, time

    midnight = datetime.combine(today, time.min, tzinfo=dashboard_zone())
    ConfigurationChange.objects.filter(source="outside").update(created_at=midnight)
    assert "outside" in sids_in(c.get(HISTORY + f"?since={today}").content.decode(), every_path)
    ConfigurationChange.objects.filter(source="outside").update(created_at=midnight - timedelta(seconds=1))
    assert "outside" not in sids_in(c.get(HISTORY + f"?since={today}").content.decode(), every_path)
    assert "outside" in sids_in(c.get(HISTORY + f"?until={today - timedelta(days=1)}").content.decode(),
                                every_path)


def test_rows_name_exam_and_course_in_words(client_for, coordinator, world, every_path):
    from proctordash.exams.names import course_names

    html = client_for(coordinator).get(HISTORY).content.decode()
    for name in ("form", "bulk", "outside"):
        p = every_path[name]
        label = course_names([p.course_sid])[p.course_sid].label
        from django.utils.html import escape

        assert escape(world.exams[p.exam_sid]["title"]) in html
        assert escape(label) in html
        assert f'title="Exam {p.exam_sid} · configuration {p.sid}"' in html  # the full SIDs stay available


def test_filter_choices_are_names_and_bad_values_name_the_field(client_for, coordinator, every_path):
    c = client_for(coordinator)
    html = c.get(HISTORY).content.decode()
    assert '<option value="ivan">ivan</option>' in html
    assert f'<option value="{every_path["form"].exam_sid}">' in html and "<optgroup" in html
    for query, message in [("?source=nonsense", "Source: choose one of the listed sources."),
                           ("?course=CU123", "Course: not a course of this dashboard"),
                           ("?exam=%3Cscript%3E", "Exam: not an exam of this dashboard"),
                           ("?since=2026-13-45", "From: enter a date as YYYY-MM-DD."),
                           ("?since=2026-05-02&until=2026-05-01", "To: must be on or after From.")]:
        response = c.get(HISTORY + query)
        text = response.content.decode()
        assert response.status_code == 200 and message in text, query
        assert "No changes shown: correct the filters." in text
        assert sids_in(text, every_path) == set()
    # an unknown user is kept in its select (the user sees what was asked) and simply matches nothing
    html = c.get(HISTORY + "?user=nobody").content.decode()
    assert '<option value="nobody" selected>nobody (no changes recorded)</option>' in html
    assert sids_in(html, every_path) == set()


def test_fragment_and_paging_keep_the_filters(client_for, coordinator, every_path):
    c = client_for(coordinator)
    template = ConfigurationChange.objects.get(source="bulk")
    ConfigurationChange.objects.bulk_create([ConfigurationChange(
        configuration_sid=template.configuration_sid, exam_sid=template.exam_sid, course_sid=template.course_sid,
        user=template.user, source="bulk", bulk=template.bulk, diff=template.diff, reason=f"copy {i}")
        for i in range(60)])
    fragment = c.get(HISTORY + "?source=bulk", HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="history-table"') and "<form" not in fragment
    assert "page 1 of 2" in fragment and "?source=bulk&amp;page=2" in fragment


def test_history_costs_a_constant_number_of_queries(client_for, coordinator, every_path):
    c = client_for(coordinator)
    c.get(HISTORY)
    with CaptureQueriesContext(connection) as few:
        c.get(HISTORY)
    template = ConfigurationChange.objects.get(source="dashboard")
    ConfigurationChange.objects.bulk_create([ConfigurationChange(
        configuration_sid=template.configuration_sid, exam_sid=template.exam_sid, course_sid=template.course_sid,
        user=template.user, source="dashboard", diff=template.diff) for _ in range(80)])
    with CaptureQueriesContext(connection) as many:
        c.get(HISTORY)
    assert len(many) == len(few) <= 13, [q["sql"][:120] for q in many.captured_queries]


def test_migration_moves_old_bulk_rows_to_the_bulk_source(coordinator):
    """Before 0003 a bulk change was recorded as source "dashboard" with a reason "Bulk change #<id>: …"."""
    import importlib

    from django.apps import apps

    from proctordash.exams.models import BulkChange

    migration = importlib.import_module("proctordash.exams.migrations.0003_history_links")
    bulk = BulkChange.objects.create(user=coordinator, change={"kind": "attempts", "attempts": 2}, description="x")
    sids = {"configuration_sid": "EC" + "1" * 32, "exam_sid": "EX" + "1" * 32, "course_sid": "CU" + "1" * 32}
    old = ConfigurationChange.objects.create(**sids, source="dashboard", reason=f"Bulk change #{bulk.pk}: x — snow")
    gone = ConfigurationChange.objects.create(**sids, source="dashboard", reason="Bulk change #999999: x")
    form = ConfigurationChange.objects.create(**sids, source="dashboard", reason="Bulk change of plans, by hand")
    migration.bulk_rows_to_bulk_source(apps, None)
    assert ConfigurationChange.objects.get(pk=old.pk).source == "bulk"
    assert ConfigurationChange.objects.get(pk=old.pk).bulk_id == bulk.pk
    assert ConfigurationChange.objects.get(pk=gone.pk).source == "bulk"
    assert ConfigurationChange.objects.get(pk=gone.pk).bulk_id is None
    assert ConfigurationChange.objects.get(pk=form.pk).source == "dashboard"
