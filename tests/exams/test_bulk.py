"""Bulk change of exam configurations against the sandbox over HTTP: pick → preview → apply, one item failing and
retried alone, conflicts, idempotency per item, guard rules per exam, cancel, validation naming the field, roles.

The requests only record work; `work(bulk)` does what the Celery worker does (exams.bulk.bulk_run), in-process.
tests/exams/test_bulk_worker.py runs the same through a real worker, killed mid-way."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from proctordash.exams import bulk as bulk_services
from proctordash.exams import services
from proctordash.exams.fields import parse_date, put_body, values_of
from proctordash.exams.models import BulkChange, BulkChangeItem, ConfigurationChange
from tests.exams.conftest import _pick

pytestmark = pytest.mark.django_db

BULK = "/exams/bulk/"


@pytest.fixture
def three(world, clean_sandbox, sp):
    """Three base configurations, fetched once so they are in the cache (what the pick page lists)."""
    picked = [_pick(world, skip=i) for i in range(3)]
    for p in picked:
        services.configuration_get(**p.args(), client=sp)
    return picked


def work(bulk, client=None):
    """What the worker does with the job, in-process."""
    return bulk_services.bulk_run(bulk_id=bulk.pk, client=client)


def preview(client, picked, **change):
    data = {"kind": "permit", "item": "Calculator", "information": "Casio fx-82 only", **change,
            "configuration": [p.sid for p in picked]}
    response = client.post(BULK, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    bulk = BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))
    assert set(bulk.items.values_list("status", flat=True)) == {"queued"}  # the request read nothing upstream
    work(bulk)
    return bulk


def apply(client, bulk, data=None):
    """Apply (confirming the exams that are open: most of the sandbox's are; the guard has its own test)."""
    response = client.post(f"{BULK}{bulk.pk}/apply", {"confirm": "1", **(data or {})})
    assert response.status_code == 302
    work(bulk)
    return response


def test_preview_shows_before_and_after_and_sends_nothing(client_for, coordinator, clean_sandbox, sp, three):
    before = {p.sid: sp.get_configuration(**p.args()).raw for p in three}
    c = client_for(coordinator)
    bulk = preview(c, three)
    items = list(bulk.items.all())
    assert {i.configuration_sid for i in items} == {p.sid for p in three}
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Allow calculator" in html and "Preview ready: nothing has been sent yet." in html
    assert "Calculator: information" in html and "Casio fx-82 only" in html
    assert "Apply to 3 configurations" in html or any(i.status != "pending" for i in items)
    for p in three:
        assert sp.get_configuration(**p.args()).raw == before[p.sid]  # nothing sent
    assert not ConfigurationChange.objects.filter(source="dashboard").exists()


def test_a_fault_on_one_item_is_reported_and_retried_alone(client_for, coordinator, clean_sandbox, sp, three):
    c = client_for(coordinator)
    bulk = preview(c, three)
    originals = {p.sid: sp.get_configuration(**p.args()).raw for p in three}
    # The first PUT is answered 429 with a long Retry-After (not retried within the call), the others go through.
    clean_sandbox.set_faults(configuration_update={"rate_limit": 1.0, "retry_after": 30, "times": 1})
    apply(c, bulk)
    items = {i.configuration_sid: i for i in bulk.items.all()}
    failed = [i for i in items.values() if i.status == "failed"]
    assert len(failed) == 1 and "rate limited" in failed[0].message
    assert sorted(i.status for i in items.values()) == ["failed", "saved", "saved"]
    for sid, item in items.items():
        raw = sp.get_configuration(**next(p for p in three if p.sid == sid).args()).raw
        if item.status == "saved":
            assert raw["permittedCalculator"] is True and raw["permittedCalculatorInformation"] == "Casio fx-82 only"
            # full replacement: every other editable field is as it was
            assert {k: v for k, v in values_of(raw).items() if not k.startswith("permittedCalculator")} == \
                   {k: v for k, v in values_of(originals[sid]).items() if not k.startswith("permittedCalculator")}
        else:
            assert raw == originals[sid]
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Retry this one" in html and "Apply to the 1 not done yet" in html and "Retry the 1 failed" in html
    assert "Finished: 2 changed, 1 failed." in html
    # retry the failed one alone: the others are not claimed again
    clean_sandbox.set_faults()
    apply(c, bulk, {"item": failed[0].pk})
    items = {i.configuration_sid: i for i in bulk.items.all()}
    assert all(i.status == "saved" for i in items.values())
    assert items[failed[0].configuration_sid].attempts == 2
    assert sorted(i.attempts for i in items.values()) == [1, 1, 2]
    assert sp.get_configuration(**next(p for p in three if p.sid == failed[0].configuration_sid).args()).raw[
        "permittedCalculator"] is True
    # one history record per configuration, naming the bulk change
    changes = ConfigurationChange.objects.filter(source="bulk")
    assert changes.count() == 3 and all(f"Bulk change #{bulk.pk}" in ch.reason and ch.bulk_id == bulk.pk
                                        for ch in changes)
    assert not ConfigurationChange.objects.filter(source="dashboard").exists()
    # applying again sends nothing (every item is done)
    apply(c, bulk)
    assert sorted(i.attempts for i in bulk.items.all()) == [1, 1, 2]


def test_a_configuration_changed_after_the_preview_is_a_conflict_and_can_be_rebased(client_for, coordinator,
                                                                                      clean_sandbox, sp, three):
    from proctordash.exams.fields import put_body

    c = client_for(coordinator)
    bulk = preview(c, three, kind="extend_close", days="2")
    target = three[1]
    raw = sp.get_configuration(**target.args()).raw
    closes = parse_date(raw["examCloseDate"])
    sp.update_configuration(**target.args(), body=put_body(raw | {"studentNotes": "Changed in the vendor's screen"}))
    apply(c, bulk)
    item = bulk.items.get(configuration_sid=target.sid)
    assert item.status == "conflict" and item.state == "skipped"
    assert sp.get_configuration(**target.args()).raw["examCloseDate"] == raw["examCloseDate"]  # not sent
    assert bulk.items.filter(status="saved").count() == 2
    apply(c, bulk, {"item": item.pk, "action": "rebase"})
    item.refresh_from_db()
    assert item.status == "pending"
    apply(c, bulk, {"item": item.pk})
    item.refresh_from_db()
    after = sp.get_configuration(**target.args()).raw
    assert item.status == "saved"
    assert parse_date(after["examCloseDate"]) == closes + timedelta(days=2)
    assert after["studentNotes"] == "Changed in the vendor's screen"  # the other person's change is kept


def test_claiming_is_idempotent_per_item(coordinator, clean_sandbox, sp, three):
    groups = bulk_services.bulk_candidates(user=coordinator)
    targets = bulk_services.targets_of(groups, courses=[], offerings=[], configurations=[three[0].sid])
    bulk = bulk_services.bulk_start(user=coordinator, change={"kind": "attempts", "attempts": 7}, targets=targets,
                                    enqueue=False)
    work(bulk, sp)
    item = bulk.items.get()
    assert item.status == "pending"
    bulk_services.bulk_apply_request(bulk=bulk, user=coordinator, confirm_all=True, enqueue=False)
    # another worker holds the job: this one must not send
    BulkChange.objects.filter(pk=bulk.pk).update(runner="someone-else", heartbeat_at=timezone.now())
    assert work(bulk, sp).held is False
    item.refresh_from_db()
    assert item.status == "pending" and item.wanted and item.attempts == 0
    assert sp.get_configuration(**three[0].args()).raw["attempts"] != 7  # not sent
    # and a claim on the item itself (e.g. by a worker of an older lease) is never taken while ours is pending
    BulkChange.objects.filter(pk=bulk.pk).update(runner="")
    BulkChangeItem.objects.filter(pk=item.pk).update(status="saved")
    work(bulk, sp)
    assert sp.get_configuration(**three[0].args()).raw["attempts"] != 7
    BulkChangeItem.objects.filter(pk=item.pk).update(status="pending", wanted=True)
    # a lease left by a worker that died is taken over once its heartbeat is older than BULK_JOB_STALE_AFTER
    BulkChange.objects.filter(pk=bulk.pk).update(
        runner="dead", heartbeat_at=timezone.now() - bulk_services.stale_after() - timedelta(seconds=1))
    assert work(bulk, sp).held is True
    item.refresh_from_db()
    assert item.status == "saved" and item.attempts == 1 and not item.wanted
    assert sp.get_configuration(**three[0].args()).raw["attempts"] == 7
    assert BulkChange.objects.get(pk=bulk.pk).runner == ""  # released


def test_an_item_left_sending_by_a_dead_worker_is_never_applied_twice(coordinator, clean_sandbox, sp, sandbox,
                                                                    three):
    """The two ways a worker can die around a save: after the PUT landed (upstream has it), and before it."""
    groups = bulk_services.bulk_candidates(user=coordinator)
    targets = bulk_services.targets_of(groups, courses=[], offerings=[], configurations=[p.sid for p in three[:2]])
    bulk = bulk_services.bulk_start(user=coordinator, change={"kind": "extend_close", "days": 2}, targets=targets,
                                    enqueue=False)
    work(bulk, sp)
    bulk_services.bulk_apply_request(bulk=bulk, user=coordinator, confirm_all=True, enqueue=False)
    landed, never = (bulk.items.get(configuration_sid=p.sid) for p in three[:2])
    # "landed": the dead worker's PUT reached SmarterProctoring (made here by hand with the previewed values)
    new, _ = bulk_services.change_apply(landed.base_values, bulk.change)
    raw = sp.get_configuration(**three[0].args()).raw
    sp.update_configuration(**three[0].args(), body=put_body(raw | {"examCloseDate": new["examCloseDate"]}))
    closes = {p.sid: parse_date(sp.get_configuration(**p.args()).raw["examCloseDate"]) for p in three[:2]}
    BulkChangeItem.objects.filter(pk__in=[landed.pk, never.pk]).update(status="sending", attempts=1)
    BulkChange.objects.filter(pk=bulk.pk).update(
        runner="dead", heartbeat_at=timezone.now() - bulk_services.stale_after() - timedelta(seconds=1))
    puts = sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0)
    work(bulk, sp)
    landed.refresh_from_db()
    never.refresh_from_db()
    assert landed.status == "saved" and never.status == "saved"
    assert landed.attempts == 1 and never.attempts == 1
    # one PUT only: the one that had not landed
    assert sandbox.control("GET", "health").json()["requests"].get("configuration_update", 0) == puts + 1
    assert parse_date(sp.get_configuration(**three[0].args()).raw["examCloseDate"]) == closes[three[0].sid]
    assert parse_date(sp.get_configuration(**three[1].args()).raw["examCloseDate"]) == \
        closes[three[1].sid] + timedelta(days=2)
    assert ConfigurationChange.objects.filter(bulk=bulk).count() == 2
    assert set(ConfigurationChange.objects.filter(bulk=bulk).values_list("source", flat=True)) == {"bulk"}


