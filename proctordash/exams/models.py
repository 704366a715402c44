"""Exam configurations as last fetched, their change history, and exam creations in flight.

Nothing here holds a password in clear: the cached configuration keeps a digest in its place (enough to detect that it
changed), and the history shows a mask.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class ForUserQuerySet(models.QuerySet):
    def for_user(self, user):
        from proctordash.accounts.permissions import ALL, visible_course_sids

        sids = visible_course_sids(user)
        if sids is ALL:
            return self
        return self.filter(course_sid__in=sids)


class CachedConfiguration(models.Model):
    """The last configuration fetched from (or saved to) SmarterProctoring; the fallback when it is down and the
    reference against which changes made outside ProctorDash are detected."""

    sid = models.CharField(max_length=34, unique=True)
    exam_sid = models.CharField(max_length=34, db_index=True)
    course_sid = models.CharField(max_length=34, db_index=True)
    enrollment_sid = models.CharField(max_length=34, blank=True, db_index=True)
    reference_sid = models.CharField(max_length=34, blank=True)  # the base configuration of a per-student one
    raw = models.JSONField(default=dict)  # upstream JSON, password replaced by its digest
    values_hash = models.CharField(max_length=64)  # fields.values_hash of the editable values
    fetched_at = models.DateTimeField()

    objects = ForUserQuerySet.as_manager()

    class Meta:
        ordering = ["exam_sid", "enrollment_sid", "sid"]

    def __str__(self) -> str:
        return self.sid

    @property
    def is_per_student(self) -> bool:
        return bool(self.enrollment_sid)


class ConfigurationChange(models.Model):
    """One change of a configuration: saved here, or noticed as made outside ProctorDash."""

    class Source(models.TextChoices):
        DASHBOARD = "dashboard", "ProctorDash"
        OUTSIDE = "outside", "Changed outside ProctorDash"
        CREATED = "created", "Created in ProctorDash"
        BULK = "bulk", "Bulk change in ProctorDash"

    configuration_sid = models.CharField(max_length=34, db_index=True)
    exam_sid = models.CharField(max_length=34, db_index=True)
    course_sid = models.CharField(max_length=34, db_index=True)
    enrollment_sid = models.CharField(max_length=34, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="configuration_changes")
    # the bulk change that made it (source "bulk"): the history links to it
    bulk = models.ForeignKey("BulkChange", null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="history")
    source = models.CharField(max_length=20, choices=Source.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    diff = models.JSONField(default=list)  # [{key, label, old, new}] display texts; passwords masked
    reason = models.CharField(max_length=500, blank=True)
    # changes made outside ProctorDash: when support was e-mailed about it (exams/drift.py, once per change)
    notified_at = models.DateTimeField(null=True, blank=True)

    objects = ForUserQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.configuration_sid} {self.source} {self.created_at:%Y-%m-%d %H:%M}"


class ExamCreation(models.Model):
    """A Create Exam request, kept under its idempotency key so a double submit or a browser retry sends one POST.

    State machine: new → sending → created | failed (upstream said no, or the request never left) | unknown (the
    answer was lost: the exam may exist). Only new and failed may be claimed for sending, by a conditional UPDATE.
    """

    class Status(models.TextChoices):
        NEW = "new", "Not sent yet"
        SENDING = "sending", "Being sent"
        CREATED = "created", "Created"
        FAILED = "failed", "Not created"
        UNKNOWN = "unknown", "Outcome unknown"

    key = models.UUIDField(default=uuid.uuid4, unique=True)
    course_sid = models.CharField(max_length=34, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="exam_creations")
    title = models.CharField(max_length=500)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    exam_sid = models.CharField(max_length=34, blank=True)
    configuration_sid = models.CharField(max_length=34, blank=True)
    error = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = ForUserQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    @property
    def api_exam_id(self) -> str:
        """The marker carried in the new exam's configuration (apiExamId) so the exam can be recognised later."""
        return f"proctordash:{self.key}"


