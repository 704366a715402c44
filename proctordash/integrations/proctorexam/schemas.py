"""ProctorExam v3 records (shared/upstream-api/proctorexam-list-student-sessions.txt and the README's
`GET /api/v3/exams`). The JSON is snake_case already; dates come with offsets and become aware UTC datetimes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict

from ..records import UpstreamRecord, UtcDatetime

_CONFIG = ConfigDict(extra="ignore", populate_by_name=True)


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


def _required_id(value: Any) -> Any:
    if value is None or value == "" or isinstance(value, bool):
        raise ValueError("is required")
    return value


RequiredId = Annotated[int, BeforeValidator(_required_id)]


class Record(UpstreamRecord):
    model_config = _CONFIG


class ProctorExamExam(Record):
    """One exam of `GET /api/v3/exams`."""

    id: RequiredId
    name: str | None = None
    status: str | None = None
    start_time: UtcDatetime = None
    end_time: UtcDatetime = None
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None


class Incident(Record):
    id: RequiredId
    student_session_id: int | None = None
    comment: str | None = None
    offset_time: float | None = None
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None


class StudentSession(Record):
    """One student session of `GET /api/v3/exams/{id}/student_sessions`, with its incidents."""

    id: RequiredId
    exam_id: int | None = None
    session_id: int | str | None = None
    student_id: int | str | None = None
    external_id: int | str | None = None
    proctor_id: int | str | None = None
    name: str | None = None
    email: str | None = None
    status: str | None = None
    time_slot: int | None = None
    attempt: int | None = None
    entered_room: bool | None = None
    archived: bool | None = None
    reviewed: str | None = None
    priority: str | None = None
    operating_system: str | None = None
    browser: str | None = None
    browser_version: str | None = None
    screenshare_check: str | None = None
    microphone_check: str | None = None
    speakers_check: str | None = None
    webcam_check: str | None = None
    mobile_check: str | None = None
    bandwidth_check: str | None = None
    start_time: UtcDatetime = None
    end_time: UtcDatetime = None
    open_time: UtcDatetime = None
    expires_at: UtcDatetime = None
    reservation_time: UtcDatetime = None
    recording_started_at: UtcDatetime = None
    recording_ended_at: UtcDatetime = None
    created_at: UtcDatetime = None
    updated_at: UtcDatetime = None
    incidents: Annotated[list[Incident], BeforeValidator(_list_or_empty)] = []


__all__ = ["Incident", "ProctorExamExam", "StudentSession"]