def test_whole_course_pick_and_errors_name_the_field(client_for, coordinator, clean_sandbox, three):
    c = client_for(coordinator)
    html = c.post(BULK, {"kind": "duration", "minutes": ""}).content.decode()
    assert "Configurations: pick at least one" in html
    assert "Duration (minutes): required" in html
    html = c.post(BULK, {"kind": "attempts", "attempts": "0", "course": [three[0].course_sid]}).content.decode()
    assert "greater than or equal to 1" in html
    assert f'name="course" value="{three[0].course_sid}" checked' in html  # what was picked stays picked
    assert BulkChange.objects.count() == 0
    # a forged configuration SID is not among the candidates: nothing to preview
    html = c.post(BULK, {"kind": "attempts", "attempts": "2", "configuration": ["EC" + "0" * 32]}).content.decode()
    assert "pick at least one" in html
    response = c.post(BULK, {"kind": "attempts", "attempts": "2", "course": [three[0].course_sid]})
    assert response.status_code == 302
    bulk = BulkChange.objects.get()
    assert three[0].sid in set(bulk.items.values_list("configuration_sid", flat=True))
    assert set(bulk.items.values_list("course_sid", flat=True)) == {three[0].course_sid}


def test_change_apply_rules():
    values = {"examCloseDate": "2031-03-01T10:00:00.000Z", "permittedCalculator": False,
              "permittedCalculatorInformation": "", "duration": 60}
    new, why = bulk_services.change_apply(values, {"kind": "extend_close", "days": 2})
    assert new["examCloseDate"] == "2031-03-03T10:00:00.000Z" and why == ""
    new, why = bulk_services.change_apply(values | {"examCloseDate": None}, {"kind": "extend_close", "days": 2})
    assert new is None and "no exam close date" in why
    new, _ = bulk_services.change_apply(values, {"kind": "permit", "item": "Calculator", "information": ""})
    assert new["permittedCalculator"] is True and new["permittedCalculatorInformation"] == ""


