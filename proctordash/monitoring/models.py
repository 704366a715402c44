"""ProctorExam's cached exams, student sessions and incidents, and the bookkeeping of every sync run.

The live monitor reads the ProctorExam tables; the freshness banner and the health page read SyncRun and
UpstreamState.
"""

from __future__ import annotations

from django.db import models


class Upstream(models.TextChoices):
    SMARTERPROCTORING = "smarterproctoring", "SmarterProctoring"
    PROCTOREXAM = "proctorexam", "ProctorExam"


class ProctorExamExam(models.Model):
    id = models.BigIntegerField(primary_key=True)  # ProctorExam's own id
    name = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, blank=True, db_index=True)  # draft / open / closed
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    last_seen_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.name or str(self.id)


class StudentSession(models.Model):
    id = models.BigIntegerField(primary_key=True)  # ProctorExam's own id
    exam = models.ForeignKey(ProctorExamExam, on_delete=models.CASCADE, related_name="student_sessions", db_constraint=False)
    name = models.CharField(max_length=300, blank=True)
    email = models.CharField(max_length=300, blank=True, db_index=True)
    status = models.CharField(max_length=40, blank=True, db_index=True)
    webcam_check = models.CharField(max_length=30, blank=True)
    microphone_check = models.CharField(max_length=30, blank=True)
    speakers_check = models.CharField(max_length=30, blank=True)
    screenshare_check = models.CharField(max_length=30, blank=True)
    mobile_check = models.CharField(max_length=30, blank=True)
    bandwidth_check = models.CharField(max_length=30, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    entered_room = models.BooleanField(null=True)
    reviewed = models.CharField(max_length=30, blank=True)
    incident_count = models.IntegerField(default=0)
    upstream_updated_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    last_seen_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["exam", "status"], name="student_session_exam_status")]


class Incident(models.Model):
    id = models.BigIntegerField(primary_key=True)  # ProctorExam's own id
    student_session = models.ForeignKey(StudentSession, on_delete=models.CASCADE, related_name="incidents", db_constraint=False)
    comment = models.TextField(blank=True)
    offset_time = models.IntegerField(null=True, blank=True)  # seconds into the recording
    created_at = models.DateTimeField(null=True, blank=True, db_index=True)
    first_seen_at = models.DateTimeField(auto_now_add=True, db_index=True)
    raw = models.JSONField(default=dict)


class SyncRun(models.Model):
    class Kind(models.TextChoices):
        APPOINTMENTS_FULL = "appointments_full", "Appointments (full)"
        APPOINTMENTS_INCREMENTAL = "appointments_incremental", "Appointments (incremental)"
        SESSIONS = "sessions", "Enrollment exam sessions"
        PROCTOREXAM = "proctorexam", "ProctorExam sessions"

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued"  # requested, waiting for a worker
        RUNNING = "running", "Running"
        SUCCESS = "success", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"  # a run of the same kind was already running; see error_summary

    kind = models.CharField(max_length=40, choices=Kind.choices, db_index=True)
    upstream = models.CharField(max_length=30, choices=Upstream.choices)
    scope = models.CharField(max_length=200, blank=True)  # e.g. the enrollment/exam of a sessions refresh
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    pages = models.IntegerField(default=0)
    pages_total = models.IntegerField(null=True, blank=True)
    records_expected = models.IntegerField(null=True, blank=True)  # the `total` / X-Pagination-Item-Count announced
    records_seen = models.IntegerField(default=0)
    records_created = models.IntegerField(default=0)
    records_updated = models.IntegerField(default=0)
    records_removed = models.IntegerField(default=0)
    requests_made = models.IntegerField(default=0)  # upstream HTTP requests (pages) this run made
    error_summary = models.TextField(blank=True)
    notes = models.TextField(blank=True)  # e.g. why removal marking was skipped on an otherwise good pass
    task_id = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running run whose heartbeat stops was killed

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"


class UpstreamState(models.Model):
    """Per upstream: last fully successful refresh, last error, rate limiting, and the alert e-mail state."""

    upstream = models.CharField(max_length=30, choices=Upstream.choices, unique=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.IntegerField(default=0)
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    alert_open_since = models.DateTimeField(null=True, blank=True)  # an outage alert was e-mailed; cleared on recovery

    def __str__(self) -> str:
        return self.get_upstream_display()
