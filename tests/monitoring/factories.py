"""factory_boy factories for the cache rows the monitoring screens read."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import factory
from django.utils import timezone

from proctordash.appointments.models import Appointment
from proctordash.monitoring.models import Incident, ProctorExamExam, StudentSession
from proctordash.sync.models import SyncRun, UpstreamState


def _hash(obj) -> str:
    return hashlib.sha256(repr(obj).encode()).hexdigest()


class ProctorExamExamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProctorExamExam

    id = factory.Sequence(lambda n: 1000 + n)
    name = factory.Sequence(lambda n: f"Exam {n:03d}")
    status = "open"
    start_time = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    end_time = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=3))
    raw = factory.LazyAttribute(lambda o: {"id": o.id, "name": o.name, "duration": 60})
    content_hash = factory.LazyAttribute(lambda o: _hash(o.raw))
    last_seen_at = factory.LazyFunction(timezone.now)


class StudentSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StudentSession

    id = factory.Sequence(lambda n: 50000 + n)
    exam = factory.SubFactory(ProctorExamExamFactory)
    name = factory.Sequence(lambda n: f"Learner {n:04d}")
    email = factory.LazyAttribute(lambda o: f"{o.name.lower().replace(' ', '.')}@example.edu")
    status = "exam_started"
    webcam_check = "passed"
    microphone_check = "passed"
    speakers_check = "passed"
    screenshare_check = "passed"
    mobile_check = "passed"
    bandwidth_check = "passed"
    start_time = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=20))
    end_time = None
    entered_room = True
    reviewed = ""
    incident_count = 0
    upstream_updated_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=20))
    raw = factory.LazyAttribute(lambda o: {"id": o.id, "status": o.status, "name": o.name})
    content_hash = factory.LazyAttribute(lambda o: _hash((o.raw, o.status, o.incident_count)))
    last_seen_at = factory.LazyFunction(timezone.now)


class IncidentFactory(factory.django.DjangoModelFactory):
    """Pass first_seen_at to backdate when the dashboard first saw it (the column is auto_now_add)."""

    class Meta:
        model = Incident

    id = factory.Sequence(lambda n: 900000 + n)
    student_session = factory.SubFactory(StudentSessionFactory)
    comment = factory.Sequence(lambda n: f"Looked away from the screen ({n})")
    offset_time = 125
    created_at = factory.LazyFunction(timezone.now)
    raw = factory.LazyAttribute(lambda o: {"id": o.id, "comment": o.comment})

    @classmethod
    def _create(cls, model_class, *args, first_seen_at=None, **kwargs):
        obj = super()._create(model_class, *args, **kwargs)
        if first_seen_at is not None:
            model_class.objects.filter(pk=obj.pk).update(first_seen_at=first_seen_at)
            obj.first_seen_at = first_seen_at
        return obj


def _sid(prefix: str, n: int) -> str:
    return prefix + hashlib.md5(f"{prefix}{n}".encode()).hexdigest()


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    sid = factory.Sequence(lambda n: _sid("ES", n))
    exam_sid = factory.Sequence(lambda n: _sid("EX", n % 5))
    enrollment_sid = factory.Sequence(lambda n: _sid("EN", n))
    course_sid = "CU" + "a" * 32
    status = "Scheduled"
    session_type = "b-virtual"
    review_status = "not-required"
    exam_status = "active"
    appointment_date = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=30))
    recording_start_date = None
    learner_sid = factory.Sequence(lambda n: _sid("US", n))
    learner_first_name = factory.Sequence(lambda n: f"Ada{n}")
    learner_last_name = "Lovelace"
    learner_email = factory.Sequence(lambda n: f"ada{n}@example.edu")
    course_title = "Analytical Engines 101"
    exam_title = factory.Sequence(lambda n: f"Midterm {n % 5}")
    raw = factory.LazyAttribute(lambda o: {"sid": o.sid, "examConfiguration": {"duration": 90}})
    content_hash = factory.LazyAttribute(lambda o: _hash((o.raw, o.status)))
    last_seen_at = factory.LazyFunction(timezone.now)


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    kind = SyncRun.Kind.PROCTOREXAM
    upstream = "proctorexam"
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=1))
    finished_at = factory.LazyFunction(timezone.now)
    outcome = SyncRun.Outcome.SUCCESS
    pages = 3
    pages_total = 3
    records_expected = 700
    records_seen = 700


class UpstreamStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UpstreamState
        django_get_or_create = ("upstream",)

    upstream = "proctorexam"
    last_success_at = factory.LazyFunction(timezone.now)
