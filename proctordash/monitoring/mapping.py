"""How ProctorExam's records become the monitor's cache rows: the mapping this app gives the sync engine.

The engine (proctordash/sync/passes.py, `proctorexam_refresh`) lists the open exams and each one's student sessions;
the functions here turn those records into rows (exams, sessions, incidents) and write them as idempotent upserts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction

from proctordash.monitoring.models import Incident, ProctorExamExam, StudentSession
from proctordash.sync.mappings import ProctorExamMapping
from proctordash.sync.upsert import bulk_upsert, clean_raw, content_hash, parse_datetime, parse_int, text

CHECKS = ["webcam_check", "microphone_check", "speakers_check", "screenshare_check", "mobile_check", "bandwidth_check"]


def _raw_of(record: Any) -> dict:
    raw = getattr(record, "raw", record)
    return raw if isinstance(raw, dict) else {}


def _f(model, name: str) -> int:
    return model._meta.get_field(name).max_length


def _id(value: Any) -> int | None:
    parsed = parse_int(value) if not isinstance(value, int) else value
    return parsed if isinstance(parsed, int) and not isinstance(parsed, bool) and 0 < parsed < 2**63 else None


def exam_row(raw: dict, *, now: datetime) -> dict[str, Any] | None:
    raw = clean_raw(raw)
    exam_id = _id(raw.get("id"))
    if exam_id is None:
        return None
    M = ProctorExamExam
    return dict(id=exam_id, name=text(raw.get("name"), _f(M, "name")), status=text(raw.get("status"), _f(M, "status")),
                start_time=parse_datetime(raw.get("start_time")), end_time=parse_datetime(raw.get("end_time")),
                raw=raw, content_hash=content_hash(raw), last_seen_at=now, removed_at=None)


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def student_session_row(raw: dict, *, exam_id: int, now: datetime) -> dict[str, Any] | None:
    raw = clean_raw(raw)
    session_id = _id(raw.get("id"))
    if session_id is None:
        return None
    S = StudentSession
    incidents = raw.get("incidents") if isinstance(raw.get("incidents"), list) else []
    row = dict(
        id=session_id, exam_id=exam_id, name=text(raw.get("name"), _f(S, "name")),
        email=text(raw.get("email"), _f(S, "email")), status=text(raw.get("status"), _f(S, "status")),
        start_time=parse_datetime(raw.get("start_time")), end_time=parse_datetime(raw.get("end_time")),
        entered_room=_bool(raw.get("entered_room")), reviewed=text(raw.get("reviewed"), _f(S, "reviewed")),
        incident_count=len(incidents), upstream_updated_at=parse_datetime(raw.get("updated_at")),
        reservation_time=parse_datetime(raw.get("reservation_time")),
        raw=raw, content_hash=content_hash(raw), last_seen_at=now, removed_at=None,
    )
    for check in CHECKS:
        row[check] = text(raw.get(check), _f(S, check))
    return row


def incident_rows(raw: dict, *, session_id: int) -> list[dict[str, Any]]:
    rows = []
    for incident in raw.get("incidents") or []:
        if not isinstance(incident, dict) or _id(incident.get("id")) is None:
            continue
        rows.append(dict(id=_id(incident["id"]), student_session_id=session_id,
                         comment=text(incident.get("comment"), 100_000),
                         offset_time=parse_int(incident.get("offset_time")),
                         created_at=parse_datetime(incident.get("created_at")), raw=clean_raw(incident)))
    return rows


# --- what the engine calls -----------------------------------------------------------------------------------------
def exams_write(records: list[Any], *, now: datetime, only: set[int] | None = None) -> tuple[int, int, set[int]]:
    """Upsert exam records (those whose id is in `only`, when given); returns created, updated and the ids written."""
    rows = [row for row in (exam_row(_raw_of(e), now=now) for e in records) if row and (only is None or row["id"] in only)]
    created, updated, _ = bulk_upsert(ProctorExamExam, rows, key="id", compare=["content_hash", "removed_at"])
    return created, updated, {row["id"] for row in rows}


def open_exam_ids_except(ids: set[int]) -> set[int]:
    return set(ProctorExamExam.objects.filter(status="open", removed_at__isnull=True).exclude(id__in=ids)
               .values_list("id", flat=True))


def exams_mark_removed(ids: set[int], *, seen_before: datetime, now: datetime) -> int:
    return ProctorExamExam.objects.filter(id__in=ids, last_seen_at__lt=seen_before).update(removed_at=now)


def student_sessions_write(exam_id: int, records: list[Any], *, seen_before: datetime, now: datetime,
                           remove_missing: bool = True, keep: set[int] = frozenset()) -> tuple[int, int, int, int]:
    """Upsert one open exam's student sessions (the complete list) with their incidents; sessions of that exam no
    longer listed are marked removed (not those in `keep`, e.g. malformed records left out; none at all when not
    `remove_missing`)."""
    rows = [r for r in (student_session_row(_raw_of(s), exam_id=exam_id, now=now) for s in records) if r]
    incidents = [i for row in rows for i in incident_rows(row["raw"], session_id=row["id"])]
    with transaction.atomic():
        created, updated, _ = bulk_upsert(StudentSession, rows, key="id",
                                          compare=["content_hash", "removed_at", "exam_id"])
        # first_seen_at (kept on update) is when the dashboard first saw an incident: the alerts read it
        bulk_upsert(Incident, incidents, key="id",
                    compare=["student_session_id", "comment", "offset_time", "created_at", "raw"])
        removed = StudentSession.objects.filter(exam_id=exam_id, removed_at__isnull=True,
                                                last_seen_at__lt=seen_before).exclude(
            id__in=[row["id"] for row in rows] + [i for i in keep if _id(i) is not None]).update(
            removed_at=now) if remove_missing else 0
    return created, updated, removed, len(rows)


PROCTOREXAM = ProctorExamMapping(
    write_exams=exams_write,
    open_exam_ids_except=open_exam_ids_except,
    mark_exams_removed=exams_mark_removed,
    write_student_sessions=student_sessions_write,
)
