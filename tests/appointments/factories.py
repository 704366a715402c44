"""factory_boy factories for the appointment cache rows, shaped like what the sync service writes: typed columns
derived from one upstream-style `raw` record, lowercased *_search columns and the `q` search text."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta, timezone as dt_timezone

import factory
from django.utils import timezone

from proctordash.appointments.models import Appointment, Course, CourseOffering, EnrollmentExamSession, Exam, SavedView
from tests.conftest import COURSE_A


def sid(prefix: str, n: int) -> str:
    return prefix + hashlib.md5(f"{prefix}{n}".encode()).hexdigest()


def review_status_of(required: bool | None, completed) -> str:
    if required is not True:
        return "not-required"
    return "complete" if completed else "pending"


def to_z(value):
    return None if value is None else value.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class CourseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Course
        django_get_or_create = ("sid",)

    sid = factory.Sequence(lambda n: sid("CU", n))
    title = factory.Sequence(lambda n: f"Course {n}")
    code = factory.Sequence(lambda n: f"C{n:03d}")
    offering_sid = factory.Sequence(lambda n: sid("CO", n))
    offering_title = factory.Sequence(lambda n: f"Spring {n}")


class CourseOfferingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CourseOffering
        django_get_or_create = ("sid",)

    sid = factory.Sequence(lambda n: sid("CO", n))
    course_sid = COURSE_A
    title = factory.Sequence(lambda n: f"Term {n}")


class ExamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Exam
        django_get_or_create = ("sid",)

    sid = factory.Sequence(lambda n: sid("EX", n))
    course_sid = COURSE_A
    title = factory.Sequence(lambda n: f"Exam {n}")
    type = "Online"
    status = "active"


class AppointmentFactory(factory.django.DjangoModelFactory):
    """AppointmentFactory(learner_first_name="Ada", course_sid=COURSE_A, ...). The search columns and `raw` follow
    the typed values (pass `raw=` to override)."""

    class Meta:
        model = Appointment

    sid = factory.Sequence(lambda n: sid("AP", n))
    exam_sid = factory.Sequence(lambda n: sid("EX", n % 5))
    enrollment_sid = factory.Sequence(lambda n: sid("EN", n))
    course_sid = COURSE_A
    course_offering_sid = factory.LazyAttribute(lambda o: "CO" + o.course_sid[2:])
    configuration_sid = factory.Sequence(lambda n: sid("EC", n))
    status = "Scheduled"
    session_type = "proctoru"
    review_status = "not-required"
    exam_status = "active"
    appointment_date = factory.Sequence(lambda n: timezone.now().replace(microsecond=0) + timedelta(hours=n))
    review_by_date = None
    review_completed_date = None
    session_report_count = 0
    learner_sid = factory.Sequence(lambda n: sid("US", n))
    learner_first_name = factory.Sequence(lambda n: f"First{n}")
    learner_last_name = factory.Sequence(lambda n: f"Last{n}")
    learner_email = factory.LazyAttribute(lambda o: f"{o.learner_first_name}.{o.learner_last_name}@example.edu".lower())
    course_title = "Biology 101"
    exam_title = "Midterm"

    learner_first_name_search = factory.LazyAttribute(lambda o: o.learner_first_name.lower())
    learner_last_name_search = factory.LazyAttribute(lambda o: o.learner_last_name.lower())
    learner_email_search = factory.LazyAttribute(lambda o: o.learner_email.lower())
    learner_sid_search = factory.LazyAttribute(lambda o: o.learner_sid.lower())
    course_title_search = factory.LazyAttribute(lambda o: o.course_title.lower())
    exam_title_search = factory.LazyAttribute(lambda o: o.exam_title.lower())
    search_text = factory.LazyAttribute(lambda o: "\n".join(  # as services.appointment_row writes it
        [f"{o.learner_first_name} {o.learner_last_name}".strip(), o.learner_email, o.course_title, o.exam_title]).lower())

    raw = factory.LazyAttribute(lambda o: {
        "sid": o.sid, "examSid": o.exam_sid, "enrollmentSid": o.enrollment_sid, "status": o.status,
        "sessionType": o.session_type, "appointmentDate": to_z(o.appointment_date),
        "reviewByDate": to_z(o.review_by_date), "reviewCompletedDate": to_z(o.review_completed_date),
        "reviewRequired": o.review_status != "not-required", "sessionReportCount": o.session_report_count,
        "exam": {"sid": o.exam_sid, "courseSid": o.course_sid, "title": o.exam_title, "type": "Online",
                 "status": o.exam_status, "instructorName": "Dr. Instructor"},
        "enrollment": {"userSid": o.learner_sid, "enrollmentSid": o.enrollment_sid, "courseSid": o.course_sid,
                       "role": "student", "firstName": o.learner_first_name, "lastName": o.learner_last_name,
                       "email": o.learner_email},
        "course": {"sid": o.course_sid, "title": o.course_title, "code": "BIO101",
                   "offering": {"sid": o.course_offering_sid, "title": "Spring term"}},
        "examConfiguration": {
            "sid": o.configuration_sid, "examSid": o.exam_sid, "enrollmentSid": None,
            "examOpenDate": "2026-01-01T14:00:00.000Z", "examCloseDate": "2026-06-30T23:00:00.000Z",
            "scheduleOpenDate": "2025-12-01T14:00:00.000Z", "scheduleCloseDate": "2026-06-29T23:00:00.000Z",
            "duration": 90, "attempts": 1, "password": "s3cret-exam-password",
            "permittedCalculator": True, "permittedCalculatorInformation": "Non-graphing only",
            "permittedNotes": False, "permittedBlankPaper": True, "permittedOtherItems": "",
        },
    })
    content_hash = factory.LazyAttribute(lambda o: hashlib.sha256(json.dumps(o.raw, sort_keys=True).encode()).hexdigest())
    last_seen_at = factory.LazyFunction(timezone.now)


class EnrollmentExamSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EnrollmentExamSession

    sid = factory.Sequence(lambda n: sid("ES", n))
    enrollment_sid = factory.Sequence(lambda n: sid("EN", n))
    exam_sid = factory.Sequence(lambda n: sid("EX", n))
    course_sid = COURSE_A
    status = "Scheduled"
    session_type = "proctoru"
    appointment_date = factory.LazyFunction(timezone.now)
    created_date = factory.LazyFunction(timezone.now)
    raw = factory.LazyAttribute(lambda o: {"sid": o.sid, "status": o.status})
    content_hash = "x"
    last_seen_at = factory.LazyFunction(timezone.now)


class SavedViewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedView

    name = factory.Sequence(lambda n: f"View {n}")
    query_string = "status=Scheduled"
    shared = False