def test_roles(client_for, coordinator, support, instructor_a, clean_sandbox, three):
    bulk = preview(client_for(coordinator), three[:1])
    inst = client_for(instructor_a)  # (client_for logs the one test client in as this user)
    assert inst.get(BULK).status_code == 403
    assert inst.post(BULK, {"kind": "attempts", "attempts": "2"}).status_code == 403
    assert inst.get(f"{BULK}{bulk.pk}/").status_code == 403
    assert inst.post(f"{BULK}{bulk.pk}/apply", {}).status_code == 403
    assert inst.post(f"{BULK}{bulk.pk}/cancel", {}).status_code == 403
    assert inst.get(f"{BULK}{bulk.pk}/progress", HTTP_HX_REQUEST="true").status_code == 403
    sup = client_for(support)
    page = sup.get(BULK)
    assert page.status_code == 200 and 'data-testid="bulk-form"' not in page.content.decode()
    detail = sup.get(f"{BULK}{bulk.pk}/")
    assert detail.status_code == 200 and 'data-testid="apply-form"' not in detail.content.decode()
    assert sup.post(BULK, {"kind": "attempts", "attempts": "2", "configuration": [three[0].sid]}).status_code == 403
    assert sup.post(f"{BULK}{bulk.pk}/apply", {}).status_code == 403
    assert sup.post(f"{BULK}{bulk.pk}/cancel", {}).status_code == 403
    assert sup.get(f"{BULK}{bulk.pk}/progress", HTTP_HX_REQUEST="true").status_code in (200, 204)
    item = bulk.items.get()
    assert item.status == "pending" and not item.wanted  # nothing asked for by the refused POSTs
    assert 'data-testid="bulk-link"' not in client_for(instructor_a).get("/exams/").content.decode()
    assert 'data-testid="bulk-link"' in client_for(coordinator).get("/exams/").content.decode()


