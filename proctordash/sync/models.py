"""The bookkeeping of every sync run: SyncRun (one refresh, its progress and outcome) and UpstreamState (per upstream:
last good refresh, last error, rate limiting, alert state). The freshness line, the health page and the alerts read
them; only the sync engine writes them (proctordash/sync/engine.py).

The tables were created by the monitoring app; migration sync/0001 takes the models over without touching the data
(SeparateDatabaseAndState), so their table names stay monitoring_*.
"""

from __future__ import annotations

from django.db import models


class Upstream(models.TextChoices):
    SMARTERPROCTORING = "smarterproctoring", "SmarterProctoring"
    PROCTOREXAM = "proctorexam", "ProctorExam"



class SyncRun(models.Model):
    """One refresh of an upstream (or of one enrollment's sessions): what the health page and the freshness line show."""

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
        # its worker died mid-run (SIGKILL, out of memory, hard time limit): found by the sweep (engine.py)
        ABANDONED = "abandoned", "Abandoned"

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
    # malformed records left out (the rest of the pass commits), and the first one's error (fields named, no values)
    records_skipped = models.IntegerField(default=0)
    skipped_first_error = models.TextField(blank=True)
    error_summary = models.TextField(blank=True)
    notes = models.TextField(blank=True)  # e.g. why removal marking was skipped on an otherwise good pass
    task_id = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # a running run whose heartbeat stops was killed

    class Meta:
        db_table = "monitoring_syncrun"  # created by the monitoring app before the sync app existed; data kept
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
    # the refresh of this upstream in flight (full/incremental appointments, ProctorExam; not a sessions refresh):
    # set when it starts, cleared when it ends or the sweep abandons it. The freshness line reads it from this row
    # (no extra query on every page) to say "refreshing for N min" and when a refresh is past its time limit.
    running_since = models.DateTimeField(null=True, blank=True)
    running_run_id = models.IntegerField(null=True, blank=True)

    class Meta:
        db_table = "monitoring_upstreamstate"  # created by the monitoring app before the sync app existed; data kept

    def __str__(self) -> str:
        return self.get_upstream_display()
