"""Exam-password digests are keyed (HMAC-SHA256 under SECRET_KEY, "hmac256:"), so a database dump alone does not give
the passwords back; an unkeyed "sha256:" digest from before, DIGEST_REMOVED (what migration 0007 left in its place) and
a digest under a key this server no longer has are still digests — never sent, never in a field — and each place
that cannot compare one takes its safe side: drift reports nothing false, a save or a bulk job never overwrites a
password the user did not change, a background save never claims what it cannot know."""

from __future__ import annotations

import hashlib

import pytest
from django.core import signing
from django.test import override_settings

from proctordash.exams import bulk as bulk_services
from proctordash.exams import fields as F_
from proctordash.exams import services
from proctordash.exams.forms import ConfigurationBundle, password_alt
from proctordash.exams.models import BulkChangeItem, CachedConfiguration, ConfigurationChange, ConfigurationSave
from tests.exams.conftest import form_data
from tests.exams.test_change_property import render, submit

HASH_REMOVED = "removed:unkeyed-password-digest"  # what migration 0007 left in place of a hash over a legacy digest


def legacy(password: str) -> str:
    """The unkeyed digest ProctorDash stored before (computed here, not by the code under test)."""
    return "sha256:" + hashlib.sha256(("proctordash-config-password:" + password).encode()).hexdigest()[:24]


# --- the digest ------------------------------------------------------------------------------------------------------
def test_the_digest_is_keyed_by_secret_key():
    with override_settings(SECRET_KEY="first-key-" + "x" * 40):
        first = F_.password_digest("a1b2c3")
        assert F_.password_digest("a1b2c3") == first  # the same password, the same key: the same digest
        assert F_.password_digest("a1b2c4") != first
        values_hash = F_.values_hash(F_.values_of({"password": "a1b2c3"}))
    with override_settings(SECRET_KEY="second-key-" + "y" * 40):
        second = F_.password_digest("a1b2c3")
        assert F_.values_hash(F_.values_of({"password": "a1b2c3"})) != values_hash
    assert second != first
    for digest in (first, second):
        assert digest.startswith("hmac256:") and F_.is_password_digest(digest)
        assert "a1b2c3" not in digest and digest != legacy("a1b2c3")
        assert legacy("a1b2c3")[len("sha256:"):] not in digest
    assert F_.password_digest("") == "" and F_.password_digest(None) == ""
    assert F_.password_digest(first) == first  # a digest stays itself (a cached copy is not digested again)


def test_a_clear_password_compares_exactly_with_every_digest_whose_key_is_known():
    old_key, new_key = "old-key-" + "o" * 40, "new-key-" + "n" * 40
    with override_settings(SECRET_KEY=old_key):
        under_old = F_.password_digest("123abc")
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[old_key]):
        assert F_.password_match("123abc", legacy("123abc")) is True
        assert F_.password_match(legacy("123abc"), "123abd") is False
        assert F_.password_match("123abc", F_.password_digest("123abc")) is True
        assert F_.password_match("123abd", F_.password_digest("123abc")) is False
        assert F_.password_match("123abc", under_old) is True  # the rotated key is a fallback: still exact
        assert F_.password_match("123abd", under_old) is False
        assert F_.password_match(F_.password_digest("123abc"), F_.password_digest("123abd")) is False
        assert F_.password_match(legacy("123abc"), legacy("123abd")) is False
    with override_settings(SECRET_KEY=new_key, SECRET_KEY_FALLBACKS=[]):
        assert F_.password_match("123abc", under_old) is None  # a key this server no longer has: cannot tell
        assert F_.password_match(F_.password_digest("123abc"), under_old) is None
        assert F_.password_match(F_.password_digest("123abc"), legacy("123abc")) is None
        for other in ("123abc", F_.password_digest("123abc"), legacy("123abc")):
            assert F_.password_match(F_.DIGEST_REMOVED, other) is None
        assert F_.password_match(F_.DIGEST_REMOVED, F_.DIGEST_REMOVED) is True  # a copy of the same stored value
        assert F_.password_match(F_.DIGEST_REMOVED, "") is False  # it stands for a password that was set
        assert F_.password_match(None, "") is True