# --- guard rules per exam (issue 16 item 3) --------------------------------------------------------------------------
def set_window(sp, picked, *, opens, closes):
    raw = sp.get_configuration(**picked.args()).raw
    sp.update_configuration(**picked.args(), body=put_body(raw | {"examOpenDate": opens, "examCloseDate": closes}))


def test_open_soon_and_locked_exams_are_skipped_unless_confirmed_each(client_for, coordinator, world, clean_sandbox,
                                                                      sp, locked_cfg):
    from proctordash.core.timezones import to_utc_z
    from tests.exams.test_history import cache_names

    now = timezone.now()
    open_now, soon, later = (_pick(world, skip=i) for i in range(3))
    set_window(sp, open_now, opens=to_utc_z(now - timedelta(days=1)), closes=to_utc_z(now + timedelta(days=9)))
    set_window(sp, soon, opens=to_utc_z(now + timedelta(hours=3)), closes=to_utc_z(now + timedelta(days=9)))
    set_window(sp, later, opens=to_utc_z(now + timedelta(days=5)), closes=to_utc_z(now + timedelta(days=9)))
    cache_names(world, [open_now, soon, later, locked_cfg])
    for p in (open_now, soon, later, locked_cfg):
        services.configuration_get(**p.args(), client=sp)
    c = client_for(coordinator)
    response = c.post(BULK, {"kind": "attempts", "attempts": "5",
                             "configuration": [p.sid for p in (open_now, soon, later, locked_cfg)]})
    bulk = BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))
    work(bulk)
    item = {i.configuration_sid: i for i in bulk.items.all()}
    assert [item[p.sid].guard for p in (open_now, soon, later, locked_cfg)] == ["open", "soon", "", "locked"]
    assert item[locked_cfg.sid].status == "locked" and item[locked_cfg.sid].state == "skipped"
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Open now" in html and "Opens within 24 h" in html  # shown per exam
    assert f'name="confirm_item" value="{item[open_now.sid].pk}" form="apply-form"' in html
    assert f'name="confirm_item" value="{item[soon.sid].pk}" form="apply-form"' in html
    assert f'name="confirm_item" value="{item[later.sid].pk}"' not in html
    assert "Also apply to the 2 exams marked" in html
    # apply without confirming anything: only the exam that is neither open nor near opening is sent
    c.post(f"{BULK}{bulk.pk}/apply", {})
    work(bulk)
    for i in item.values():
        i.refresh_from_db()
    assert item[later.sid].status == "saved"
    assert item[open_now.sid].status == "confirm" and item[soon.sid].status == "confirm"
    assert "Not sent: applying needs your confirmation" in item[open_now.sid].message
    assert sp.get_configuration(**open_now.args()).raw["attempts"] != 5
    assert sp.get_configuration(**soon.args()).raw["attempts"] != 5
    assert sp.get_configuration(**later.args()).raw["attempts"] == 5
    # confirm one exam (its own checkbox): only that one goes
    c.post(f"{BULK}{bulk.pk}/apply", {"confirm_item": [str(item[soon.sid].pk)]})
    work(bulk)
    for i in item.values():
        i.refresh_from_db()
    assert item[soon.sid].status == "saved" and item[soon.sid].confirmed
    assert item[open_now.sid].status == "confirm"
    assert sp.get_configuration(**soon.args()).raw["attempts"] == 5
    assert sp.get_configuration(**open_now.args()).raw["attempts"] != 5
    assert sp.get_configuration(**locked_cfg.args()).raw["attempts"] != 5
    changes = ConfigurationChange.objects.filter(bulk=bulk)
    assert set(changes.values_list("configuration_sid", flat=True)) == {later.sid, soon.sid}


