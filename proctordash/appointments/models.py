"""The local cache of SmarterProctoring appointments and enrollment exam sessions.

Pages read only these tables (never the upstream on the request path). The sync service fills them; every row keeps
the upstream's raw JSON beside the typed columns used for filtering and sorting. Columns named *_search hold
lowercased text so that a "contains" filter means exactly the same on SQLite, PostgreSQL and in the upstream
(the sandbox compares `value.lower() in field.lower()`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AppointmentQuerySet(models.QuerySet):
    def live(self):
        """Rows still present upstream (a complete sync pass has not marked them removed)."""
        return self.filter(removed_at__isnull=True)

    def for_user(self, user):
        from proctordash.accounts.permissions import ALL, visible_course_sids

        sids = visible_course_sids(user)
        if sids is ALL:
            return self
        return self.filter(course_sid__in=sids)


class Course(models.Model):
    """A course as last seen in the appointment report (for pickers that show titles, not SIDs)."""

    sid = models.CharField(max_length=34, unique=True)
    title = models.CharField(max_length=500, blank=True)
    code = models.CharField(max_length=200, blank=True)
    offering_sid = models.CharField(max_length=34, blank=True, db_index=True)
    offering_title = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["title", "sid"]

    def __str__(self) -> str:
        return self.title or self.sid


class CourseOffering(models.Model):
    """A course offering (a term's section of a course) as seen in the appointment report. A course has several;
    Course.offering_sid/offering_title name its latest (by start date) for pickers that show one line per course."""

    sid = models.CharField(max_length=34, unique=True)
    course_sid = models.CharField(max_length=34, db_index=True)
    title = models.CharField(max_length=500, blank=True)
    start_date = models.DateTimeField(null=True, blank=True)
    end_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["course_sid", "-start_date", "sid"]

    def __str__(self) -> str:
        return self.title or self.sid


class Exam(models.Model):
    """A SmarterProctoring exam as last seen in the appointment report (or created through the dashboard)."""

    sid = models.CharField(max_length=34, unique=True)
    course_sid = models.CharField(max_length=34, db_index=True)
    title = models.CharField(max_length=500, blank=True)
    type = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, blank=True)
    raw = models.JSONField(default=dict)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        ordering = ["title", "sid"]

    def __str__(self) -> str:
        return self.title or self.sid


class Appointment(models.Model):
    sid = models.CharField(max_length=34, unique=True)
    exam_sid = models.CharField(max_length=34, blank=True)
    enrollment_sid = models.CharField(max_length=34, blank=True, db_index=True)
    course_sid = models.CharField(max_length=34, blank=True)
    course_offering_sid = models.CharField(max_length=34, blank=True)
    configuration_sid = models.CharField(max_length=34, blank=True)

    status = models.CharField(max_length=30, blank=True)
    session_type = models.CharField(max_length=40, blank=True)  # the report's `type` filter
    review_status = models.CharField(max_length=20, blank=True)  # pending / complete / not-required
    exam_status = models.CharField(max_length=20, blank=True)

    appointment_date = models.DateTimeField(null=True, blank=True)
    review_by_date = models.DateTimeField(null=True, blank=True)
    review_completed_date = models.DateTimeField(null=True, blank=True)
    recording_start_date = models.DateTimeField(null=True, blank=True)
    session_report_count = models.IntegerField(null=True, blank=True)

    learner_sid = models.CharField(max_length=34, blank=True)
    learner_first_name = models.CharField(max_length=300, blank=True)
    learner_last_name = models.CharField(max_length=300, blank=True)
    learner_email = models.CharField(max_length=300, blank=True)
    course_title = models.CharField(max_length=500, blank=True)
    exam_title = models.CharField(max_length=500, blank=True)

    # lowercased copies for case-insensitive "contains" filters, identical on every database
    learner_first_name_search = models.CharField(max_length=300, blank=True)
    learner_last_name_search = models.CharField(max_length=300, blank=True)
    learner_email_search = models.CharField(max_length=300, blank=True)
    learner_sid_search = models.CharField(max_length=300, blank=True)
    course_title_search = models.CharField(max_length=500, blank=True)
    exam_title_search = models.CharField(max_length=500, blank=True)
    search_text = models.TextField(blank=True)  # the `q` box: learner name and e-mail, course and exam title

    raw = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)  # of the raw JSON: an unchanged record is not rewritten
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        # Every index is paid for on every write of the sync (100,000 rows per full pass): only those the pages'
        # filters and sorts use are kept. Each composite leads with what a page filters on and ends with its sort,
        # and its leading column serves the same filter alone. The *_search columns and search_text are read with
        # `contains` (LIKE '%…%'), which no btree index serves; low-cardinality filters (type, examStatus) are
        # cheaper scanned than looked up. Migration 0004 took the table from 22 indexes to 10 (with sid's unique
        # one and enrollment_sid's, which the exams screens' per-student configurations read): it dropped 11
        # single-column ones (status, session_type, review_status, exam_status, appointment_date, review_by_date,
        # learner_sid, removed_at, exam_sid, course_sid, course_offering_sid; each the leading column of a
        # composite below, or not worth an index) and the course title / exam title / e-mail sort indexes.
        indexes = [
            # the list's date sorts (from today on, past, every date) and date filters over live rows, in the list's
            # order (date, sid); the monitor; the incremental window. Partial: `removed_at IS NULL` is the predicate
            # every such query carries (a leading `removed_at` column, as before migration 0008, gave PostgreSQL no
            # date order: IS NULL is not an equality, so every date-sorted page sorted all the rows)
            models.Index(fields=["appointment_date", "sid"], condition=Q(removed_at__isnull=True),
                         name="appt_live_date_sid"),
            # an instructor's courses (every page of theirs) and the courseSid filter
            models.Index(fields=["course_sid", "appointment_date"], name="appt_course_date"),
            # the status filter and the monitor's active statuses
            models.Index(fields=["status", "appointment_date"], name="appt_status_date"),
            # the review queue and the reviewStatus filter, by review-by date
            models.Index(fields=["review_status", "review_by_date"], name="appt_review_queue"),
            # the examSid filter, the exams screens, the incremental pass's re-check by exam and learner
            models.Index(fields=["exam_sid", "appointment_date"], name="appt_exam_date"),
            # the courseOfferingSid filter
            models.Index(fields=["course_offering_sid", "appointment_date"], name="appt_offering_date"),
            # the learner sort and the learner look-up's order
            models.Index(fields=["learner_last_name", "learner_first_name"], name="appt_learner_name"),
            # the undated appointments (no date yet: Needs Proctor) in the list's order, after the dated ones: the last
            # pages of a list that keeps them; ~2 % of the rows, so cheap to keep
            models.Index(fields=["sid"], condition=Q(appointment_date__isnull=True, removed_at__isnull=True),
                         name="appt_undated_sid"),
            # the learnerSid filter given a whole SID (selectors.appointment_filter: then exactly `= value`)
            models.Index(fields=["learner_sid_search"], name="appt_learner_sid_search"),
            # Not listed here, PostgreSQL only (migration 0009): appt_search_trgm, a pg_trgm GIN index on search_text
            # for the `q` box and, through it, the learner name / e-mail / course title / exam title filters.
            # the list's enum filters + date (sort, range, chart day) + liveness: the aggregate for the count,
            # per-status counts and chart is an index-only scan (docs/appointments-indexes.md; owner: appointments
            # screens)
            models.Index(fields=["status", "review_status", "session_type", "appointment_date", "removed_at"],
                         name="appt_enum_date"),
        ]

    def __str__(self) -> str:
        return self.sid

    @property
    def learner_name(self) -> str:
        return " ".join(part for part in (self.learner_first_name, self.learner_last_name) if part)


class AppointmentDayCount(models.Model):
    """How many live appointments fall on one local day (DASHBOARD_TIME_ZONE) with one status, in total (`dim`
    "all") and per value of each filter the list offers as a picker (`dim` "course", "exam", "offering", "type",
    "review", "exam_status"). The list reads its total, per-status counts and chart from here instead of counting
    every matching row (appointments/counts.py); the sync keeps it exact as it writes (appointments/mapping.py).
    Appointments without a date are counted on UNDATED (0001-01-01). Only non-zero rows are kept."""

    pk = models.CompositePrimaryKey("dim", "value", "day", "status")
    dim = models.CharField(max_length=12)
    value = models.CharField(max_length=64, blank=True)
    day = models.DateField()
    status = models.CharField(max_length=30, blank=True)
    n = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.dim}={self.value} {self.day} {self.status}: {self.n}"


class AppointmentCountsState(models.Model):
    """One row (id 1): the time zone AppointmentDayCount's days are in. Writers of the counts lock it; the list
    trusts the counts only while `zone` is the dashboard's zone (after a change of DASHBOARD_TIME_ZONE the counts are
    rebuilt by the next `migrate`, the next page the sync writes, or `manage.py appointment_counts --rebuild`)."""

    zone = models.CharField(max_length=64)
    rebuilt_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"counts in {self.zone} (rebuilt {self.rebuilt_at:%Y-%m-%d %H:%M})"


class EnrollmentExamSession(models.Model):
    """One exam session of an enrollment for an exam (List enrollment exam sessions)."""

    sid = models.CharField(max_length=34, unique=True)
    enrollment_sid = models.CharField(max_length=34)
    exam_sid = models.CharField(max_length=34)
    course_sid = models.CharField(max_length=34, blank=True, db_index=True)
    status = models.CharField(max_length=30, blank=True)
    session_type = models.CharField(max_length=40, blank=True)
    appointment_date = models.DateTimeField(null=True, blank=True)
    created_date = models.DateTimeField(null=True, blank=True)
    edit_date = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    last_seen_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["enrollment_sid", "exam_sid"], name="session_enrollment_exam")]


class SavedView(models.Model):
    """A named appointment filter (its query string), private or shared with colleagues."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    name = models.CharField(max_length=100)
    query_string = models.CharField(max_length=2000, blank=True)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="unique_saved_view_name")]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def visible_to(user):
        return SavedView.objects.filter(Q(owner=user) | Q(shared=True))
