"""Migration exams/0007 removes the unkeyed password digests (and the hashes computed over them) from a populated
database: every row is kept, nothing else in it changes, and what it leaves is read by the code as "a password is set,
which one is not known". CI runs this on PostgreSQL too."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from proctordash.exams import fields as F_

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("exams", "0006_configuration_saves")]
HASH_REMOVED = "removed:unkeyed-password-digest"


def legacy(password: str) -> str:
    return "sha256:" + hashlib.sha256(("proctordash-config-password:" + password).encode()).hexdigest()[:24]


def sid(prefix: str, n: int) -> str:
    return prefix + f"{n:032x}"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def test_a_populated_database_loses_every_legacy_digest_and_nothing_else():
    old = _migrate(BEFORE)
    Cached = old.get_model("exams", "CachedConfiguration")
    Save = old.get_model("exams", "ConfigurationSave")
    Bulk, Item = old.get_model("exams", "BulkChange"), old.get_model("exams", "BulkChangeItem")
    now = timezone.now()
    legacy_hash = hashlib.sha256(b"values hashed with the legacy digest in them").hexdigest()
    common = {"exam_sid": sid("EX", 1), "course_sid": sid("CU", 1), "fetched_at": now}
    Cached.objects.create(sid=sid("EC", 1), raw={"sid": sid("EC", 1), "password": legacy("a1b2c3"), "duration": 60,
                                                 "studentNotes": "Keep me"}, values_hash=legacy_hash, **common)
    keyed = F_.password_digest("d4e5f6")
    Cached.objects.create(sid=sid("EC", 2), raw={"password": keyed, "duration": 45}, values_hash="k" * 64, **common)
    Cached.objects.create(sid=sid("EC", 3), raw={"password": "", "duration": 30}, values_hash="n" * 64, **common)
    saves = {}
    for status, changes in (("saved", {"password": legacy("new111")}), ("queued", {"duration": 90}),
                            ("running", {"password": legacy("new222"), "duration": 91})):
        saves[status] = Save.objects.create(
            id=uuid.uuid4(), course_sid=sid("CU", 1), exam_sid=sid("EX", 1), configuration_sid=sid("EC", 1),
            base_values={"password": legacy("a1b2c3"), "duration": 60}, base_hash=legacy_hash, changes=changes,
            status=status, sent=status == "running")
    Save.objects.filter(status="running").update(updated_at=now - timedelta(minutes=1))
    bulk = Bulk.objects.create(change={"kind": "duration", "minutes": 90}, description="Set the duration to 90")
    common = {"bulk": bulk, "course_sid": sid("CU", 1), "exam_sid": sid("EX", 1)}
    for n, status in enumerate(("pending", "saved", "failed"), start=1):
        Item.objects.create(configuration_sid=sid("EC", 10 + n), status=status, base_hash=legacy_hash,
                            base_values={"password": legacy("a1b2c3"), "duration": 60}, **common)
    Item.objects.create(configuration_sid=sid("EC", 20), status="queued", base_values={}, base_hash="", **common)
    running_updated = Save.objects.get(status="running").updated_at

    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from proctordash.exams.models import BulkChange, BulkChangeItem, CachedConfiguration, ConfigurationSave

    # nothing stored holds a legacy digest, nor a hash computed over one
    with connection.cursor() as cursor:
        for model in (CachedConfiguration, ConfigurationSave, BulkChangeItem, BulkChange):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(model._meta.db_table)}")
            text = repr(cursor.fetchall())
            assert "sha256:" not in text and legacy_hash not in text, model.__name__
    # every row kept, everything else in it as it was
    assert CachedConfiguration.objects.count() == 3
    first = CachedConfiguration.objects.get(sid=sid("EC", 1))
    assert first.raw == {"sid": sid("EC", 1), "password": F_.DIGEST_REMOVED, "duration": 60,
                         "studentNotes": "Keep me"}
    assert first.values_hash == HASH_REMOVED and first.fetched_at == now
    assert CachedConfiguration.objects.get(sid=sid("EC", 2)).raw == {"password": keyed, "duration": 45}
    assert CachedConfiguration.objects.get(sid=sid("EC", 2)).values_hash == "k" * 64
    assert CachedConfiguration.objects.get(sid=sid("EC", 3)).values_hash == "n" * 64
    by_status = {s.status: s for s in ConfigurationSave.objects.all()}
    assert set(by_status) == {"saved", "queued", "running"}
    assert by_status["saved"].changes == {"password": F_.DIGEST_REMOVED}
    assert by_status["queued"].changes == {"duration": 90}
    assert by_status["running"].changes == {"password": F_.DIGEST_REMOVED, "duration": 91}
    for save in by_status.values():
        assert save.base_values == {"password": F_.DIGEST_REMOVED, "duration": 60}
        assert save.base_hash == HASH_REMOVED
    assert by_status["running"].updated_at == running_updated and by_status["running"].sent
    items = {i.configuration_sid: i for i in BulkChangeItem.objects.all()}
    for n, status in enumerate(("pending", "saved", "failed"), start=1):
        item = items[sid("EC", 10 + n)]
        assert item.status == status and item.previewed and item.base_hash == HASH_REMOVED
        assert item.base_values == {"password": F_.DIGEST_REMOVED, "duration": 60}
    queued = items[sid("EC", 20)]
    assert (queued.base_values, queued.base_hash, queued.previewed) == ({}, "", False)
    assert BulkChange.objects.get().change == {"kind": "duration", "minutes": 90}
    # what it leaves is a digest that matches no password and no digest: never sent, never in a field
    assert F_.is_password_digest(F_.DIGEST_REMOVED)
    for other in ("a1b2c3", F_.password_digest("a1b2c3"), legacy("a1b2c3")):
        assert F_.password_match(F_.DIGEST_REMOVED, other) is None