def test_guard_rule_edges():
    now = timezone.now()
    z = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    g = bulk_services.exam_guard
    assert g({"examOpenDate": z(now - timedelta(days=1)), "examCloseDate": z(now + timedelta(days=1))}, now=now) == "open"
    assert g({"examOpenDate": z(now - timedelta(days=1)), "examCloseDate": None}, now=now) == "open"
    assert g({"examOpenDate": z(now - timedelta(days=3)), "examCloseDate": z(now - timedelta(days=1))}, now=now) == ""
    assert g({"examOpenDate": z(now + timedelta(hours=23)), "examCloseDate": None}, now=now) == "soon"
    assert g({"examOpenDate": z(now + timedelta(hours=25)), "examCloseDate": None}, now=now) == ""
    assert g({"examOpenDate": None, "examCloseDate": None}, now=now) == ""
    assert g({}, locked=True, now=now) == "locked"
    # the change itself can re-open a closed exam (extend its close date past now)
    closed = {"examOpenDate": z(now - timedelta(days=9)), "examCloseDate": z(now - timedelta(hours=1))}
    assert g(closed, new_values=closed | {"examCloseDate": z(now + timedelta(days=1))}, now=now) == "open"


# --- cancel, retry, progress -----------------------------------------------------------------------------------------
def test_cancel_before_and_during_the_job_sends_nothing_more(client_for, coordinator, clean_sandbox, sp, three):
    c = client_for(coordinator)
    # before any worker took the job: the cancel is carried out at once
    response = c.post(BULK, {"kind": "attempts", "attempts": "6", "configuration": [p.sid for p in three]})
    queued = BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))
    assert c.post(f"{BULK}{queued.pk}/cancel").status_code == 302
    assert set(queued.items.values_list("status", flat=True)) == {"cancelled"}
    assert work(queued).previewed == 0
    assert "Cancelled" in c.get(f"{BULK}{queued.pk}/").content.decode()
    # during the apply: a worker holds the job; the cancel is a request it sees before its next item
    bulk = preview(c, three, kind="attempts", attempts="6")
    c.post(f"{BULK}{bulk.pk}/apply", {"confirm": "1"})
    BulkChange.objects.filter(pk=bulk.pk).update(runner="busy", heartbeat_at=timezone.now())
    c.post(f"{BULK}{bulk.pk}/cancel")
    assert BulkChange.objects.get(pk=bulk.pk).cancel_requested_at is not None
    assert set(bulk.items.values_list("status", flat=True)) == {"pending"}  # not touched by the request
    BulkChange.objects.filter(pk=bulk.pk).update(runner="")
    result = work(bulk, sp)
    assert result.cancelled and result.applied == 0
    assert set(bulk.items.values_list("status", "wanted")) == {("cancelled", False)}
    for p in three:
        assert sp.get_configuration(**p.args()).raw["attempts"] != 6
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Apply to the 3 not done yet" in html and "nothing else was sent" in html
    # the cancelled ones can still be applied later
    apply(c, bulk)
    assert set(bulk.items.values_list("status", flat=True)) == {"saved"}