class BulkChange(models.Model):
    """One change (e.g. allow a calculator, extend the close date) a coordinator applies to several configurations.

    Each configuration is a BulkChangeItem with its own outcome, so a failure on one is retried alone. The change
    itself is stored as data (`change`: {"kind": …, parameters}), never as a form, so a retry applies exactly what was
    previewed.

    The work (previews, then saves) is done by a Celery job (exams/bulk.py `bulk_run`, task
    `exams.tasks.run_bulk_change_task`); the database is its queue: items waiting for a preview are "queued", items
    the user asked to apply are `wanted`. One worker at a time holds the job (`runner` + `heartbeat_at`, a lease
    taken by a conditional UPDATE); a lease whose heartbeat stopped (the worker was killed) is taken over."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="bulk_changes")
    change = models.JSONField(default=dict)
    description = models.CharField(max_length=500)
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)  # first "Apply" (None while only previewed)
    runner = models.CharField(max_length=64, blank=True)  # token of the worker holding the job, "" when none does
    heartbeat_at = models.DateTimeField(null=True, blank=True)  # the holder's last sign of life
    enqueued_at = models.DateTimeField(null=True, blank=True)  # last time a task was sent for this job
    round_total = models.PositiveIntegerField(default=0)  # items in the current round of work (the progress bar)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.description


class BulkChangeItem(models.Model):
    """One configuration of a bulk change.

    States: queued (waiting for its preview) → previewing → pending (previewed; nothing sent) | unchanged | locked |
    failed (no preview). Asked to apply (`wanted`): pending/failed/confirm/cancelled → sending (claimed by a
    conditional UPDATE, so two workers or two clicks never send twice) → saved | unchanged | conflict | locked |
    confirm (open now or opening within 24 h, not confirmed) | failed. A cancel turns what was not sent yet into
    cancelled. For people these group into four states (`state`): pending, changed, failed, skipped."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for its preview"
        PREVIEWING = "previewing", "Being previewed"
        PENDING = "pending", "Not applied yet"
        SENDING = "sending", "Being applied"
        SAVED = "saved", "Changed"
        UNCHANGED = "unchanged", "Skipped: already so, nothing to send"
        CONFLICT = "conflict", "Skipped: changed in SmarterProctoring since the preview"
        LOCKED = "locked", "Skipped: locked in SmarterProctoring"
        CONFIRM = "confirm", "Skipped: needs your confirmation"
        CANCELLED = "cancelled", "Skipped: cancelled before it was sent"
        FAILED = "failed", "Failed"

    class Guard(models.TextChoices):
        NONE = "", "No guard"
        OPEN = "open", "The exam is open now"
        SOON = "soon", "The exam opens within 24 hours"
        LOCKED = "locked", "The configuration is locked"

    STATE = {  # status → what people read: pending, changed, failed, skipped
        "queued": "pending", "previewing": "pending", "pending": "pending", "sending": "pending",
        "saved": "changed", "failed": "failed", "unchanged": "skipped", "conflict": "skipped", "locked": "skipped",
        "confirm": "skipped", "cancelled": "skipped",
    }

    bulk = models.ForeignKey(BulkChange, on_delete=models.CASCADE, related_name="items")
    course_sid = models.CharField(max_length=34)
    exam_sid = models.CharField(max_length=34)
    configuration_sid = models.CharField(max_length=34)
    exam_title = models.CharField(max_length=500, blank=True)
    course_title = models.CharField(max_length=500, blank=True)  # the label read in the picker (told apart)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    message = models.CharField(max_length=1000, blank=True)
    base_values = models.JSONField(default=dict)  # fields.values_of at preview (password as a digest)
    base_hash = models.CharField(max_length=64, blank=True)
    diff = models.JSONField(default=list)  # fields.diff_rows(before, after): display texts, passwords masked
    preview_live = models.BooleanField(default=True)  # False: previewed from the cached copy (upstream was down)
    guard = models.CharField(max_length=10, choices=Guard.choices, blank=True, default="")
    confirmed = models.BooleanField(default=False)  # the user confirmed changing it although open / opening soon
    wanted = models.BooleanField(default=False)  # the user asked to apply it and it has not been tried since
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")  # who asked to apply it (the history names them)
    changed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = ForUserQuerySet.as_manager()

    class Meta:
        ordering = ["course_title", "course_sid", "exam_title", "configuration_sid"]
        constraints = [models.UniqueConstraint(fields=["bulk", "configuration_sid"], name="bulk_item_once")]

    def __str__(self) -> str:
        return f"{self.configuration_sid} {self.status}"

    @property
    def state(self) -> str:
        return self.STATE.get(self.status, "pending")

    @property
    def previewed(self) -> bool:
        return bool(self.base_hash)

    @property
    def appliable(self) -> bool:
        """May be asked to apply: previewed and not done, not skipped for a reason a retry cannot change."""
        return self.previewed and self.status in (self.Status.PENDING, self.Status.FAILED, self.Status.CONFIRM,
                                                  self.Status.CANCELLED)

    @property
    def needs_confirmation(self) -> bool:
        return self.guard in (self.Guard.OPEN, self.Guard.SOON)


class ConfigurationSave(models.Model):
    """A configuration save that did not finish within the web request's upstream budget (the upstream was slow):
    a Celery job (exams.tasks.finish_configuration_save_task) completes or verifies it, and the page follows it.

    Holds no password: `changes` carries a changed password as its digest only, so the job can recognise that the
    upstream holds it but cannot send it again (it then asks the person to save again). States: queued → running →
    saved | unchanged | conflict | locked | confirm | invalid | failed | not_applied | unknown; queued/running are
    claimed by conditional UPDATEs (a running claim older than a few minutes belonged to a worker that died)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting for the background worker"
        RUNNING = "running", "Being completed in the background"
        SAVED = "saved", "Saved"
        UNCHANGED = "unchanged", "No changes"
        CONFLICT = "conflict", "Changed by someone else meanwhile"
        LOCKED = "locked", "Locked upstream"
        CONFIRM = "confirm", "Needs your confirmation"
        INVALID = "invalid", "Refused by SmarterProctoring"
        FAILED = "failed", "Not saved"
        NOT_APPLIED = "not_applied", "Did not reach SmarterProctoring"
        UNKNOWN = "unknown", "Outcome unknown"

    PENDING = (Status.QUEUED, Status.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)  # in URLs: not guessable
    course_sid = models.CharField(max_length=34, db_index=True)
    exam_sid = models.CharField(max_length=34)
    configuration_sid = models.CharField(max_length=34, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                             related_name="configuration_saves")
    base_values = models.JSONField(default=dict)  # fields.values_of the form was opened with (password digest)
    base_hash = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict)  # {key: new value}; a password only as its digest
    reason = models.CharField(max_length=500, blank=True)
    confirmed = models.BooleanField(default=False)
    sent = models.BooleanField(default=False)  # the PUT may have reached the upstream in the web request
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    message = models.CharField(max_length=1000, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    change = models.ForeignKey(ConfigurationChange, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ForUserQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.configuration_sid} {self.status}"

    @property
    def pending(self) -> bool:
        return self.status in self.PENDING
