"""No exam password at rest (issue 17 item 3): after a full sync of both upstreams, after opening and saving the
configuration page and after a second sync that brings the new password back in the report, no text or JSON
column of any table in the database holds one of the sandbox's passwords, nor the unkeyed digest of one that
ProctorDash stored before its digests became keyed (six hex digits: a dump would give the password back in seconds);
migration 0006 scrubs rows stored before; an unchanged record still writes nothing."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import datetime, timezone

import pytest
from django.db import connection

from proctordash.appointments.mapping import PASSWORD_NOT_STORED, scrub_secrets
from proctordash.appointments.models import Appointment
from proctordash.sync.models import SyncRun
from proctordash.sync.passes import appointments_refresh, proctorexam_refresh, sessions_refresh
from tests.exams.conftest import cfg, world  # noqa: F401  (fixtures: a configuration the page can save)

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "n3w-Secret-pw-7781"

TEXT_TYPES = re.compile(r"char|text|json|clob", re.I)


def text_columns() -> list[tuple[str, str]]:
    """(table, column) of every text-like column of every table in the database (introspected, not the models: a
    table no model names is searched too)."""
    out = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            for column in connection.introspection.get_table_description(cursor, table):
                db_type = column.type_code
                if connection.vendor == "postgresql":
                    # type_code is an OID there: ask the catalogue for the type's name
                    cursor.execute("SELECT format_type(%s, NULL)", [db_type])
                    db_type = cursor.fetchone()[0]
                if TEXT_TYPES.search(str(db_type)):
                    out.append((table, column.name))
    return out


def find_secrets(secrets: set[str]) -> list[tuple[str, str, str]]:
    """(table, column, the secret) for every stored value that contains one of `secrets`."""
    pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
    quote = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            cast = "::text" if connection.vendor == "postgresql" else ""
            cursor.execute(f"SELECT {quote(column)}{cast} FROM {quote(table)} WHERE {quote(column)} IS NOT NULL")
            for (value,) in cursor.fetchall():
                match = pattern.search(value if isinstance(value, str) else str(value))
                if match:
                    found.append((table, column, match.group(0)))
                    break
    return found


def unkeyed_digests(passwords: set[str]) -> set[str]:
    """The digests ProctorDash stored before exams/0007 (computed here, not by the code under test): anyone can
    compute them, so one at rest is as good as the password."""
    return {"sha256:" + hashlib.sha256(("proctordash-config-password:" + p).encode()).hexdigest()[:24]
            for p in passwords}


def sandbox_passwords() -> set[str]:
    """Every exam password the sandbox's appointment report carries now (read live, as the sync does)."""
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    with SmarterProctoringClient.from_settings() as client:
        passwords = {(record.raw.get("examConfiguration") or {}).get("password")
                     for record in client.list_appointments(page_size=1000)}
    return {p for p in passwords if isinstance(p, str) and p}


def test_no_password_is_stored_anywhere_after_syncs_and_the_configuration_page(sandbox, sync_settings, client_for,
                                                                              coordinator, cfg):
    from tests.exams.conftest import form_data

    sandbox.reset()
    try:
        passwords = sandbox_passwords()
        assert len(passwords) >= 20  # the sandbox gives every online exam configuration one
        assert appointments_refresh().outcome == SyncRun.Outcome.SUCCESS
        assert proctorexam_refresh().outcome == SyncRun.Outcome.SUCCESS
        for a in Appointment.objects.exclude(enrollment_sid="").order_by("sid")[:5]:
            sessions_refresh(enrollment_sid=a.enrollment_sid, exam_sid=a.exam_sid)
        # the detail page still knows a password is set
        stored = Appointment.objects.exclude(configuration_sid="").filter(
            raw__examConfiguration__password=PASSWORD_NOT_STORED)
        assert stored.exists()

        # the configuration page: open it (caches the configuration, may record drift) and save a new password
        url = cfg.url
        client = client_for(coordinator)
        data = form_data(client.get(url).content.decode())
        data["password"] = NEW_PASSWORD
        data["reason"] = "rotate the password"
        data["confirm_near_open"] = "yes"  # the exam may be open now or open within 24 h: save anyway
        response = client.post(url, data)
        assert response.status_code == 302, re.findall(r'(?s)role="alert"[^>]*>(.{0,300})', response.content.decode())
        assert client.get(url).status_code == 200
        # the report now carries the new password in every appointment of that configuration: sync it again
        time.sleep(0.01)
        run = appointments_refresh()
        assert run.outcome == SyncRun.Outcome.SUCCESS and run.records_updated > 0

        assert NEW_PASSWORD in sandbox_passwords()
        secrets = passwords | {NEW_PASSWORD}
        assert find_secrets(secrets | unkeyed_digests(secrets)) == []
    finally:
        sandbox.reset()