def test_same_takes_the_side_its_caller_names_when_it_cannot_tell():
    assert F_.same("password", F_.DIGEST_REMOVED, "123abc") is False
    assert F_.same("password", F_.DIGEST_REMOVED, "123abc", unknown=True) is True
    assert F_.same("password", legacy("123abc"), "123abc", unknown=False) is True  # exact: no unknown here
    assert F_.same("password", legacy("123abc"), "999999", unknown=True) is False
    assert F_.changes_between({"password": F_.DIGEST_REMOVED}, {"password": "123abc"}) == {"password": "123abc"}
    assert F_.changes_between({"password": F_.DIGEST_REMOVED}, {"password": "123abc"}, unknown=True) == {}
    assert F_.diff_rows({"password": F_.DIGEST_REMOVED}, {"password": "x"}, keys=["password"], unknown=True) == []


@pytest.mark.parametrize("stored", [lambda: legacy("123abc"), lambda: F_.DIGEST_REMOVED,
                                    lambda: F_.password_digest("123abc")])
def test_a_digest_of_any_generation_is_never_sent_nor_put_in_a_field(stored):
    stored = stored()
    assert F_.is_password_digest(stored)
    initial, _slots, _attachments = ConfigurationBundle.initial_from({"password": stored, "duration": 60})
    assert initial["password"] == ""
    upstream = {"password": "live-pw", "duration": 60}
    body = F_.put_body(upstream, {"password": stored, "duration": 90})
    assert body["password"] == "live-pw" and body["duration"] == 90  # the upstream's password travels
    values = F_.values_of({})
    assert "password" not in F_.create_configuration_body(values | {"password": stored}, api_exam_id="x")
    assert "password" not in F_.create_configuration_body(values | {"password": ""}, api_exam_id="x")
    assert F_.create_configuration_body(values | {"password": "typed"}, api_exam_id="x")["password"] == "typed"


# --- the form --------------------------------------------------------------------------------------------------------
def _bundle(raw: dict, password: str, *, stored: str | None = None, password_shown=True,
            alt="") -> ConfigurationBundle:
    """The form rendered for `raw` and submitted with `password` in the password box, against a base whose password
    is `stored` (the digest the page's version token carries; today's digest when None)."""
    html = render(ConfigurationBundle(raw=raw, password_shown=password_shown))
    data = submit(html, crlf=False, edits={"password": password})
    base = F_.values_of(raw) | ({} if stored is None else {"password": stored})
    return ConfigurationBundle(data, base=base, password_shown=password_shown, password_alt=alt)


def test_the_form_compares_a_base_digest_from_before_exactly_and_never_drops_a_typed_password():
    upstream = {"password": "123abc", "duration": 60, "attempts": 1}
    # a page opened before the upgrade: its base holds the legacy digest; the box shows the password
    bundle = _bundle(upstream, "123abc", stored=legacy("123abc"))
    assert bundle.is_valid(), bundle.all_error_messages()
    assert "password" in bundle.form.unchanged and bundle.values()["password"] == legacy("123abc")
    bundle = _bundle(upstream, "new-pw-1", stored=legacy("123abc"))
    assert bundle.is_valid() and bundle.values()["password"] == "new-pw-1"
    # a base that cannot be compared: the typed text is the user's change, kept (the save checks for a conflict)
    cached = upstream | {"password": F_.DIGEST_REMOVED}
    bundle = _bundle(cached, "123abc", password_shown=False)
    assert bundle.is_valid() and bundle.values()["password"] == "123abc"
    bundle = _bundle(cached, "", password_shown=False)
    assert bundle.is_valid() and "password" in bundle.form.unchanged  # empty box on a saved copy: keep it
    assert bundle.values()["password"] == F_.DIGEST_REMOVED
    changes = F_.changes_between(bundle.form.base, bundle.values())
    assert F_.put_body({"password": "live"}, changes)["password"] == "live"