def test_failed_previews_and_saves_are_retried_with_one_button(client_for, coordinator, world, clean_sandbox, sp):
    picked = [_pick(world, skip=i) for i in range(2)]
    from proctordash.exams.models import CachedConfiguration

    for p in picked:
        services.configuration_get(**p.args(), client=sp)
    CachedConfiguration.objects.filter(sid=picked[1].sid).delete()  # no fallback copy: its preview cannot be made
    from proctordash.appointments.models import Appointment

    Appointment.objects.create(sid="ES" + "7" * 32, exam_sid=picked[1].exam_sid, course_sid=picked[1].course_sid,
                               configuration_sid=picked[1].sid, content_hash="x", last_seen_at=timezone.now())
    c = client_for(coordinator)
    response = c.post(BULK, {"kind": "duration", "minutes": "95", "configuration": [p.sid for p in picked]})
    bulk = BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))
    clean_sandbox.set_faults(configuration={"error_rate": 1.0, "error_statuses": [503]})
    work(bulk)
    first, second = (bulk.items.get(configuration_sid=p.sid) for p in picked)
    assert first.status == "pending" and not first.preview_live  # previewed from the cached copy, and says so
    assert second.status == "failed" and "server error" in second.message and second.base_hash == ""
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Previewed from the cached copy." in html and "Retry the 1 failed" in html
    clean_sandbox.set_faults()
    c.post(f"{BULK}{bulk.pk}/apply", {"action": "retry_failed"})
    work(bulk)
    second.refresh_from_db()
    assert second.status == "pending" and second.base_hash  # previewed now; waits for the user's Apply
    apply(c, bulk)
    assert set(bulk.items.values_list("status", flat=True)) == {"saved"}
    for p in picked:
        assert sp.get_configuration(**p.args()).raw["duration"] == 95


