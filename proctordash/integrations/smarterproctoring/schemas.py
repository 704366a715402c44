"""SmarterProctoring v1 records (shared/upstream-api/smarterproctoring-*.txt).

Attributes are snake_case, the JSON keys camelCase (aliases). Every field is optional unless a record is useless
without it (its `sid`); dates are aware UTC datetimes; `.raw` keeps the JSON as sent; unknown keys are ignored.
Fields the reference pages type loosely ("string" for what is really an object) are `Any`.
"""

from __future__ import annotations

from typing import Annotated, Any

from functools import cached_property

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, InstanceOf, ValidationError
from pydantic.alias_generators import to_camel

from ...core.vocabulary import PERMITTED_ITEMS
from ..records import RequiredText, UpstreamRecord, UtcDatetime, bad_record

_CONFIG = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def _list_or_empty(value: Any) -> Any:
    return [] if value is None else value


ListOrEmpty = Annotated[list[Any], BeforeValidator(_list_or_empty)]


class _Nested(BaseModel):
    model_config = _CONFIG


class Record(UpstreamRecord):
    model_config = _CONFIG


# --- List Appointments ---------------------------------------------------------------------------------------------
class AppointmentExam(_Nested):
    sid: str | None = None
    course_sid: str | None = None
    title: str | None = None
    type: str | None = None
    description: str | None = None
    use_proctor_manager: bool | None = None
    require_approval: bool | None = None
    enable_appointment_suggestions: bool | None = None
    url: str | None = None
    status: str | None = None
    instructor_name: str | None = None
    course_name: str | None = None
    total_sessions: int | None = None
    needs_proctor_sessions: int | None = None
    platform_version: str | None = None


class AppointmentEnrollment(_Nested):
    user_sid: str | None = None
    enrollment_sid: str | None = None
    course_sid: str | None = None
    role: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    created_date: UtcDatetime = None
    edit_date: UtcDatetime = None


class CourseOffering(_Nested):
    sid: str | None = None
    title: str | None = None
    match_strings: str | None = None
    last_activity_date: UtcDatetime = None
    start_date: UtcDatetime = None
    end_date: UtcDatetime = None
    created_date: UtcDatetime = None
    edit_date: UtcDatetime = None


class AppointmentCourse(_Nested):
    sid: str | None = None
    title: str | None = None
    code: str | None = None
    created_date: UtcDatetime = None
    edit_date: UtcDatetime = None
    offering: CourseOffering | None = None


class _ConfigurationFields(BaseModel):
    """The fields of an exam configuration, as the appointment report embeds it and Get/Update Configuration
    return it."""

    model_config = _CONFIG

    sid: str | None = None
    exam_sid: str | None = None
    enrollment_sid: str | None = None
    reference_exam_configuration_sid: str | None = None
    type: str | None = None
    exam_open_date: UtcDatetime = None
    exam_close_date: UtcDatetime = None
    schedule_open_date: UtcDatetime = None
    schedule_close_date: UtcDatetime = None
    password: str | None = None
    url: str | None = None
    duration: int | None = None
    attempts: int | None = None
    attempts_remaining: int | None = None
    locked: bool | None = None
    approved: bool | None = None
    approved_by: str | None = None
    required_software: str | None = None
    student_notes: str | None = None
    proctor_notes: str | None = None
    permitted_bathroom_break: bool | None = None
    permitted_bathroom_break_information: str | None = None
    permitted_blank_paper: bool | None = None
    permitted_blank_paper_information: str | None = None
    permitted_calculator: bool | None = None
    permitted_calculator_information: str | None = None
    permitted_dictionary: bool | None = None
    permitted_dictionary_information: str | None = None
    permitted_earplugs: bool | None = None
    permitted_earplugs_information: str | None = None
    permitted_formula_sheet: bool | None = None
    permitted_formula_sheet_information: str | None = None
    permitted_notes: bool | None = None
    permitted_notes_information: str | None = None
    permitted_other_items: str | None = None
    permitted_textbook: bool | None = None
    permitted_textbook_information: str | None = None
    permitted_websites: bool | None = None
    permitted_websites_information: str | None = None
    api_exam_id: str | None = None
    exam_sync_status: str | None = None
    virtual_calculator_type: str | None = None
    proctor_types: ListOrEmpty = []
    instructor_as_proctor: ListOrEmpty = []
    attachments: Any = None
    exam_files: Any = None
    modality_options: Any = None
    synchronization: Any = None
    created_date: UtcDatetime = None
    edit_date: UtcDatetime = None


class AppointmentExamConfiguration(_ConfigurationFields):
    pass


# A nested object of an appointment: checked up front to be an object (or null), in Rust and without copying it;
# its fields are validated on first access (see Appointment).
NestedObject = InstanceOf[dict] | None