def test_the_form_matches_the_password_as_a_box_sends_it():
    upstream = {"password": "12\n3abc", "duration": 60}
    bundle = _bundle(upstream, "123abc", alt=password_alt("12\n3abc"))
    assert bundle.is_valid() and "password" in bundle.form.unchanged
    bundle = _bundle(upstream, "123abc", alt=legacy("123abc"))  # a page opened before the upgrade
    assert bundle.is_valid() and "password" in bundle.form.unchanged
    bundle = _bundle(upstream, "123abd", alt=password_alt("12\n3abc"))
    assert bundle.is_valid() and "password" not in bundle.form.unchanged


@pytest.mark.parametrize("typed", ["hmac256:whatever", "sha256:0123456789abcdef01234567"])
def test_a_typed_password_that_looks_like_a_digest_is_refused_by_name(typed):
    """Else it would be read as a stored digest and silently not sent."""
    bundle = _bundle({"password": "123abc", "duration": 60}, typed)
    assert not bundle.is_valid()
    messages = dict(bundle.all_error_messages())
    assert "cannot begin with" in messages["Exam password"]


# --- drift, saves and bulk jobs against the sandbox ------------------------------------------------------------------

def cache_as(picked, password_value: str, *, values_hash: str = HASH_REMOVED) -> None:
    """Put the cached copy's password (and hash) as an older ProctorDash or migration 0007 left it."""
    row = CachedConfiguration.objects.get(sid=picked.sid)
    row.raw = row.raw | {"password": password_value}
    row.values_hash = values_hash
    row.save()


@pytest.mark.django_db
def test_drift_reads_a_removed_digest_as_no_change_and_stores_a_comparable_one(clean_sandbox, sp, cfg):
    services.configuration_get(**cfg.args(), client=sp)
    cache_as(cfg, F_.DIGEST_REMOVED)
    loaded = services.configuration_get(**cfg.args(), client=sp)
    assert loaded.drift is None and not ConfigurationChange.objects.filter(source="outside").exists()
    stored = CachedConfiguration.objects.get(sid=cfg.sid)
    live = sp.get_configuration(**cfg.args()).raw["password"]
    assert F_.password_match(live, stored.raw["password"]) is True
    assert stored.raw["password"].startswith("hmac256:") and stored.values_hash == F_.values_hash(loaded.values)
    # and the next read finds nothing, the one after a real change does
    assert services.configuration_get(**cfg.args(), client=sp).drift is None
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=F_.put_body(raw | {"password": "changed-by-vendor"}))
    drift = services.configuration_get(**cfg.args(), client=sp).drift
    assert drift is not None and [row["key"] for row in drift.diff] == ["password"]


@pytest.mark.django_db
def test_drift_compares_a_legacy_digest_exactly_with_the_live_password(clean_sandbox, sp, cfg):
    services.configuration_get(**cfg.args(), client=sp)
    live = sp.get_configuration(**cfg.args()).raw["password"]
    cache_as(cfg, legacy(live), values_hash="x")
    assert services.configuration_get(**cfg.args(), client=sp).drift is None
    cache_as(cfg, legacy(live + "-before"), values_hash="x")
    drift = services.configuration_get(**cfg.args(), client=sp).drift
    assert drift is not None and [row["key"] for row in drift.diff] == ["password"]
    assert "••••••" in drift.diff[0]["new"] and live not in str(drift.diff)


def _legacy_base(loaded) -> dict:
    """The values a page opened before the upgrade carried: the legacy digest of the then live password."""
    return loaded.values | {"password": legacy(loaded.raw["password"])}