def test_progress_poll_sends_only_what_changed(client_for, coordinator, world, clean_sandbox, sp, three):
    from tests.exams.test_history import cache_names

    cache_names(world, three)
    c = client_for(coordinator)
    response = c.post(BULK, {"kind": "attempts", "attempts": "3", "configuration": [p.sid for p in three]})
    bulk = BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))
    page = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Previewing: 0 of 3 configurations read. Nothing is sent yet." in page
    assert 'id="bulk-poller"' in page and "Refresh progress" in page
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in page  # JavaScript off: refreshes itself
    version = re.search(r'progress\?v=([^&"]+)&amp;since=([0-9.]*)', page)
    url = f"{BULK}{bulk.pk}/progress?v={version.group(1)}&since={version.group(2)}"
    assert c.get(url, HTTP_HX_REQUEST="true").status_code == 204  # nothing changed
    # one item previewed by the worker: the poll brings the status and that row only
    item = bulk.items.order_by("pk").first()
    bulk_services._preview_item(item, bulk, client=sp)
    fragment = c.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'id="bulk-status"' in fragment and "Previewing: 1 of 3" in fragment
    assert fragment.count('<tr id="item-') == 1 and f'<tr id="item-{item.pk}"' in fragment
    assert 'hx-swap-oob="true"' in fragment and 'id="bulk-poller"' in fragment
    # finished: the whole job region, with the buttons and no poller
    work(bulk, sp)
    fragment = c.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="bulk-job" hx-swap-oob="true">')
    assert "Preview ready: nothing has been sent yet." in fragment and 'id="bulk-poller"' not in fragment
    assert "Apply to 3 configurations" in fragment
    # the rows name exam and course in words
    for p in three:
        assert world.exams[p.exam_sid]["title"].replace("&", "&amp;")[:20] in fragment
    # without htmx the poll URL is the page
    assert c.get(url.replace("v=", "v=x")).status_code == 302


def test_the_page_lists_exactly_the_exams_that_changed(client_for, coordinator, world, clean_sandbox, sp, three):
    from proctordash.exams.fields import put_body as body_of
    from tests.exams.test_history import cache_names

    cache_names(world, three)
    c = client_for(coordinator)
    bulk = preview(c, three, kind="attempts", attempts="4")
    raw = sp.get_configuration(**three[2].args()).raw
    sp.update_configuration(**three[2].args(), body=body_of(raw | {"studentNotes": "changed meanwhile"}))
    apply(c, bulk)
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    listed = re.search(r'data-testid="changed-list".*?</details>', html, re.S).group(0)
    for p in three[:2]:
        assert f"configurations/{p.sid}/" in listed
    assert f"configurations/{three[2].sid}/" not in listed  # the conflict did not change
    assert "Finished: 2 changed, 1 skipped." in html
    only_changed = c.get(f"{BULK}{bulk.pk}/?show=changed").content.decode()
    assert only_changed.count('<tr id="item-') == 2
    assert c.get(f"{BULK}{bulk.pk}/?show=skipped").content.decode().count('<tr id="item-') == 1


def test_candidates_leave_out_per_student_configurations_and_tell_courses_apart(coordinator):
    from proctordash.appointments.models import Appointment, Course, Exam

    def sid(prefix, n):
        return f"{prefix}{n:032x}"

    now = timezone.now()
    Course.objects.create(sid=sid("CU", 1), title="Statistics", code="STAT 101")
    Course.objects.create(sid=sid("CU", 2), title="Statistics", code="STAT 201")
    Exam.objects.create(sid=sid("EX", 1), course_sid=sid("CU", 1), title="Final")
    Exam.objects.create(sid=sid("EX", 2), course_sid=sid("CU", 2), title="Final")
    rows = [  # (exam, course, enrollment, configuration)
        (1, 1, 1, 10), (1, 1, 2, 10), (1, 1, 3, 11),  # EC10 shared (base), EC11 one learner's (per-student)
        (2, 2, 4, 20),  # an exam with one learner: its one configuration is offered
    ]
    for i, (exam, course, enrollment, config) in enumerate(rows):
        Appointment.objects.create(sid=sid("ES", i + 1), exam_sid=sid("EX", exam), course_sid=sid("CU", course),
                                   enrollment_sid=sid("EN", enrollment), configuration_sid=sid("EC", config),
                                   content_hash="x", last_seen_at=now)
    groups = bulk_services.bulk_candidates(user=coordinator)
    offered = {c.sid for g in groups for c in g.candidates}
    assert offered == {sid("EC", 10), sid("EC", 20)}
    assert [g.title for g in groups] == ["Statistics (STAT 101)", "Statistics (STAT 201)"]
    assert all(c.label == "Final" for g in groups for c in g.candidates)