_APPOINTMENTS_ENDPOINT = "GET /v1/installs/{installSid}/reports/appointments"


class _AppointmentNested(BaseModel):
    """The nested objects the sync maps, validated together by Appointment.check_nested (one call instead of
    three)."""

    model_config = ConfigDict(extra="ignore")

    exam: AppointmentExam | None = None
    enrollment: AppointmentEnrollment | None = None
    course: AppointmentCourse | None = None


class Appointment(Record):
    """One row of List Appointments.

    Validated up front: the identity (`sid`) and every top-level field (strings, numbers, booleans, dates as aware
    UTC datetimes); the nested `exam`, `enrollment`, `course` (with its offering) and `examConfiguration` only have
    to be objects or null. Their fields are validated on first access of `.exam`, `.enrollment`, `.course`,
    `.exam_configuration` (cached; UpstreamBadResponse naming e.g. `enrollment.createdDate` if malformed); the
    three the sync maps (exam, enrollment, course) all at once by `check_nested()`. A record is ≈ 4 KB of JSON, three quarters of it nested, and the sync maps `.raw`
    anyway: validating all of it for every record of every page made the client cost ≈ 2× a bare GET of the pages.
    The unvalidated objects are `.exam_data`, `.enrollment_data`, `.course_data`, `.exam_configuration_data`.
    """

    sid: RequiredText
    exam_sid: str | None = None
    enrollment_sid: str | None = None
    instructor_proctor_sid: str | None = None
    status: str | None = None
    session_type: str | None = None
    scheduling_module: str | None = None
    proctor_review_process_sid: str | None = None
    appointment_date: UtcDatetime = None
    date_approved: UtcDatetime = None
    date_scheduled: UtcDatetime = None
    external_appointment_id: str | None = None
    external_reserved_appointment_id: str | None = None
    external_reserved_appointment_expires: UtcDatetime = None
    recording_start_date: UtcDatetime = None
    session_report_count: int | None = None
    series: Any = None
    review_by_date: UtcDatetime = None
    review_completed_date: UtcDatetime = None
    review_required: bool | None = None
    platform_version: str | None = None
    system_check_start_date: UtcDatetime = None
    system_check_end_date: UtcDatetime = None
    mandatory_room_scan_video: bool | None = None
    muted_annotations: Any = None
    exam_data: NestedObject = Field(default=None, alias="exam")
    enrollment_data: NestedObject = Field(default=None, alias="enrollment")
    course_data: NestedObject = Field(default=None, alias="course")
    exam_configuration_data: NestedObject = Field(default=None, alias="examConfiguration")

    def _nested(self, key: str, model: type[BaseModel], data: dict | None) -> Any:
        if data is None:
            return None
        try:
            return model.__pydantic_validator__.validate_python(data)
        except ValidationError as e:
            raise bad_record(e, "Appointment", upstream="smarterproctoring", endpoint=_APPOINTMENTS_ENDPOINT,
                             prefix=f"{key}.") from e

    @cached_property
    def exam(self) -> AppointmentExam | None:
        """The embedded exam, validated on first access (UpstreamBadResponse if malformed)."""
        return self._nested("exam", AppointmentExam, self.exam_data)

    @cached_property
    def enrollment(self) -> AppointmentEnrollment | None:
        """The embedded enrollment (the learner), validated on first access (UpstreamBadResponse if malformed)."""
        return self._nested("enrollment", AppointmentEnrollment, self.enrollment_data)

    @cached_property
    def course(self) -> AppointmentCourse | None:
        """The embedded course and its offering, validated on first access (UpstreamBadResponse if malformed)."""
        return self._nested("course", AppointmentCourse, self.course_data)

    @cached_property
    def exam_configuration(self) -> AppointmentExamConfiguration | None:
        """The embedded exam configuration, validated on first access (UpstreamBadResponse if malformed)."""
        return self._nested("examConfiguration", AppointmentExamConfiguration, self.exam_configuration_data)

    def check_nested(self) -> Appointment:
        """Validate the nested exam, enrollment and course (with its offering) now, in one pass (the results are
        what `.exam` etc. return from then on); UpstreamBadResponse if one is malformed. The sync calls this for
        each record it is about to write: these are the objects it maps into columns. The exam configuration (≈ 50
        fields, of which the sync reads only the sid) stays validated on first access of `.exam_configuration`, as
        it was before nested objects became lazy."""
        cache = self.__dict__
        if "exam" in cache and "enrollment" in cache and "course" in cache:
            return self
        try:
            nested = _AppointmentNested.__pydantic_validator__.validate_python(
                {"exam": self.exam_data, "enrollment": self.enrollment_data, "course": self.course_data})
        except ValidationError as e:
            raise bad_record(e, "Appointment", upstream="smarterproctoring", endpoint=_APPOINTMENTS_ENDPOINT) from e
        cache.update(exam=nested.exam, enrollment=nested.enrollment, course=nested.course)
        return self

    @property
    def review_status(self) -> str:
        """pending / complete / not-required, derived as the reviewStatus filter does (docs/architecture.md)."""
        if self.review_required is not True:
            return "not-required"
        return "complete" if self.review_completed_date is not None else "pending"

    @property
    def course_sid(self) -> str | None:
        return self.course.sid if self.course else None