@pytest.mark.django_db
def test_a_save_from_a_page_opened_before_the_upgrade(clean_sandbox, sp, cfg, coordinator):
    loaded = services.configuration_get(**cfg.args(), client=sp)
    live = loaded.raw["password"]
    base = _legacy_base(loaded)
    old_hash = hashlib.sha256(b"a hash over the legacy digest").hexdigest()
    # the password untouched, the duration changed: saved, no false conflict, the password unchanged upstream
    outcome = services.configuration_update(user=coordinator, **cfg.args(), base_hash=old_hash, base_values=base,
                                            new_values=base | {"duration": 95}, confirmed=True, client=sp)
    assert outcome.kind == "saved", outcome.message
    after = sp.get_configuration(**cfg.args()).raw
    assert after["duration"] == 95 and after["password"] == live
    # a new password typed on such a page: the legacy base compares exactly with the live one, so no conflict
    loaded = services.configuration_get(**cfg.args(), client=sp)
    base = _legacy_base(loaded)
    outcome = services.configuration_update(user=coordinator, **cfg.args(), base_hash=old_hash, base_values=base,
                                            new_values=base | {"password": "typed-new-1"}, confirmed=True, client=sp)
    assert outcome.kind == "saved", outcome.message
    assert sp.get_configuration(**cfg.args()).raw["password"] == "typed-new-1"


@pytest.mark.django_db
def test_a_base_that_cannot_be_compared_never_overwrites_a_password(clean_sandbox, sp, cfg, coordinator):
    loaded = services.configuration_get(**cfg.args(), client=sp)
    base = loaded.values | {"password": F_.DIGEST_REMOVED}
    # a colleague changes the password after the base was taken
    sp.update_configuration(**cfg.args(), body=F_.put_body(loaded.raw | {"password": "colleague-pw"}))
    # the user changes the duration only: saved, and the colleague's password stays
    outcome = services.configuration_update(user=coordinator, **cfg.args(), base_hash=HASH_REMOVED, base_values=base,
                                            new_values=base | {"duration": 97}, confirmed=True, client=sp)
    assert outcome.kind == "saved", outcome.message
    after = sp.get_configuration(**cfg.args()).raw
    assert after["duration"] == 97 and after["password"] == "colleague-pw"
    # the user types a password: whether someone changed it meanwhile cannot be told, so nothing is sent
    outcome = services.configuration_update(user=coordinator, **cfg.args(), base_hash=HASH_REMOVED,
                                            base_values=base | {"duration": 97},
                                            new_values=base | {"duration": 97, "password": "mine-pw"}, confirmed=True,
                                            client=sp)
    assert outcome.kind == "conflict"
    assert [row.key for row in outcome.comparison if row.upstream_changed] == ["password"]
    assert sp.get_configuration(**cfg.args()).raw["password"] == "colleague-pw"


