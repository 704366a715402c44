"""The mapping from upstream JSON to cache rows, and the idempotent bulk upsert (no network: records come from the
sandbox's own generator, which produces exactly what the sandbox serves)."""

from __future__ import annotations

import copy
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from proctordash.appointments.models import Appointment, Course, Exam
from proctordash.appointments.mapping import appointment_row, appointments_write, review_status_of
from proctordash.sync.upsert import content_hash
from proctordash.sandbox import data


@pytest.fixture(scope="module")
def records():
    world = data.generate(seed=7, appointments=300, anchor=time.time())
    return [copy.deepcopy(a.doc) for a in world.appointments]


def test_review_status_follows_the_filter_rules():
    assert review_status_of({"reviewRequired": None, "reviewCompletedDate": "2024-01-01T00:00:00.000Z"}) == "not-required"
    assert review_status_of({"reviewRequired": False}) == "not-required"
    assert review_status_of({"reviewRequired": True, "reviewCompletedDate": None}) == "pending"
    assert review_status_of({"reviewRequired": True, "reviewCompletedDate": "2024-01-01T00:00:00.000Z"}) == "complete"


def test_row_has_typed_columns_and_lowercased_search_copies(records):
    from django.utils import timezone

    raw = next(r for r in records if r.get("appointmentDate") and (r.get("enrollment") or {}).get("firstName"))
    row = appointment_row(raw, now=timezone.now())
    assert row["sid"] == raw["sid"]
    assert row["course_sid"] == raw["course"]["sid"]
    assert row["exam_title_search"] == raw["exam"]["title"].lower()
    assert row["learner_first_name_search"] == raw["enrollment"]["firstName"].lower()
    assert row["appointment_date"].isoformat().startswith(raw["appointmentDate"][:19])
    assert raw["course"]["title"].lower() in row["search_text"]
    assert row["content_hash"] == content_hash(raw)
    # key order does not change the hash
    assert content_hash(dict(reversed(list(raw.items())))) == row["content_hash"]


def test_hostile_and_broken_values_do_not_sink_a_page(db):
    raw = {"sid": "AP" + "1" * 32, "appointmentDate": "not a date", "sessionReportCount": "x" * 5,
           "enrollment": {"firstName": "=HYPERLINK(\"http://evil\")\x00", "lastName": "<script>x</script>" * 100},
           "exam": "not an object", "course": {"sid": "CU" + "c" * 32, "title": None}}
    result = appointments_write([raw])
    row = Appointment.objects.get(sid=raw["sid"])
    assert result.created == 1
    assert row.appointment_date is None and row.session_report_count is None
    assert "\x00" not in row.learner_first_name and len(row.learner_last_name) == 300
    assert row.learner_first_name.startswith("=HYPERLINK")  # stored as data; templates escape it


def test_upsert_is_idempotent_and_writes_only_changed_rows(db, records):
    first = appointments_write(records)
    assert first.created == len({r["sid"] for r in records}) and first.updated == 0
    assert Appointment.objects.count() == first.created
    assert Course.objects.count() == len({r["course"]["sid"] for r in records if r.get("course")})
    assert Exam.objects.count() == len({r["examSid"] for r in records})

    with CaptureQueriesContext(connection) as queries:
        again = appointments_write(records)
        # pages in another order (a course has several offerings) write nothing either
        appointments_write(list(reversed(records[:100])))
        appointments_write(records[200:])
    assert (again.created, again.updated) == (0, 0)
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE"))]

    changed = copy.deepcopy(records[:3])
    changed[0]["status"] = "Cancelled" if changed[0]["status"] != "Cancelled" else "Closed"
    result = appointments_write(changed)
    assert (result.created, result.updated) == (0, 1)
    assert Appointment.objects.get(sid=changed[0]["sid"]).status == changed[0]["status"]


def test_a_removed_row_seen_again_comes_back(db, records):
    from django.utils import timezone

    appointments_write(records[:5])
    Appointment.objects.filter(sid=records[0]["sid"]).update(removed_at=timezone.now())
    result = appointments_write(records[:5])
    assert result.updated == 1
    assert Appointment.objects.live().count() == 5


def test_duplicates_within_a_page_are_written_once(db, records):
    result = appointments_write([records[0], records[0], records[1]])
    assert result.created == 2


def test_nul_characters_and_lookalikes_are_safe(db):
    nul = {"sid": "AP" + "2" * 32, "enrollment": {"firstName": "a\x00b", "lastName": "literal \\u0000 text"}}
    appointments_write([nul])
    row = Appointment.objects.get(sid=nul["sid"])
    assert row.learner_first_name == "ab" and row.raw["enrollment"]["firstName"] == "ab"
    assert row.learner_last_name == "literal \\u0000 text"


def test_a_record_with_a_malformed_nested_object_is_skipped_and_the_rest_written(db):
    """One bad record never sinks a page (issue 17 item 7): it is left out and reported with its sid and the bad
    field (never the value); the good ones are written; the bad one's key still counts as seen."""
    from proctordash.integrations.smarterproctoring.schemas import Appointment as Record

    def record(sid: str, **extra):
        return Record.parse({"sid": sid, "course": {"sid": "CU" + "c" * 32, "title": "C"}, **extra},
                            upstream="smarterproctoring", endpoint="GET /x")

    good = record("AP" + "1" * 32, enrollment={"firstName": "Ana"})
    bad = record("AP" + "2" * 32, enrollment={"firstName": "Bo", "createdDate": "next tuesday"})
    result = appointments_write([good, bad])
    assert (result.created, result.updated) == (1, 0)
    assert [key for key, _error in result.skipped] == ["AP" + "2" * 32]
    assert "enrollment.createdDate" in result.skipped[0][1] and "tuesday" not in result.skipped[0][1]
    assert set(result.keys) == {"AP" + "1" * 32, "AP" + "2" * 32}
    assert list(Appointment.objects.values_list("sid", flat=True)) == ["AP" + "1" * 32]
    assert Course.objects.count() == 1


def test_new_rows_copied_straight_in_and_a_concurrent_insert_falls_back_to_the_upsert(db, records):
    """New rows are COPYed into the table (PostgreSQL); when another pass inserted one of them after this page read
    the stored rows, nothing of the COPY stays and the whole batch is upserted instead: no error, no duplicate."""
    from django.utils import timezone

    from proctordash.sync.upsert import bulk_upsert

    now = timezone.now()
    rows = [appointment_row(raw, now=now) for raw in records[:120]]
    bulk_upsert(Appointment, rows[:60], key="sid", compare=["content_hash", "removed_at"])
    assert Appointment.objects.count() == 60
    # this page "read" the stored rows before those 60 were written: it believes all 120 are new
    created, updated, written = bulk_upsert(Appointment, rows, key="sid", compare=["content_hash", "removed_at"],
                                            existing={})
    assert (created, updated) == (120, 0)  # as it saw them
    assert Appointment.objects.count() == 120
    assert set(Appointment.objects.values_list("sid", flat=True)) == {row["sid"] for row in rows}
    stored = Appointment.objects.get(sid=rows[100]["sid"])
    assert stored.raw == records[100] and stored.content_hash == rows[100]["content_hash"]


def test_counts_in_other_digit_forms_are_read_or_dropped_never_raised():
    from proctordash.sync.upsert import parse_int

    assert parse_int("²") is None and parse_int("٣") == 3 and parse_int("-12") == -12