def test_the_search_finds_a_password_where_one_is_stored(sandbox, sync_settings):
    """The search above can fail: a password planted in a JSON column and in a text column is found, and so is the
    unkeyed digest of one in a cached configuration (as ProctorDash stored it before exams/0007)."""
    from proctordash.exams.models import CachedConfiguration

    Appointment.objects.create(sid="ES" + "1" * 32, content_hash="x", last_seen_at=datetime.now(timezone.utc),
                               raw={"examConfiguration": {"password": "pw-planted"}})
    SyncRun.objects.create(kind="proctorexam", upstream="proctorexam", started_at=datetime.now(timezone.utc),
                           notes="text pw-in-notes here")
    (digest,) = unkeyed_digests({"a1b2c3"})
    CachedConfiguration.objects.create(sid="EC" + "1" * 32, exam_sid="EX" + "1" * 32, course_sid="CU" + "1" * 32,
                                       raw={"password": digest}, values_hash="x", fetched_at=datetime.now(timezone.utc))
    found = {(table, value) for table, _column, value in
             find_secrets({"pw-planted", "pw-in-notes"} | unkeyed_digests({"a1b2c3"}))}
    assert found == {("appointments_appointment", "pw-planted"), ("monitoring_syncrun", "pw-in-notes"),
                     ("exams_cachedconfiguration", digest)}


def test_an_unchanged_record_hashes_the_same_scrubbed_and_writes_nothing(sandbox, sync_settings):
    sandbox.reset()
    first = appointments_refresh()
    second = appointments_refresh()
    assert first.records_created > 0
    assert (second.records_created, second.records_updated) == (0, 0)
    record = {"sid": "ES" + "2" * 32, "examConfiguration": {"password": "pw-abc", "duration": 60}}
    scrubbed = scrub_secrets(record)
    assert scrubbed["examConfiguration"] == {"password": PASSWORD_NOT_STORED, "duration": 60}
    assert record["examConfiguration"]["password"] == "pw-abc"  # the caller's dict is left alone
    assert scrub_secrets(scrubbed) is scrubbed


def test_migration_0006_scrubs_rows_stored_before_and_the_next_pass_writes_nothing(sandbox, sync_settings):
    """Rows written as earlier syncs wrote them (password in raw, hash of that raw) are scrubbed by the data
    migration; their new hash is the scrubbed record's, so the next pass finds them unchanged."""
    import importlib

    from django.apps import apps as django_apps

    from proctordash.sync.upsert import content_hash

    sandbox.reset()
    appointments_refresh()
    passwords = sandbox_passwords()
    # put back what the old sync stored: the live records, password and all, with their hash
    from proctordash.integrations.smarterproctoring.client import SmarterProctoringClient

    with SmarterProctoringClient.from_settings() as client:
        for record in client.list_appointments(page_size=1000):
            Appointment.objects.filter(sid=record.sid).update(raw=record.raw, content_hash=content_hash(record.raw))
    assert find_secrets(passwords)

    migration = importlib.import_module("proctordash.appointments.migrations.0006_scrub_exam_passwords")
    with connection.schema_editor() as editor:
        migration.scrub(django_apps, editor)

    assert find_secrets(passwords) == []
    again = appointments_refresh()
    assert (again.records_created, again.records_updated) == (0, 0)