@pytest.mark.django_db
def test_a_legacy_snapshot_in_an_open_page_saves_through_the_form(clean_sandbox, sp, cfg, client_for, coordinator):
    """The page itself: a version token signed before the upgrade (legacy digest inside) still saves."""
    from proctordash.exams.views import SNAPSHOT_SALT

    client = client_for(coordinator)
    data = form_data(client.get(cfg.url).content.decode())
    loaded = services.configuration_get(**cfg.args(), client=sp)
    values = _legacy_base(loaded)
    data["base"] = signing.dumps({"s": cfg.sid, "v": values, "h": "0" * 64, "p": True}, salt=SNAPSHOT_SALT,
                                 compress=True)
    data["attempts"] = str((loaded.values.get("attempts") or 1) + 1)
    data["confirm_near_open"] = "yes"
    response = client.post(cfg.url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    after = sp.get_configuration(**cfg.args()).raw
    assert after["attempts"] == int(data["attempts"]) and after["password"] == loaded.raw["password"]


def _slow_save_job(cfg, loaded, *, changes: dict, sent: bool) -> ConfigurationSave:
    """A background save as migration 0007 leaves one that was pending: the base password DIGEST_REMOVED."""
    base = loaded.values | {"password": F_.DIGEST_REMOVED}
    return ConfigurationSave.objects.create(course_sid=cfg.course_sid, exam_sid=cfg.exam_sid,
                                            configuration_sid=cfg.sid, base_values=base, base_hash=HASH_REMOVED,
                                            changes=changes, confirmed=True, sent=sent)


@pytest.mark.django_db
@pytest.mark.parametrize("sent, status", [(True, "unknown"), (False, "not_applied")])
def test_a_background_save_whose_new_password_cannot_be_compared_never_claims_saved(clean_sandbox, sp, cfg, sent,
                                                                                    status):
    loaded = services.configuration_get(**cfg.args(), client=sp)
    job = _slow_save_job(cfg, loaded, changes={"password": F_.DIGEST_REMOVED}, sent=sent)
    assert services.configuration_save_finish(save_id=str(job.pk), client=sp) == "done"
    job.refresh_from_db()
    assert job.status == status and "exam password" in job.message and "Save again" in job.message.replace(
        "save again", "Save again")
    assert sp.get_configuration(**cfg.args()).raw["password"] == loaded.raw["password"]


@pytest.mark.django_db
def test_a_background_save_without_a_new_password_goes_on(clean_sandbox, sp, cfg):
    loaded = services.configuration_get(**cfg.args(), client=sp)
    job = _slow_save_job(cfg, loaded, changes={"duration": 93}, sent=False)
    assert services.configuration_save_finish(save_id=str(job.pk), client=sp) == "done"
    job.refresh_from_db()
    assert job.status == "saved", job.message
    after = sp.get_configuration(**cfg.args()).raw
    assert after["duration"] == 93 and after["password"] == loaded.raw["password"]


@pytest.mark.django_db
def test_a_bulk_item_previewed_before_the_upgrade_applies_and_keeps_the_live_password(clean_sandbox, sp, cfg,
                                                                                     coordinator):
    services.configuration_get(**cfg.args(), client=sp)
    targets = bulk_services.targets_of(bulk_services.bulk_candidates(user=coordinator), courses=[], offerings=[],
                                       configurations=[cfg.sid])
    bulk = bulk_services.bulk_start(user=coordinator, change={"kind": "duration", "minutes": 71}, targets=targets,
                                    enqueue=False)
    bulk_services.bulk_run(bulk_id=bulk.pk, client=sp)
    item = bulk.items.get()
    assert item.status == "pending" and F_.password_match(sp.get_configuration(**cfg.args()).raw["password"],
                                                          item.base_values["password"]) is True
    BulkChangeItem.objects.filter(pk=item.pk).update(base_values=item.base_values | {"password": F_.DIGEST_REMOVED},
                                                     base_hash=HASH_REMOVED)
    raw = sp.get_configuration(**cfg.args()).raw
    sp.update_configuration(**cfg.args(), body=F_.put_body(raw | {"password": "set-meanwhile"}))
    bulk_services.bulk_apply_request(bulk=bulk, user=coordinator, confirm_all=True, enqueue=False)
    bulk_services.bulk_run(bulk_id=bulk.pk, client=sp)
    item.refresh_from_db()
    assert item.status == "saved", item.message
    after = sp.get_configuration(**cfg.args()).raw
    assert after["duration"] == 71 and after["password"] == "set-meanwhile"


@pytest.mark.django_db
def test_reapply_from_a_page_opened_before_the_upgrade_names_no_false_clash(clean_sandbox, sp, cfg, client_for,
                                                                            coordinator):
    from proctordash.exams.views import SNAPSHOT_SALT

    client = client_for(coordinator)
    data = form_data(client.get(cfg.url).content.decode())
    loaded = services.configuration_get(**cfg.args(), client=sp)
    data["base"] = signing.dumps({"s": cfg.sid, "v": _legacy_base(loaded), "h": "0" * 64, "p": True},
                                 salt=SNAPSHOT_SALT, compress=True)
    data["password"] = "typed-new-2"
    html = client.post(cfg.url, data | {"action": "reapply"}).content.decode()
    assert "Reapplied: Exam password." in html and "Check these" not in html
    # a password someone else changed since the page was opened is named as a clash
    sp.update_configuration(**cfg.args(), body=F_.put_body(loaded.raw | {"password": "colleague-pw-2"}))
    html = client.post(cfg.url, data | {"action": "reapply"}).content.decode()
    assert "Check these" in html and "replaces theirs: Exam password." in html