# --- List enrollment exam sessions ---------------------------------------------------------------------------------
class ExamSession(Record):
    sid: RequiredText
    status: str | None = None
    session_type: str | None = None
    appointment_date: UtcDatetime = None
    created_date: UtcDatetime = None
    edit_date: UtcDatetime = None


# --- Get / Update Configuration ------------------------------------------------------------------------------------
# The body of Update Configuration: which keys it takes, and which of them may be null.
UPDATE_NULLABLE = ["url", "requiredSoftware", "studentNotes", "proctorNotes", "permittedOtherItems",
                   *(f"permitted{item}Information" for item in PERMITTED_ITEMS)]
UPDATE_KEYS = ["instructorAsProctor", *(f"permitted{item}" for item in PERMITTED_ITEMS), *UPDATE_NULLABLE,
               "examOpenDate", "examCloseDate", "scheduleOpenDate", "scheduleCloseDate", "enrollmentSid", "password",
               "duration", "attempts", "proctorTypes", "refConfigSid", "attachments", "modalityOptions"]
INSTRUCTOR_AS_PROCTOR_KEYS = ["location", "timeType", "startTime", "endTime", "sid", "capacity"]


class ExamConfiguration(_ConfigurationFields, Record):
    """Get Configuration Details and Update Configuration return this object."""

    sid: RequiredText
    exam: Any = None
    course: Any = None
    enrollment: Any = None
    instructor: Any = None
    updated_automated_sessions: Any = None

    def update_body(self, **changes: Any) -> dict[str, Any]:
        """A complete Update Configuration body from the current values (the PUT replaces everything), with
        `changes` (camelCase keys, e.g. `duration=90`) applied on top. Keys the request does not take are left out,
        and so are nulls where the request does not accept null."""
        raw = self.raw
        body: dict[str, Any] = {}
        for key in UPDATE_KEYS:
            value = raw.get("referenceExamConfigurationSid") if key == "refConfigSid" else raw.get(key)
            if key == "instructorAsProctor":
                value = [{k: item[k] for k in INSTRUCTOR_AS_PROCTOR_KEYS if item.get(k) is not None}
                         for item in (value or []) if isinstance(item, dict)]
            elif key == "attachments" and not (isinstance(value, list) and 1 <= len(value) <= 5):
                value = None
            elif key == "modalityOptions" and not isinstance(value, dict):
                value = None
            if value is None and key not in UPDATE_NULLABLE:
                continue
            body[key] = value
        body.update(changes)
        return body


# --- Create Exam ---------------------------------------------------------------------------------------------------
class CreatedExam(Record):
    """Create Exam's response; without a `sid` it is useless, so that one field is required."""

    sid: RequiredText
    session_status: str | None = None
    course_sid: str | None = None
    application_install_sid: str | None = None
    title: str | None = None
    b_virtual_title: str | None = None
    type: str | None = None
    description: str | None = None
    use_proctor_manager: bool | None = None
    require_approval: bool | None = None
    enable_appointment_suggestions: bool | None = None
    url: str | None = None
    status: str | None = None
    created_date: UtcDatetime = None
    edit_date: UtcDatetime = None
    contact_user_sid: str | None = None
    exam_delivery_system_module: str | None = None
    summary: Any = None
    pending_approvals: int | None = None
    open_session_events: int | None = None
    course: Any = None
    configuration: Any = None
    exam_session: Any = None
    instructor_name: str | None = None
    course_name: str | None = None
    total_sessions: int | None = None
    needs_proctor_sessions: int | None = None
    script_name: str | None = None
    system_name: str | None = None
    is_limited_scope: bool | None = None
    platform_version: str | None = None


# --- the list envelope ---------------------------------------------------------------------------------------------
class Envelope(BaseModel):
    """`total, first, next, prev, last, count, offset, results` (every field but results nullable)."""

    model_config = ConfigDict(extra="ignore")

    total: int | None = None
    first: str | None = None
    next: str | None = None
    prev: str | None = None
    last: str | None = None
    count: int | None = None
    offset: int | None = None
    results: list[Any]


__all__ = ["Appointment", "AppointmentCourse", "AppointmentEnrollment", "AppointmentExam",
           "AppointmentExamConfiguration", "CourseOffering", "CreatedExam", "Envelope", "ExamConfiguration",
           "ExamSession", "UPDATE_KEYS"]
