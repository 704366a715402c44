"""Bulk change of exam configurations against the sandbox over HTTP: pick → preview → apply, one item failing and
retried alone, conflicts, idempotency per item, validation naming the field, roles."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from proctordash.exams import bulk as bulk_services
from proctordash.exams import services
from proctordash.exams.fields import parse_date, values_of
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


def preview(client, picked, **change):
    data = {"kind": "permit", "item": "Calculator", "information": "Casio fx-82 only", **change,
            "configuration": [p.sid for p in picked]}
    response = client.post(BULK, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return BulkChange.objects.get(pk=int(re.search(r"/exams/bulk/(\d+)/", response["Location"]).group(1)))


def test_preview_shows_before_and_after_and_sends_nothing(client_for, coordinator, clean_sandbox, sp, three):
    before = {p.sid: sp.get_configuration(**p.args()).raw for p in three}
    c = client_for(coordinator)
    bulk = preview(c, three)
    items = list(bulk.items.all())
    assert {i.configuration_sid for i in items} == {p.sid for p in three}
    html = c.get(f"{BULK}{bulk.pk}/").content.decode()
    assert "Allow calculator" in html and "preview: nothing has been sent yet" in html
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
    response = c.post(f"{BULK}{bulk.pk}/apply", {})
    assert response.status_code == 302
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
    assert "Retry this one" in html and "Apply to the 1 not done yet" in html
    # retry the failed one alone: the others are not claimed again
    clean_sandbox.set_faults()
    assert c.post(f"{BULK}{bulk.pk}/apply", {"item": failed[0].pk}).status_code == 302
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
    c.post(f"{BULK}{bulk.pk}/apply", {})
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
    c.post(f"{BULK}{bulk.pk}/apply", {})
    item = bulk.items.get(configuration_sid=target.sid)
    assert item.status == "conflict"
    assert sp.get_configuration(**target.args()).raw["examCloseDate"] == raw["examCloseDate"]  # not sent
    assert bulk.items.filter(status="saved").count() == 2
    c.post(f"{BULK}{bulk.pk}/apply", {"item": item.pk, "action": "rebase"})
    item.refresh_from_db()
    assert item.status == "pending"
    c.post(f"{BULK}{bulk.pk}/apply", {"item": item.pk})
    item.refresh_from_db()
    after = sp.get_configuration(**target.args()).raw
    assert item.status == "saved"
    assert parse_date(after["examCloseDate"]) == closes + timedelta(days=2)
    assert after["studentNotes"] == "Changed in the vendor's screen"  # the other person's change is kept


def test_claiming_is_idempotent_per_item(coordinator, clean_sandbox, sp, three):
    groups = bulk_services.bulk_candidates(user=coordinator)
    targets = bulk_services.targets_of(groups, courses=[], offerings=[], configurations=[three[0].sid])
    bulk = bulk_services.bulk_preview(user=coordinator, change={"kind": "attempts", "attempts": 7}, targets=targets,
                                      client=sp)
    item = bulk.items.get()
    # another request holds the claim: this apply must not send
    BulkChangeItem.objects.filter(pk=item.pk).update(status="sending")
    bulk_services.bulk_apply(bulk=bulk, user=coordinator, client=sp)
    item.refresh_from_db()
    assert item.status == "sending" and item.attempts == 0
    assert sp.get_configuration(**three[0].args()).raw["attempts"] != 7  # not sent
    # a claim left behind by a request that died is taken over after STALE_SENDING
    BulkChangeItem.objects.filter(pk=item.pk).update(
        updated_at=item.updated_at - bulk_services.STALE_SENDING - timedelta(seconds=1))
    bulk_services.bulk_apply(bulk=bulk, user=coordinator, client=sp)
    item.refresh_from_db()
    assert item.status == "saved" and item.attempts == 1
    assert sp.get_configuration(**three[0].args()).raw["attempts"] == 7


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
    sup = client_for(support)
    page = sup.get(BULK)
    assert page.status_code == 200 and 'data-testid="bulk-form"' not in page.content.decode()
    detail = sup.get(f"{BULK}{bulk.pk}/")
    assert detail.status_code == 200 and 'data-testid="apply-form"' not in detail.content.decode()
    assert sup.post(BULK, {"kind": "attempts", "attempts": "2", "configuration": [three[0].sid]}).status_code == 403
    assert sup.post(f"{BULK}{bulk.pk}/apply", {}).status_code == 403
    assert bulk.items.get().status == "pending"  # nothing applied by the refused POSTs
    assert 'data-testid="bulk-link"' not in client_for(instructor_a).get("/exams/").content.decode()
    assert 'data-testid="bulk-link"' in client_for(coordinator).get("/exams/").content.decode()
