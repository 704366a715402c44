"""ProctorExam's cached exams, student sessions and incidents: what the live monitor reads.

The bookkeeping of sync runs (SyncRun, UpstreamState) lives in proctordash.sync.models; the rows here are written by
the sync engine through proctordash/monitoring/mapping.py.
"""

from __future__ import annotations

from django.db import models


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
    # The learner's booked slot (upstream reservation_time): the monitor's "starting within the hour" reads it in SQL.
    reservation_time = models.DateTimeField(null=True, blank=True)
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
